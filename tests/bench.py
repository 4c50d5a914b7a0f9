"""The test bench: the real bot over real HTTP, a fake Slack, and signed requests between them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.core.clock import Clock, utc_now
from bot.membership.service import seed_members
from sandbox.harness import SIGNING_SECRET, running_bot
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import Reply, SlackRequests
from storage.db import Database
from storage.models import CaptureGap, GapState

__all__ = ["SIGNING_SECRET", "Bench", "populate", "running_bench"]

# People and channels every bench starts with.
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
INCIDENT_CHANNEL = "C0INCIDENT"
QUIET_CHANNEL = "C0QUIET"  # public, the bot is not a member
PRIVATE_CHANNEL = "C0PRIVATE"  # private, the bot is a member
SECRET_CHANNEL = "C0SECRET"  # private, the bot is not a member


def populate(slack: FakeSlack) -> None:
    slack.add_user(
        ALICE, "alice", real_name="Alice Ops", tz="Europe/Paris", email="alice@example.com"
    )
    slack.add_user(
        BOB, "bob", real_name="Bob Dev", tz="America/Los_Angeles", email="bob@example.com"
    )
    slack.add_user(CAROL, "carol", real_name="Carol SRE", tz="UTC", email="carol@example.com")
    everyone = [ALICE, BOB, CAROL]
    slack.add_channel("inc-checkout", members=everyone, channel_id=INCIDENT_CHANNEL)
    slack.add_channel("random", members=everyone, bot_is_member=False, channel_id=QUIET_CHANNEL)
    slack.add_channel(
        "inc-security", private=True, members=[ALICE, BOB], channel_id=PRIVATE_CHANNEL
    )
    slack.add_channel(
        "hr-secret", private=True, members=[ALICE], bot_is_member=False, channel_id=SECRET_CHANNEL
    )


@dataclass
class Bench:
    slack: FakeSlack
    db: Database
    requests: SlackRequests
    url: str

    def command(
        self, command: str, text: str, *, user: str = ALICE, channel: str = INCIDENT_CHANNEL
    ) -> tuple[Reply, str]:
        """Send a slash command; returns the HTTP reply and the command's response_url."""
        response_url = self.slack.new_response_url()
        reply = self.requests.slash_command(
            command,
            text,
            user_id=user,
            channel_id=channel,
            response_url=response_url,
            trigger_id=self.slack.new_trigger_id(),
        )
        return reply, response_url

    def ephemeral_reply(self, response_url: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first message the bot posted to a command's response_url."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.slack.response_posts(response_url)
            if posts:
                return posts[0]
            time.sleep(0.01)
        raise AssertionError(f"nothing was posted to {response_url} within {timeout}s")

    def reply_to(self, command: str, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send a command and return the private answer, by either route Slack allows:
        the HTTP body of the ack, or a later POST to the response_url."""
        reply, response_url = self.command(command, text, **kwargs)
        assert reply.status == 200, (reply.status, reply.body)
        if reply.body:
            answer = reply.json()
            assert isinstance(answer, dict)
            return answer
        return self.ephemeral_reply(response_url)

    def backfilling(self) -> bool:
        """Whether a channel's history is still being fetched: a postmortem generated now says so
        and is written again by itself once it is in (a version no test asked for)."""
        with self.db.read_session() as session:
            pending = select(CaptureGap.id).where(CaptureGap.state == GapState.PENDING).limit(1)
            return session.scalar(pending) is not None

    def wait_for_backfill(self, timeout: float = 10.0) -> None:
        """Poll until no backfill is pending, so a generation that follows is the only one."""
        deadline = time.monotonic() + timeout
        while self.backfilling():
            if time.monotonic() > deadline:
                raise AssertionError(f"a backfill was still pending after {timeout}s")
            time.sleep(0.02)


def record_members(db: Database, slack: FakeSlack, channel_ids: list[str]) -> None:
    """Record the fake Slack's members of these channels as the bot would have learnt them at
    declare (for incidents a test writes straight into the database)."""
    with db.session() as session:
        for channel_id in channel_ids:
            members = slack.channel(channel_id)["members"]
            seed_members(session, slack.team_id, channel_id, members, read_at=utc_now())


@contextmanager
def running_bench(
    slack: FakeSlack, db: Database, *, clock: Clock = utc_now, **overrides: Any
) -> Iterator[Bench]:
    with running_bot(slack, db, clock=clock, **overrides) as bot:
        yield Bench(slack=slack, db=db, requests=bot.requests, url=bot.url)
