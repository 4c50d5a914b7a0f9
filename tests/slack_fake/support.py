"""Helpers for the fake Slack Web API tests."""

from __future__ import annotations

import itertools
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from slack_sdk.errors import SlackApiError

from sandbox.slack.fake import FakeSlack

TOKEN = "xoxb-test-token"
names = itertools.count(1)  # unique channel names within a test module


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def error_of(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as exc:
        call()
    return api_error(exc)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def seed(fake: FakeSlack, channel: str, count: int, start: int = 1_700_000_000) -> list[str]:
    return [
        fake.post_as_user(channel, "U1", f"m{i}", ts=f"{start + i}.000100")["ts"]
        for i in range(count)
    ]
