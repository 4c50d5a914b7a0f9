"""The App Home tab: "Your follow-ups" and "Your postmortems", within Slack's 100 blocks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.dates import local_today
from bot.followups.blocks import context_block, followup_line, plain, text_block
from bot.slack.mrkdwn import safe_mrkdwn
from storage.models import FollowUp

MAX_BLOCKS = 100  # Slack's limit for a Home tab view
MAX_POSTMORTEMS = 15
HOME_DONE_ACTION = "followup_home_done"
HOME_SNOOZE_ACTION = "followup_home_snooze"
HOME_OPEN_ACTION = "followup_home_open"


@dataclass(frozen=True)
class PostmortemSummary:
    """What Home shows of a postmortem someone owns (supplied by the postmortem feature)."""

    incident_key: str  # "INC-42"
    title: str  # as Slack delivered it
    status: str  # "draft", "in review", "completed"
    url: str | None = None


def home_view(
    followups: Sequence[FollowUp],
    postmortems: Sequence[PostmortemSummary],
    now: datetime,
    *,
    tz_name: str | None = None,
    total: int | None = None,
    notice: str | None = None,
    hidden: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """The Home view for one user.

    `followups` are the open ones they own (`total` of them in all, when more were fetched than
    shown); overdue first, then by due date, snoozed ones last. Lists too long for the view end
    with "and N more".
    """
    today = local_today(now, tz_name)
    total = len(followups) if total is None else total
    blocks: list[dict[str, Any]] = []
    if notice:
        blocks.append(context_block(f":information_source: {notice}"))
    blocks.append({"type": "header", "text": plain("Your follow-ups")})
    pm_blocks = _postmortem_blocks(postmortems)
    # Fixed blocks: the follow-ups header, its context, "and N more", a divider; then postmortems.
    room = MAX_BLOCKS - len(blocks) - 3 - len(pm_blocks)
    awake = [f for f in followups if not _snoozed(f, now)]
    asleep = [f for f in followups if _snoozed(f, now)]
    ordered = sorted(awake, key=_order) + sorted(asleep, key=_order)
    shown = ordered[: max(room, 0) // 2]
    if not ordered:
        blocks.append(text_block("Nothing assigned to you. :tada:"))
    else:
        overdue = sum(1 for f in ordered if f.due_date < today)
        summary = f"{total} open" + (f", {overdue} overdue" if overdue else "")
        blocks.append(context_block(f"{summary} · overdue first, then by due date"))
    for followup in shown:
        line = followup_line(followup, today=today, hidden=followup.incident_id in hidden)
        if _snoozed(followup, now) and followup.snoozed_until is not None:
            line += f" · :zzz: snoozed until {followup.snoozed_until:%b %d %H:%M} UTC"
        blocks.append(text_block(line))
        blocks.append(
            {"type": "actions", "block_id": f"home:{followup.id}", "elements": _buttons(followup)}
        )
    if total > len(shown):
        blocks.append(
            context_block(
                f"…and {total - len(shown)} more. `/followup list mine` lists them by due date."
            )
        )
    blocks.append({"type": "divider"})
    blocks.extend(pm_blocks)
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def _order(followup: FollowUp) -> tuple[Any, ...]:
    return (followup.due_date, followup.incident_id, followup.number)


def _snoozed(followup: FollowUp, now: datetime) -> bool:
    return followup.snoozed_until is not None and followup.snoozed_until > now


def _buttons(followup: FollowUp) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": HOME_DONE_ACTION,
            "text": plain("Done"),
            "style": "primary",
            "value": str(followup.id),
        },
        {
            "type": "button",
            "action_id": HOME_SNOOZE_ACTION,
            "text": plain("Snooze 1 day"),
            "value": str(followup.id),
        },
    ]
    if followup.announcement_permalink:
        buttons.append(
            {
                "type": "button",
                "action_id": HOME_OPEN_ACTION,
                "text": plain("Open in channel"),
                "url": followup.announcement_permalink,
                "value": str(followup.id),
            }
        )
    return buttons


def _postmortem_blocks(postmortems: Sequence[PostmortemSummary]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain("Your postmortems")}]
    if not postmortems:
        blocks.append(text_block("No postmortems assigned to you."))
        return blocks
    for summary in postmortems[:MAX_POSTMORTEMS]:
        line = f"*{summary.incident_key}* {safe_mrkdwn(summary.title)} · {summary.status}"
        if summary.url:
            line += f" · <{summary.url}|open>"
        blocks.append(text_block(line))
    if len(postmortems) > MAX_POSTMORTEMS:
        blocks.append(context_block(f"…and {len(postmortems) - MAX_POSTMORTEMS} more."))
    return blocks
