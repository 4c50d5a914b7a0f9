"""Slack-delivered text → Markdown for postmortem documents (names resolved, links kept)."""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"<([^<>]*)>")
_URL = re.compile(r"(https?|mailto):")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_to_markdown(text: str, names: Mapping[str, str]) -> str:
    """Mentions become @names, channel links #names, links [label](url); broadcasts are plain
    words. The result is one paragraph's worth of text: newlines are kept, nothing else added."""

    def token(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + names.get(target[1:], label.lstrip("@") or target[1:])
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:], target[1:]))
        if target.startswith("!"):
            special = target[1:].split("^")[0]
            return "@" + (label.lstrip("@") if label else special)
        if _URL.match(target):
            url = target.replace(")", "%29")
            return f"[{_unescape(label)}]({url})" if label else f"<{url}>"
        return _unescape(match.group(0))

    if "<" in text:
        text = _TOKEN.sub(token, text)
    return _unescape(text) if "&" in text else text


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
