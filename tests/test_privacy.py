"""Private incidents stay private (issue 13, findings 6 and 7, and the visibility rule): over
real HTTP, with Slack's Events API delivering what people do (join, leave, convert, share)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.core.visibility import incident_visible_to
from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import ChannelMember, Incident, PostmortemVersion
from tests.bench import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    Bench,
    running_bench,
)

BOT = "UBOT0001"  # the fake's bot user
OLD_CHANNEL = "C0OLDINC"  # a public channel of an earlier incident


@pytest.fixture
def bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    slack.add_channel("inc-old", members=[ALICE, BOB, CAROL], channel_id=OLD_CHANNEL)
    with running_bench(slack, db, deliver_events=True) as running:
        yield running


T = TypeVar("T")


def read(bench: Bench, query: Callable[[Session], T]) -> T:
    """Read while the bot writes: on SQLite a busy bot may hold the lock past the busy timeout,
    so a read that found it locked is tried again (within a deadline)."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with bench.db.read_session() as session:
                return query(session)
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def members(bench: Bench, channel: str) -> set[str]:
    where = ChannelMember.channel_id == channel
    return read(bench, lambda s: set(s.scalars(select(ChannelMember.user_id).where(where))))


def incident_in(bench: Bench, channel: str) -> Incident:
    def latest(session: Session) -> Incident:
        found = session.scalars(
            select(Incident).where(Incident.channel_id == channel).order_by(Incident.id.desc())
        ).first()
        assert found is not None
        return found

    return read(bench, latest)


def visible(bench: Bench, channel: str, user: str) -> bool:
    def check(session: Session) -> bool:
        incident = session.scalars(select(Incident).where(Incident.channel_id == channel)).first()
        assert incident is not None
        return incident_visible_to(session, incident, user)

    return read(bench, check)


def declare(bench: Bench, channel: str, title: str) -> None:
    posts = len(bench.slack.calls_to("chat.postMessage"))
    reply, _ = bench.command("/incident", f"declare {title}", channel=channel)
    assert reply.status == 200
    eventually(lambda: len(bench.slack.calls_to("chat.postMessage")) > posts, what="announced")
    # the channel's members are read from Slack after the declaration
    eventually(lambda: ALICE in members(bench, channel), what="members seeded")


def timeline(bench: Bench, channel: str, text: str) -> None:
    assert bench.command("/timeline", text, channel=channel)[0].status == 200


def versions(bench: Bench) -> int:
    return read(bench, lambda s: len(s.scalars(select(PostmortemVersion.id)).all()))


def generate(bench: Bench, channel: str) -> str:
    """Generate the channel's postmortem; its canvas's Markdown."""
    before = versions(bench)
    bench.command("/postmortem", "generate", channel=channel)
    eventually(lambda: versions(bench) > before, timeout=20, what="a new version")

    def canvas() -> str | None:
        for call in bench.slack.calls_to("canvases.access.set"):
            if call.params.get("channel_ids") in ([channel], channel):
                canvas_id = str(call.params["canvas_id"])
                return bench.slack.canvas_markdown(canvas_id)
        return None

    return eventually(canvas, what="the canvas shared with the channel")


def home_of(bench: Bench, user: str) -> str:
    """Open `user`'s App Home and return the view published for it."""
    count = len([c for c in bench.slack.calls_to("views.publish") if c.params["user_id"] == user])
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"}
    assert bench.requests.event({**event, "event_ts": "1.000001"}).status == 200

    def published() -> str | None:
        calls = [c for c in bench.slack.calls_to("views.publish") if c.params["user_id"] == user]
        return json.dumps(calls[-1].params["view"]) if len(calls) > count else None

    return eventually(published, what=f"{user}'s Home")


# -- finding 6: a public incident's postmortem named a private incident ----------------------


def test_a_public_postmortem_never_names_a_private_incident(bench: Bench) -> None:
    declare(bench, OLD_CHANNEL, "Payment keys expired on gateway")  # INC-1, public
    timeline(bench, OLD_CHANNEL, "payment keys renewed by hand")
    declare(bench, PRIVATE_CHANNEL, "Payment keys breach through vaultseven")  # INC-2, private
    timeline(bench, PRIVATE_CHANNEL, "payment keys found in the kestrelwing logs")
    bench.command("/incident", "resolved", channel=PRIVATE_CHANNEL)
    declare(bench, INCIDENT_CHANNEL, "Payment keys breach again")  # INC-3, public
    timeline(bench, INCIDENT_CHANNEL, "payment keys rotated")

    markdown = generate(bench, INCIDENT_CHANNEL)
    recurrence = markdown[markdown.index("## Recurrence") :]
    assert "INC-1" in recurrence  # the search works: the earlier public incident is there
    assert "INC-2" not in markdown and "vaultseven" not in markdown
    assert "kestrelwing" not in markdown

    # In its own channel the private incident may name itself and earlier public ones.
    own = generate(bench, PRIVATE_CHANNEL)
    assert "vaultseven" in own and "kestrelwing" in own


