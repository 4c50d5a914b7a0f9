"""Turning user text (as Slack delivers it) into safe Slack mrkdwn and plain text.

Slack delivers message and command text with `&`, `<`, `>` escaped as entities and with special
tokens in angle brackets: `<@U123|name>` (user), `<#C123|name>` (channel), `<https://x|label>`
(link) and `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^S1|@team>` (broadcast pings).
We keep user and channel mentions and links, and defuse every broadcast so that echoing user text
never pings a channel or a group.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<([^<>]*)>")
_WORD_JOINER = "\u2060"  # invisible; breaks "@channel" so no client or parser treats it as a ping


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape_text(text: str) -> str:
    """Escape plain text for mrkdwn: `&`, `<`, `>` become entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _defused(name: str) -> str:
    name = name.lstrip("@")
    return "@" + _WORD_JOINER + escape_text(name)


def _safe_token(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@") and re.fullmatch(r"@[UW][A-Z0-9]+", target):
        return f"<{target}>"
    if target.startswith("#") and re.fullmatch(r"#[CG][A-Z0-9]+", target):
        return f"<{target}>"
    if re.match(r"(https?|mailto):", target):
        return f"<{target}|{escape_text(_unescape(label))}>" if label else f"<{target}>"
    if target.startswith("!"):
        special = target[1:]
        if special.startswith("subteam^"):
            return _defused(label or "group")
        if special.startswith("date^"):
            return escape_text(_unescape(label)) if label else ""
        return _defused(label or special.split("^")[0])
    return escape_text("<" + _unescape(inner) + ">")


def safe_mrkdwn(slack_text: str) -> str:
    """Slack-delivered text → mrkdwn that shows the same words and can never broadcast-ping."""
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(slack_text):
        out.append(escape_text(_unescape(slack_text[pos : match.start()])))
        out.append(_safe_token(match.group(1)))
        pos = match.end()
    out.append(escape_text(_unescape(slack_text[pos:])))
    text = "".join(out)
    # Literal "@channel" typed without Slack turning it into a token (e.g. text from an API).
    return re.sub(r"@(channel|here|everyone)\b", lambda m: "@" + _WORD_JOINER + m.group(1), text)


def plain_text(slack_text: str) -> str:
    """Slack-delivered text → plain text (for plain_text blocks, documents and Jira)."""

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if label:
            return _unescape(label) if not target.startswith("@") else "@" + label.lstrip("@")
        if target.startswith("!"):
            return "@" + target[1:].split("^")[0]
        return target

    return _unescape(_TOKEN.sub(token, slack_text))


def quote(slack_text: str, limit: int = 40) -> str:
    """User text shown back inside an error message: short, defused, in a code span."""
    text = slack_text.replace("`", "'").replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"`{safe_mrkdwn(text)}`"


_KEEP_TOKEN = re.compile(
    r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|(?:https?|mailto):[^<>|]+)(?:\|[^<>]*)?>"
)


def to_editable(slack_text: str) -> str:
    """Slack-delivered text → what a person edits in a plain text input."""
    return _unescape(slack_text)


def from_editable(text: str) -> str:
    """Text typed in a plain text input → Slack's encoding (mentions and links kept)."""
    out: list[str] = []
    pos = 0
    for match in _KEEP_TOKEN.finditer(text):
        out.append(escape_text(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(escape_text(text[pos:]))
    return "".join(out)
