"""Knowing what capture missed: heartbeats turn a downtime into gaps, gaps into backfill jobs,
and generation says what is still being fetched, then is refreshed when it is in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.capture.gaps import notice, pending_gaps
from bot.capture.watch import GAP_AFTER, beat
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.services import Services
from sandbox.harness import sandbox_settings, wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import CaptureGap, CaptureHeartbeat, IncidentStatus, OutboxJob
from tests.bench import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    QUIET_CHANNEL,
    Bench,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def _services(slack: FakeSlack, db: Database) -> Services:
    return Services(settings=sandbox_settings(slack, db.url), db=db)


def _declare(
    db: Database, channel: str, at: datetime, *, resolved_at: datetime | None = None
) -> None:
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace("T0001"),
            channel_id=channel,
            channel_private=False,
            commander_id=ALICE,
            title=f"Trouble in {channel}",
            severity=None,
            now=at,
        )
        if resolved_at is not None:
            change_status(session, incident, IncidentStatus.RESOLVED, by=ALICE, now=resolved_at)


def _gaps(db: Database) -> list[tuple[str, str, datetime, datetime]]:
    with db.session() as session:
        rows = session.scalars(select(CaptureGap).order_by(CaptureGap.channel_id)).all()
        return [(g.channel_id, g.reason, g.start_at, g.end_at) for g in rows]


def _backfill_jobs(db: Database) -> int:
    with db.session() as session:
        kinds = session.scalars(select(OutboxJob.kind)).all()
    return sum(kind == "capture.backfill" for kind in kinds)


def test_steady_heartbeats_record_no_gap(slack: FakeSlack, db: Database) -> None:
    services = _services(slack, db)
    _declare(db, INCIDENT_CHANNEL, NOW - timedelta(hours=2))
    assert beat(services, worker="a", now=NOW - timedelta(minutes=2)) == 0  # the first ever
    assert beat(services, worker="b", now=NOW - timedelta(minutes=1)) == 0
    assert beat(services, worker="a", now=NOW) == 0
    assert _gaps(db) == [] and _backfill_jobs(db) == 0


def test_a_downtime_becomes_a_gap_in_each_channel_open_during_it(
    slack: FakeSlack, db: Database
) -> None:
    services = _services(slack, db)
    down_since = NOW - timedelta(hours=1)
    _declare(db, INCIDENT_CHANNEL, NOW - timedelta(hours=3))  # open all along
    _declare(db, PRIVATE_CHANNEL, NOW - timedelta(minutes=30))  # declared during the downtime
    _declare(db, QUIET_CHANNEL, NOW - timedelta(days=2), resolved_at=NOW - timedelta(hours=5))
    beat(services, worker="a", now=down_since)

    assert beat(services, worker="a", now=NOW) == 2
    assert beat(services, worker="b", now=NOW + timedelta(seconds=1)) == 0  # seen, not again
    assert _gaps(db) == [
        (INCIDENT_CHANNEL, "downtime", down_since, NOW),
        (PRIVATE_CHANNEL, "downtime", NOW - timedelta(minutes=30), NOW),
    ]
    assert _backfill_jobs(db) == 2
    with db.session() as session:
        beats = {b.worker: b.last_seen for b in session.scalars(select(CaptureHeartbeat))}
    assert beats == {"a": NOW, "b": NOW + timedelta(seconds=1)}
    assert GAP_AFTER < timedelta(minutes=5)


def test_the_notice_says_what_is_still_being_fetched(db: Database) -> None:
    from bot.capture.flows import fill_gap
    from bot.capture.gaps import GapReason

    with db.session() as session:
        assert notice(pending_gaps(session, "T0001", INCIDENT_CHANNEL)) is None
        fill_gap(
            session,
            team_id="T0001",
            channel_id=INCIDENT_CHANNEL,
            reason=GapReason.DOWNTIME,
            start_at=datetime(2026, 11, 30, 10, 2, tzinfo=UTC),
            end_at=datetime(2026, 11, 30, 10, 58, tzinfo=UTC),
            now=NOW,
        )
        text = notice(pending_gaps(session, "T0001", INCIDENT_CHANNEL))
    assert text is not None
    assert "2026-11-30 10:02 and 10:58 UTC" in text and "regenerated" in text


def test_a_postmortem_generated_during_a_gap_says_so_and_is_refreshed_when_it_is_in(
    bench: Bench,
) -> None:
    """Downtime while the incident ran: the document says the messages are being fetched, and
    is generated again (version 2) once the backfill has stored them."""
    slack = bench.slack
    bench.command("/incident", "declare Queue backlog")
    wait_until(lambda: slack.calls_to("chat.postMessage"), what="the announcement")
    services = _services(slack, bench.db)
    beat(services, worker="gone", now=datetime.now(UTC) - timedelta(hours=1))
    missed = slack.post_as_user(INCIDENT_CHANNEL, BOB, "consumer lag is 2h, restarting workers")
    slack.server_error("conversations.history", 503, times=6)  # the backfill must wait a bit
    assert beat(services, worker="here", now=datetime.now(UTC)) == 1

    bench.command("/postmortem", "generate")
    first = wait_until(lambda: _version(bench, 1), timeout=30, what="version 1")
    assert "still being fetched" in first and "consumer lag" not in first
    # Each gap that comes in regenerates it (the lead-up's may come first): the latest version
    # once both are in is complete.
    final = wait_until(
        lambda: (m := _latest(bench)) and "still being fetched" not in m and m,
        timeout=60,
        what="a version with every gap in",
    )
    assert "consumer lag is 2h" in final
    assert missed["ts"]
    history = [c for c in slack.calls_to("conversations.history") if c.status == 200]
    gap_start = (datetime.now(UTC) - timedelta(hours=2)).timestamp()
    assert all(float(c.params["oldest"]) > gap_start for c in history)  # only the gaps


def test_replies_posted_during_a_downtime_to_an_earlier_thread_are_backfilled(
    bench: Bench,
) -> None:
    """Threads started before the downtime, one of them replied to for the first time during
    it: those replies are in no history page of the gap. The parents since the lead-up say
    which threads had replies since the gap began; only those are asked, for the gap only."""
    from tests.test_capture import declare, message_event, send, wait_for_row

    slack = bench.slack
    declare(bench)
    parent = slack.post_as_user(INCIDENT_CHANNEL, ALICE, "failing over the primary db")
    send(bench, message_event(parent))
    before = slack.post_as_user(INCIDENT_CHANNEL, BOB, "on it", thread_ts=parent["ts"])
    send(bench, message_event(before))
    quiet = slack.post_as_user(INCIDENT_CHANNEL, ALICE, "is the replica caught up?")
    send(bench, message_event(quiet))
    untouched = slack.post_as_user(INCIDENT_CHANNEL, CAROL, "status page updated")
    send(bench, message_event(untouched))
    wait_for_row(bench.db, before["ts"])
    wait_for_row(bench.db, untouched["ts"])

    services = _services(slack, bench.db)
    down_at = datetime.now(UTC)
    beat(services, worker="gone", now=down_at)  # then no replica captures anything
    missed = slack.post_as_user(
        INCIDENT_CHANNEL, BOB, "failover done, replicas lagging", thread_ts=parent["ts"]
    )
    first = slack.post_as_user(INCIDENT_CHANNEL, CAROL, "yes, lag is 0", thread_ts=quiet["ts"])
    assert beat(services, worker="here", now=down_at + GAP_AFTER + timedelta(seconds=30)) == 1

    row = wait_for_row(bench.db, missed["ts"])
    assert (row.text, row.thread_ts) == ("failover done, replicas lagging", parent["ts"])
    assert wait_for_row(bench.db, first["ts"]).thread_ts == quiet["ts"]
    replies = [c.params for c in slack.calls_to("conversations.replies") if c.status == 200]
    assert {p["ts"] for p in replies} == {parent["ts"], quiet["ts"]}  # not the untouched one
    assert all(float(p["oldest"]) >= down_at.timestamp() - 1 for p in replies)


def _latest(bench: Bench) -> str | None:
    from storage.models import PostmortemVersion

    with bench.db.read_session() as session:
        return session.scalar(
            select(PostmortemVersion.markdown).order_by(PostmortemVersion.version.desc()).limit(1)
        )


def _version(bench: Bench, number: int) -> str | None:
    from storage.models import PostmortemVersion

    with bench.db.read_session() as session:
        return session.scalar(
            select(PostmortemVersion.markdown).where(PostmortemVersion.version == number)
        )