# -- finding 7: App Home showed a private incident's title to an owner not in the channel -----


def test_app_home_hides_a_private_title_from_an_owner_not_in_the_channel(bench: Bench) -> None:
    declare(bench, PRIVATE_CHANNEL, "Vault tokens leaked by ospreyfin")
    generate(bench, PRIVATE_CHANNEL)
    bench.command("/postmortem", f"owner <@{BOB}|bob>", channel=PRIVATE_CHANNEL)
    eventually(lambda: "ospreyfin" in home_of(bench, BOB), what="the title on Bob's Home")

    bench.command("/postmortem", f"owner <@{CAROL}|carol>", channel=PRIVATE_CHANNEL)
    view = eventually(lambda: (v := home_of(bench, CAROL)) and "INC-1" in v and v)
    assert "ospreyfin" not in view and "private incident" in view

    # Carol is invited: the same Home now shows the title.
    bench.slack.join_channel(PRIVATE_CHANNEL, CAROL, inviter=ALICE)
    eventually(lambda: CAROL in members(bench, PRIVATE_CHANNEL), what="Carol recorded")
    assert "ospreyfin" in home_of(bench, CAROL)


# -- visibility follows the channel -----------------------------------------------------------


def test_members_leaving_and_joining_change_who_sees_a_private_incident(bench: Bench) -> None:
    declare(bench, PRIVATE_CHANNEL, "Leaky bucket")
    assert members(bench, PRIVATE_CHANNEL) == {ALICE, BOB, BOT}
    assert visible(bench, PRIVATE_CHANNEL, BOB) and not visible(bench, PRIVATE_CHANNEL, CAROL)

    bench.slack.leave_channel(PRIVATE_CHANNEL, BOB)
    eventually(lambda: BOB not in members(bench, PRIVATE_CHANNEL), what="Bob's leaving")
    assert not visible(bench, PRIVATE_CHANNEL, BOB)

    bench.slack.join_channel(PRIVATE_CHANNEL, CAROL)
    eventually(lambda: CAROL in members(bench, PRIVATE_CHANNEL), what="Carol's joining")
    assert visible(bench, PRIVATE_CHANNEL, CAROL)

    # The bot removed: nobody's membership can be followed any more, so nobody outside sees it.
    bench.slack.leave_channel(PRIVATE_CHANNEL, BOT, actor=ALICE)
    eventually(lambda: not members(bench, PRIVATE_CHANNEL), what="the members forgotten")
    assert not visible(bench, PRIVATE_CHANNEL, ALICE)
    bench.slack.wait_for_events()
    assert {d.status for d in bench.slack._events.deliveries} == {200}  # type: ignore[union-attr]


def test_a_channel_made_private_makes_its_incidents_private(bench: Bench) -> None:
    declare(bench, INCIDENT_CHANNEL, "Checkout 500s")
    bench.slack.leave_channel(INCIDENT_CHANNEL, CAROL)
    eventually(lambda: CAROL not in members(bench, INCIDENT_CHANNEL), what="Carol's leaving")
    assert visible(bench, INCIDENT_CHANNEL, CAROL)  # public: anyone

    bench.slack.convert_channel(INCIDENT_CHANNEL, ALICE, private=True)
    eventually(lambda: incident_in(bench, INCIDENT_CHANNEL).channel_private, what="private")
    assert not visible(bench, INCIDENT_CHANNEL, CAROL)
    assert visible(bench, INCIDENT_CHANNEL, BOB)
    # a public update is now refused, and nothing reaches the status page
    answer = bench.reply_to("/incident", "update all good --public", channel=INCIDENT_CHANNEL)
    assert "private" in answer["text"]

    bench.slack.convert_channel(INCIDENT_CHANNEL, ALICE, private=False)
    eventually(lambda: not incident_in(bench, INCIDENT_CHANNEL).channel_private, what="public")
    assert visible(bench, INCIDENT_CHANNEL, CAROL)


