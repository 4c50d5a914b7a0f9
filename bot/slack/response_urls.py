"""Which `response_url`s the bot may POST to (SLACK_RESPONSE_URL_HOSTS).

A response_url arrives in the request body, so whoever writes the body chooses where the bot
sends its reply: without a check that is a server-side request forgery (the bot POSTs, from
inside your network, to any host and port named in it). Slack's own are
`https://hooks.slack.com/...`; only hosts on the list are ever contacted.

An entry is a host name (`hooks.slack.com`: HTTPS only) or `http://host` (plain HTTP allowed
too: for local fakes in tests and the demo). Hosts match exactly: no wildcards, no subdomains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\]")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")  # whitespace, controls, backslashes: never in a URL


@dataclass(frozen=True)
class ResponseUrlPolicy:
    https_hosts: frozenset[str]
    http_hosts: frozenset[str]  # where plain http:// is accepted too

    @classmethod
    def parse(cls, value: str) -> ResponseUrlPolicy:
        """`hooks.slack.com,http://127.0.0.1` → the policy; ValueError names a bad entry."""
        https: set[str] = set()
        http: set[str] = set()
        for entry in (part.strip().lower() for part in value.split(",")):
            if not entry:
                continue
            plain = entry.startswith("http://")
            host = entry.removeprefix("http://").removesuffix("/")
            if not _HOST.fullmatch(host):
                raise ValueError(
                    f"expected host names such as hooks.slack.com (or http://127.0.0.1 for a "
                    f"local fake), separated by commas; got {entry!r}"
                )
            (http if plain else https).add(host)
        return cls(https_hosts=frozenset(https | http), http_hosts=frozenset(http))

    def allows(self, url: str | None) -> bool:
        """True when `url` is an absolute URL on an allowed host, by an allowed scheme."""
        if not url or _UNSAFE.search(url):
            return False
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError:
            return False
        if parts.username is not None or parts.password is not None or not parts.hostname:
            return False
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"  # IPv6, written as in the setting
        if parts.scheme == "https":
            return host in self.https_hosts
        return parts.scheme == "http" and host in self.http_hosts


def without_query(url: str, limit: int = 200) -> str:
    """`url` fit for a log line: scheme, host and path, without the query (it may carry
    anything, tokens included), at most `limit` characters."""
    try:
        parts = urlsplit(url)
        shown = f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    except ValueError:
        shown = "(not a URL)"
    return shown if len(shown) <= limit else shown[:limit] + "…"
