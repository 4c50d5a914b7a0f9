"""Cleaning what people type, once, where a request enters the bot.

PostgreSQL refuses NUL in text (psycopg raises DataError), the other C0 control characters are
never meant text (and confuse terminals and logs), and a lone UTF-16 surrogate, which JSON can
spell (`"\\ud800"`), cannot be encoded as UTF-8 for the database or for Slack. Rather than guard
every column and every call, each string of a request is cleaned before any listener sees it
(handlers.middleware registers it for HTTP and Socket Mode alike):

- NUL and the C0 controls U+0001-U+001F are dropped, except tab, newline and carriage return;
- a lone surrogate becomes U+FFFD (the replacement character).

Keys are cleaned like values. DEL and everything printable are kept.
"""

from __future__ import annotations

import re
from typing import Any

_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` without refused control characters and with lone surrogates replaced."""
    cleaned = _REFUSED.sub("", text)
    return _LONE_SURROGATE.sub("\ufffd", cleaned)


def clean_strings(value: Any) -> Any:
    """Clean every string inside `value` (dicts and lists are changed in place, so whoever
    already holds them sees clean text) and return it. Iterative: nesting depth is no limit."""
    if isinstance(value, str):
        return clean_text(value)
    pending: list[Any] = [value]
    while pending:
        container = pending.pop()
        if isinstance(container, dict):
            for key in list(container):
                item = container[key]
                if isinstance(item, str):
                    item = clean_text(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
                clean_key = clean_text(key) if isinstance(key, str) else key
                if clean_key != key:
                    del container[key]
                container[clean_key] = item
        elif isinstance(container, list):
            for index, item in enumerate(container):
                if isinstance(item, str):
                    container[index] = clean_text(item)
                elif isinstance(item, dict | list):
                    pending.append(item)
    return value
