"""The weekly digest message (its chart is uploaded just before it, see bot.reminders.digest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.core.dates import format_date
from bot.followups.blocks import Blocks, context_block, text_block
from bot.slack.mrkdwn import escape_text
from storage.models import PostmortemStatus

if TYPE_CHECKING:
    from bot.reminders.digest import Digest

MAX_KEYS = 8  # per owner; the rest are counted
MAX_OWNERS = 30  # one line each, in one section (3,000 characters)


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _private(count: int) -> str:
    return f", and {count} in private incidents" if count else ""


def digest_message(digest: Digest) -> tuple[str, Blocks]:
    """Fallback text and blocks: overdue follow-ups by owner, postmortems by status."""
    overdue = digest.overdue_total  # private incidents only appear as "and N in private"
    statuses = digest.postmortems_by_status
    open_postmortems = statuses[PostmortemStatus.DRAFT] + statuses[PostmortemStatus.IN_REVIEW]
    text = (
        f"Weekly digest: {overdue} overdue follow-up{_s(overdue)}, "
        f"{open_postmortems} postmortem{_s(open_postmortems)} not completed"
    )
    blocks: Blocks = [
        text_block(f":bar_chart: *Weekly digest* · {format_date(digest.now.date())}"),
        text_block(_overdue_section(digest)),
        text_block(_postmortem_section(digest)),
    ]
    if digest.weeks:
        last = digest.weeks[-1]
        blocks.append(
            context_block(
                f"Follow-ups this week: {last.open} open, {last.closed} closed. "
                "The chart above shows the last 8 weeks (private incidents left out)."
            )
        )
    return text, blocks


def _overdue_section(digest: Digest) -> str:
    if not digest.overdue_by_owner:
        head = "*Overdue follow-ups*: none"
        return head + (
            f" ({digest.overdue_private} in private incidents)" if digest.overdue_private else ""
        )
    lines = [f"*Overdue follow-ups*: {digest.overdue_total}{_private(digest.overdue_private)}"]
    owners = list(digest.overdue_by_owner.items())
    for owner, keys in owners[:MAX_OWNERS]:
        # Names, not mentions: a weekly list in a shared channel must not ping anyone.
        who = escape_text(digest.owner_names.get(owner, owner)) if owner else "unassigned"
        shown = ", ".join(keys[:MAX_KEYS]) + (
            f" and {len(keys) - MAX_KEYS} more" if len(keys) > MAX_KEYS else ""
        )
        lines.append(f"• {who}: {len(keys)} ({shown})")
    if len(owners) > MAX_OWNERS:
        lines.append(f"• and {len(owners) - MAX_OWNERS} more owners")
    return "\n".join(lines)


def _postmortem_section(digest: Digest) -> str:
    counts = " · ".join(
        f"{status.label}: {count}" for status, count in digest.postmortems_by_status.items()
    )
    return f"*Postmortems by status*: {counts}{_private(digest.postmortems_private)}"
