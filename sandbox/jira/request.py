"""A request as the fake's handlers see it, the reply they give, and argument helpers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.jira.model import JiraError, JsonDict
from sandbox.jira.state import JiraState


class NotFound(Exception):
    """No such route (or not on this deployment)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # normalised: /rest/api/latest/... is served as /rest/api/2/...
    query: dict[str, list[str]]
    body: Any
    caller: str  # accountId (username on Server) of the authenticated user

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    status: int
    body: Any = None  # None: an empty body (204)
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[JiraState, Request, re.Match[str]], Reply]


def int_arg(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JiraError(400, [f"The '{name}' parameter must be a number, not '{value}'."]) from None


def flag_arg(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1", "yes")


def body_of(req: Request) -> JsonDict:
    if not isinstance(req.body, dict):
        raise JiraError(400, ["No content to map due to end-of-input"])
    return req.body
