"""Fixtures for the fake Slack Web API tests: one fake per module, fresh calls per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from sandbox.slack.fake import FakeSlack
from tests.slack_fake.support import TOKEN, names


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(team_domain="acme") as server:
        server.add_user("U1", "ada", real_name="Ada L", tz="Europe/London", email="ada@acme.io")
        server.add_user("U2", "bob", tz="America/New_York")
        server.add_user("U3", "cy", tz="Asia/Kolkata")
        yield server


@pytest.fixture(autouse=True)
def _fresh_calls(fake: FakeSlack) -> None:
    fake.reset_calls()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


@pytest.fixture
def channel(fake: FakeSlack) -> str:
    """A fresh public channel (bot and U1, U2 are members) for each test."""
    return str(fake.add_channel(f"inc-{next(names)}", members=["U1", "U2"])["id"])
