"""The private answers to `/incident list`, `/incident search` and the tag commands (pure).

Everything people wrote (titles, snippets of timelines and channel logs) is shown defused:
titles through `safe_mrkdwn`, snippets as escaped plain text with mrkdwn's formatting
characters removed, so nothing echoed can ping @channel/@here or break the message's markup;
the matched words are then bolded by us.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.core.formatting import slack_date
from bot.knowledge.search import (
    MARK_END,
    MARK_START,
    IncidentPage,
    IncidentSummary,
    SearchPage,
)
from bot.slack.mrkdwn import escape_text, quote, safe_mrkdwn
from storage.models import IncidentStatus

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

PAGE_PREVIOUS = "knowledge_page_previous"
PAGE_NEXT = "knowledge_page_next"
MAX_SNIPPET = 400
_WORD_JOINER = "\u2060"
_STATUS = {
    IncidentStatus.ACTIVE: ":red_circle: active",
    IncidentStatus.MITIGATED: ":large_yellow_circle: mitigated",
    IncidentStatus.RESOLVED: ":large_green_circle: resolved",
}
_SAFE_URL = re.compile(r"https?://[^\s<>|]+")


def safe_snippet(snippet: str) -> str:
    """A search snippet (plain text with match marks) → mrkdwn that shows the words, bolds the
    matches, and can neither ping nor format."""
    text = re.sub(r"\s+", " ", snippet).strip()
    if len(text) > MAX_SNIPPET:
        text = text[:MAX_SNIPPET] + "…"
    text = re.sub(r"[*_~`]", " ", text)
    text = escape_text(text)
    text = re.sub(
        r"@(channel|here|everyone)\b",
        lambda m: "@" + _WORD_JOINER + m.group(1),
        text,
        flags=re.IGNORECASE,
    )
    # Bold the matches; a mark left open by the cut is closed.
    text = re.sub(rf"{MARK_START}\s*([^{MARK_END}]*?)\s*{MARK_END}", r"*\1*", text)
    return text.replace(MARK_START, "").replace(MARK_END, "")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _postmortem(item: IncidentSummary) -> str:
    if item.postmortem_status is None:
        return "no postmortem yet"
    label = f"postmortem ({item.postmortem_status.label})"
    url = item.postmortem_url or ""
    if _SAFE_URL.fullmatch(url):
        return f"<{url}|{label}>"
    return label


def _incident_lines(item: IncidentSummary) -> tuple[str, str]:
    """The incident's line (key, channel, severity, status, when; title below) and its
    context line (tags, postmortem)."""
    when = slack_date(item.declared_at)
    head = (
        f"*{item.key}* · <#{item.channel_id}> · {item.severity.label} · "
        f"{_STATUS[item.status]} · declared {when}\n{safe_mrkdwn(item.title)}"
    )
    tags = ", ".join(f"`{t}`" for t in item.tags) if item.tags else "no tags"
    lock = ":lock: private · " if item.channel_private else ""
    return head, f"{lock}{tags} · {_postmortem(item)}"


def _pager(kind: str, text: str, offset: int, limit: int, *, previous: bool, more: bool) -> Blocks:
    buttons = []
    if previous:
        value = json.dumps({"k": kind, "t": text, "o": max(0, offset - limit)}, ensure_ascii=False)
        buttons.append(
            {
                "type": "button",
                "action_id": PAGE_PREVIOUS,
                "text": {"type": "plain_text", "text": "Previous"},
                "value": value,
            }
        )
    if more:
        value = json.dumps({"k": kind, "t": text, "o": offset + limit}, ensure_ascii=False)
        buttons.append(
            {
                "type": "button",
                "action_id": PAGE_NEXT,
                "text": {"type": "plain_text", "text": "Next"},
                "value": value,
            }
        )
    return (
        [{"type": "actions", "block_id": "knowledge_pager", "elements": buttons}] if buttons else []
    )


def _range(offset: int, shown: int, total: int) -> str:
    return f"{offset + 1}–{offset + shown} of {total}" if shown else f"0 of {total}"


def search_results(page: SearchPage, text: str) -> Message:
    return _search_results(page, text)


def incident_list(page: IncidentPage, text: str) -> Message:
    return _incident_list(page, text)


def _search_results(page: SearchPage, text: str) -> Message:
    shown = quote(text, limit=80)
    if not page.hits:
        if page.total:
            message = f"No more results for {shown} (there were {page.total})."
        else:
            message = (
                f"No incident you can see matches {shown}. Every word must appear; try fewer "
                "words, or `/incident list` to browse."
            )
        return message, [_section(message)]
    count = f"{page.total} incident{'s' if page.total != 1 else ''}"
    summary = f"Search {shown}: {count} ({_range(page.offset, len(page.hits), page.total)})"
    blocks: Blocks = [_section(f":mag: {summary}, best match first")]
    for hit in page.hits:
        head, context = _incident_lines(hit.incident)
        snippet = safe_snippet(hit.snippet)
        blocks.append(_section(f"{head}\n>{snippet}" if snippet else head))
        blocks.append(_context(context))
    blocks += _pager(
        "s", text, page.offset, page.limit, previous=page.has_previous, more=page.has_next
    )
    return summary, blocks


def _incident_list(page: IncidentPage, text: str) -> Message:
    what = f" ({escape_text(text)})" if text else ""
    if not page.items:
        if page.total:
            message = f"No more incidents{what} (there were {page.total})."
        else:
            message = f"No incidents{what} that you can see."
        return message, [_section(message)]
    count = f"{page.total} incident{'s' if page.total != 1 else ''}"
    summary = f"Incidents{what}: {count} ({_range(page.offset, len(page.items), page.total)})"
    blocks: Blocks = [_section(f":card_index_dividers: {summary}, newest first")]
    for item in page.items:
        head, context = _incident_lines(item)
        blocks.append(_section(head))
        blocks.append(_context(context))
    blocks += _pager(
        "l", text, page.offset, page.limit, previous=page.has_previous, more=page.has_next
    )
    return summary, blocks


def _tag_list(tags: list[str]) -> str:
    return ", ".join(f"`{t}`" for t in tags) if tags else "none"


def tags_shown(key: str, free: list[str], components: list[str]) -> str:
    return (
        f"{key} is tagged {_tag_list(free)}; its components (which count as tags) are "
        f"{_tag_list(components)}. Add with `/incident tag database,payments`, remove with "
        "`/incident untag payments`."
    )


def tags_added(key: str, added: list[str], already: list[str], now_tags: list[str]) -> str:
    parts = []
    if added:
        parts.append(f"Tagged {key} {_tag_list(added)} (noted on its timeline).")
    if already:
        parts.append(f"It already had {_tag_list(already)}.")
    parts.append(f"Its tags now: {_tag_list(now_tags)}.")
    return " ".join(parts)


def tags_removed(key: str, removed: list[str], missing: list[str], now_tags: list[str]) -> str:
    parts = []
    if removed:
        parts.append(f"Removed {_tag_list(removed)} from {key} (noted on its timeline).")
    if missing:
        parts.append(f"{key} had no tag {_tag_list(missing)}.")
    parts.append(f"Its tags now: {_tag_list(now_tags)}.")
    return " ".join(parts)


def team_tags(tags: list[tuple[str, int]]) -> str:
    if not tags:
        return "No incident you can see has tags yet. Tag one with `/incident tag database`."
    listed = ", ".join(f"`{t}` ({n})" for t, n in tags)
    return (
        f"Tags (incidents you can see; components count): {listed}. "
        "List one with `/incident list tag:<tag>`."
    )