def test_a_channel_shared_with_another_organisation_gets_no_other_incident(bench: Bench) -> None:
    declare(bench, OLD_CHANNEL, "Search index corrupted")
    timeline(bench, OLD_CHANNEL, "search index rebuilt")
    declare(bench, INCIDENT_CHANNEL, "Search index corrupted again")
    bench.slack.share_channel(INCIDENT_CHANNEL, "E163Q94DX")
    eventually(lambda: incident_in(bench, INCIDENT_CHANNEL).channel_shared, what="shared")

    markdown = generate(bench, INCIDENT_CHANNEL)
    assert "INC-1" not in markdown  # its Recurrence names no other incident
    assert "Search index corrupted again" in markdown


def test_channel_events_outside_incident_channels_change_nothing(bench: Bench) -> None:
    quiet = bench.slack.add_channel("watercooler", members=[ALICE])["id"]
    bench.slack.join_channel(quiet, BOB)
    bench.slack.share_channel(quiet, "E163Q94DX")
    bench.slack.wait_for_events()
    assert members(bench, quiet) == set()


def test_the_rule_in_sql_and_in_python_agree(db: Database) -> None:
    """`visible_incidents_filter` (the SQL form other features query with) and
    `incident_visible_to` / `may_show_in_channel` say the same thing."""
    from datetime import UTC, datetime

    from bot.core.visibility import may_show_in_channel, visible_incidents_filter
    from bot.incidents.service import Workspace, declare_incident
    from bot.membership.service import add_member

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with db.session() as session:
        for channel, private in (("C1", False), ("C2", True), ("C3", True)):
            declare_incident(
                session,
                workspace=Workspace("T1"),
                channel_id=channel,
                channel_private=private,
                commander_id=ALICE,
                title=f"in {channel}",
                severity=None,
                now=now,
            )
        add_member(session, "T1", "C2", BOB, now=now)
        add_member(session, "T9", "C3", BOB, now=now)  # another workspace's channel C3
    with db.session() as session:
        incidents = list(session.scalars(select(Incident).order_by(Incident.id)))
        for user, expected in ((BOB, {"C1", "C2"}), (CAROL, {"C1"})):
            rows = session.scalars(select(Incident).where(visible_incidents_filter(user)))
            assert {i.channel_id for i in rows} == expected
            assert {i.channel_id for i in incidents if incident_visible_to(session, i, user)} == (
                expected
            )
        public, private, _ = incidents
        assert may_show_in_channel(public, "C9") and may_show_in_channel(private, "C2")
        assert not may_show_in_channel(private, "C1")


def test_a_stakeholder_post_waiting_when_the_channel_goes_private_is_not_sent(
    slack: FakeSlack, db: Database
) -> None:
    from storage.models import OutboxJob, OutboxState

    stakeholders = slack.add_channel("status-updates", members=[ALICE])["id"]
    with running_bench(
        slack, db, deliver_events=True, status_updates_channel=stakeholders
    ) as bench:
        declare(bench, INCIDENT_CHANNEL, "Checkout 500s")
        slack.fail("chat.postMessage", "internal_error", times=1000)  # every post must wait
        bench.command("/incident", "update zqwaiting rollback started", channel=INCIDENT_CHANNEL)
        eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 2, what="both tried")
        slack.convert_channel(INCIDENT_CHANNEL, ALICE, private=True)
        eventually(lambda: incident_in(bench, INCIDENT_CHANNEL).channel_private, what="private")
        slack.clear_faults()

        def settled() -> bool:
            states = read(bench, lambda s: s.scalars(select(OutboxJob.state)).all())
            return all(state is OutboxState.DONE for state in states)

        eventually(settled, timeout=20, what="every job done")
        own = json.dumps(slack.messages(INCIDENT_CHANNEL))
        assert "zqwaiting" in own  # the update reached its own channel...
        assert "zqwaiting" not in json.dumps(slack.messages(stakeholders))  # ...and only it


def test_members_are_read_at_declare_or_by_a_job_when_slack_does_not_answer(
    bench: Bench,
) -> None:
    """Read before the declaration's transaction, so a private incident is visible to its
    members from its first moment; when Slack refuses then, an outbox job reads them after."""
    bench.slack.fail("conversations.members", "internal_error")
    reply, _ = bench.command("/incident", "declare Slow disks", channel=PRIVATE_CHANNEL)
    assert reply.status == 200
    eventually(lambda: members(bench, PRIVATE_CHANNEL) == {ALICE, BOB, BOT}, what="a job's read")
    assert len(bench.slack.calls_to("conversations.members")) == 2
