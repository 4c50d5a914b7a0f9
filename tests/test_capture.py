"""Live capture of incident channels and history backfill, end to end: signed Events API
deliveries → the real Bolt app → the database; backfill against the Slack fake."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from slack_sdk import WebClient
from sqlalchemy import delete, select

from bot.capture import flows as capture_flows
from bot.capture.events import (
    Delete,
    Upsert,
    datetime_to_ts,
    interpret_event,
    ts_to_datetime,
)
from bot.capture.flows import fill_gap
from bot.capture.gaps import GapReason
from bot.core import outbox
from bot.core.outbox_worker import OutboxWorkers
from bot.services import Services
from bot.slack.budget import RateBudget
from bot.slack.workspaces import SingleWorkspace
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    CapturedMessage,
    CaptureGap,
    GapState,
    OutboxJob,
    OutboxState,
    ProcessedEvent,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench

T = TypeVar("T")


# --- helpers ----------------------------------------------------------------------------------


def wait_until(condition: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Poll until `condition()` is truthy (work Bolt does after the ack); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)


def captured(db: Database, channel: str = INCIDENT_CHANNEL) -> dict[str, CapturedMessage]:
    with db.session() as session:
        rows = session.scalars(
            select(CapturedMessage).where(CapturedMessage.channel_id == channel)
        ).all()
        return {row.ts: row for row in rows}


def wait_for_row(
    db: Database, ts: str, ready: Callable[[CapturedMessage], bool] = lambda _: True
) -> CapturedMessage:
    def found() -> CapturedMessage | None:
        row = captured(db).get(ts)
        return row if row is not None and ready(row) else None

    row = wait_until(found, what=f"captured message {ts}")
    assert row is not None
    return row


def declare(bench: Bench, channel: str = INCIDENT_CHANNEL) -> str:
    """Declare an incident and wait until the backfill after it is over; returns the ts of a
    person's message posted just before (the backfill captures it: the bot's own announcement
    is deliberately not captured, so it can't serve as the signal)."""
    before = bench.slack.post_as_user(channel, ALICE, "declaring an incident for this")
    reply, _ = bench.command("/incident", "declare Checkout returns 500s", channel=channel)
    assert reply.status == 200
    bench.slack.wait_for("chat.postMessage")
    ts = str(before["ts"])
    wait_until(lambda: ts in captured(bench.db, channel), what="the backfill after declaring")
    return ts


def message_event(message: dict[str, Any], channel: str = INCIDENT_CHANNEL) -> dict[str, Any]:
    """A `message` event as the Events API delivers it for a message the fake stored."""
    return {**message, "channel": channel, "event_ts": message["ts"], "channel_type": "channel"}


def changed_event(
    new: dict[str, Any], previous: dict[str, Any], channel: str = INCIDENT_CHANNEL
) -> dict[str, Any]:
    event_ts = (new.get("edited") or {}).get("ts") or f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": new,
        "previous_message": previous,
        "channel": channel,
        "channel_type": "channel",
        "ts": event_ts,
        "event_ts": event_ts,
    }


def deleted_event(previous: dict[str, Any], channel: str = INCIDENT_CHANNEL) -> dict[str, Any]:
    event_ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": previous["ts"],
        "previous_message": previous,
        "channel": channel,
        "channel_type": "channel",
        "ts": event_ts,
        "event_ts": event_ts,
    }


def send(bench: Bench, event: dict[str, Any], **kwargs: Any) -> None:
    reply = bench.requests.event(event, **kwargs)
    assert reply.status == 200, (reply.status, reply.body)
    assert reply.seconds < 1.0, f"ack took {reply.seconds:.2f}s"


def sentinel(bench: Bench) -> None:
    """Deliver one more message and wait until it is stored. Listeners start in delivery
    order and the earlier deliveries do no more work than this one, so they are over too.
    Use it only before asserting that something did NOT happen; wait for what should happen
    with wait_for_row / wait_until."""
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, CAROL, "sentinel")
    send(bench, message_event(message))
    wait_for_row(bench.db, message["ts"])


def no_retry_client(slack: FakeSlack) -> WebClient:
    """A client whose 429s all reach the caller (the bot's own client retries a few first)."""
    return WebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])


# --- live capture -----------------------------------------------------------------------------


def test_top_level_messages_and_thread_replies_are_stored(bench: Bench) -> None:
    declare(bench)
    parent = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "500s on /checkout <@U0BOB>")
    send(bench, message_event(parent))
    reply = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "looking", thread_ts=parent["ts"])
    send(bench, message_event(reply))

    row = wait_for_row(bench.db, parent["ts"])
    assert (row.user_id, row.text, row.thread_ts, row.subtype) == (
        ALICE,
        "500s on /checkout <@U0BOB>",  # as Slack delivers it
        None,
        None,
    )
    assert row.posted_at == ts_to_datetime(parent["ts"]) and row.posted_at.tzinfo is not None
    assert row.team_id == bench.slack.team_id and row.deleted_at is None
    threaded = wait_for_row(bench.db, reply["ts"])
    assert (threaded.user_id, threaded.text, threaded.thread_ts) == (BOB, "looking", parent["ts"])


def test_a_retried_delivery_is_processed_once(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "rolling back")
    send(bench, message_event(message), event_id="Ev0RETRY01")
    wait_for_row(bench.db, message["ts"])
    # Forget the row: if a retry were processed again, it would come back.
    with bench.db.session() as session:
        session.execute(delete(CapturedMessage).where(CapturedMessage.ts == message["ts"]))

    for retry_num in (1, 2):
        send(bench, message_event(message), event_id="Ev0RETRY01", retry_num=retry_num)
    sentinel(bench)

    assert message["ts"] not in captured(bench.db)
    with bench.db.session() as session:
        claims = session.scalars(
            select(ProcessedEvent).where(ProcessedEvent.event_id == "Ev0RETRY01")
        ).all()
        assert [c.team_id for c in claims] == [bench.slack.team_id]


def test_retries_of_a_new_message_store_one_row(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "db failover started")
    for retry_num in (None, 1, 2):  # Slack re-sends at once when the first ack is slow
        send(bench, message_event(message), event_id="Ev0RETRY02", retry_num=retry_num)
    wait_for_row(bench.db, message["ts"])
    sentinel(bench)
    rows = [r for r in captured(bench.db).values() if r.text == "db failover started"]
    assert len(rows) == 1


def test_message_changed_applies_the_edit(bench: Bench) -> None:
    declare(bench)
    original = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "error rate 5%")
    send(bench, message_event(original))
    wait_for_row(bench.db, original["ts"])

    edited = bench.slack.edit_as_user(INCIDENT_CHANNEL, original["ts"], "error rate 50%")
    send(bench, changed_event(edited, original))
    row = wait_for_row(bench.db, original["ts"], lambda r: r.edited_at is not None)
    assert row.text == "error rate 50%"
    assert row.edited_at == ts_to_datetime(edited["edited"]["ts"])

    # A change that only touches reply counts (someone replied) changes nothing...
    counted = {**edited, "reply_count": 1, "reply_users": [BOB], "latest_reply": "1.000001"}
    # ...and a late delivery of the original (a retry, an old history page) undoes nothing.
    send(bench, changed_event(counted, edited))
    send(bench, message_event(original))
    sentinel(bench)
    row = captured(bench.db)[original["ts"]]
    assert (row.text, row.edited_at) == ("error rate 50%", ts_to_datetime(edited["edited"]["ts"]))


def test_message_deleted_clears_it_and_nothing_revives_it(bench: Bench) -> None:
    declare(bench)
    files = [{"id": "F0GRAPH", "name": "latency.png", "title": "Latency"}]
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "see graph", files=files)
    send(bench, message_event({**message, "subtype": "file_share"}))
    stored = wait_for_row(bench.db, message["ts"])
    assert stored.file_names == ["latency.png"] and stored.subtype == "file_share"

    # Slack's history still has the message: as a backfill page fetched before the deletion
    # would, when it is stored after it.
    send(bench, deleted_event(message))
    row = wait_for_row(bench.db, message["ts"], lambda r: r.deleted_at is not None)
    assert (row.text, row.file_names) == ("", [])

    gap = backfill(bench.slack, bench.db, since=datetime.now(UTC) - timedelta(hours=1))
    assert gap.calls == 1 and gap.state is GapState.DONE
    send(bench, message_event(message))  # a late delivery of the message itself
    sentinel(bench)
    row = captured(bench.db)[message["ts"]]
    assert (row.text, row.file_names, row.deleted_at is not None) == ("", [], True)


def test_a_deletion_seen_before_the_message_still_wins(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "password is hunter2")
    send(bench, deleted_event(message))
    wait_for_row(bench.db, message["ts"], lambda r: r.deleted_at is not None)
    send(bench, message_event(message))
    sentinel(bench)
    row = captured(bench.db)[message["ts"]]
    assert (row.text, row.deleted_at is not None) == ("", True)


def test_messages_outside_incident_channels_are_not_stored(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(PRIVATE_CHANNEL, ALICE, "lunch?")
    send(bench, message_event(message, PRIVATE_CHANNEL), event_id="Ev0ELSEWHERE1")
    send(bench, deleted_event(message, PRIVATE_CHANNEL), event_id="Ev0ELSEWHERE2")
    sentinel(bench)
    assert captured(bench.db, PRIVATE_CHANNEL) == {}
    with bench.db.session() as session:
        claimed = session.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.like("Ev0ELSEWHERE%"))
        ).all()
        assert claimed == []  # nothing written at all


def test_housekeeping_is_skipped_and_every_kind_of_message_is_kept(bench: Bench) -> None:
    declare(bench)
    now = time.time()
    base = {"type": "message", "channel": INCIDENT_CHANNEL, "channel_type": "channel"}
    events = {
        "join": {**base, "subtype": "channel_join", "user": CAROL, "text": "<@U0CAROL> joined"},
        "bot": {
            **base,
            "subtype": "bot_message",
            "bot_id": "B0GRAFANA",
            "username": "grafana",
            "text": "[FIRING] checkout 5xx",
        },
        "me": {**base, "subtype": "me_message", "user": BOB, "text": "is paging the DBA"},
        "broadcast": {
            **base,
            "subtype": "thread_broadcast",
            "user": ALICE,
            "text": "mitigated, see thread",
            "thread_ts": f"{now - 60:.6f}",
        },
    }
    for offset, event in enumerate(events.values()):
        ts = f"{now + offset / 1000:.6f}"
        send(bench, {**event, "ts": ts, "event_ts": ts})
    kept = {"[FIRING] checkout 5xx", "is paging the DBA", "mitigated, see thread"}
    wait_until(lambda: kept <= {row.text for row in captured(bench.db).values()}, what=str(kept))
    sentinel(bench)  # the join was delivered before it: handled by now

    rows = {row.text: row for row in captured(bench.db).values()}
    assert "<@U0CAROL> joined" not in rows
    bot = rows["[FIRING] checkout 5xx"]
    assert (bot.subtype, bot.bot_id, bot.username, bot.user_id) == (
        "bot_message",
        "B0GRAFANA",
        "grafana",
        None,
    )
    assert rows["is paging the DBA"].subtype == "me_message"
    broadcast = rows["mitigated, see thread"]
    assert broadcast.subtype == "thread_broadcast" and broadcast.thread_ts == f"{now - 60:.6f}"


def test_events_are_acknowledged_before_they_are_stored(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "ack me")
    reply = bench.requests.event(message_event(message))
    assert reply.status == 200 and reply.body == ""
    assert reply.seconds < 0.5, f"ack took {reply.seconds:.2f}s"
    wait_for_row(bench.db, message["ts"])


def test_an_event_that_cannot_be_stored_is_not_acknowledged(bench: Bench) -> None:
    """Each event is stored before its ack: one that fails gets a 500 (Slack delivers it again,
    its claim rolled back), and the others around it are stored and acknowledged."""
    declare(bench)
    now = datetime.now(UTC)
    authors = {"Ev0GOOD1": ALICE, "Ev0BAD": "U" * 40, "Ev0GOOD2": BOB}  # ids are 32 at most
    statuses = {}
    for n, (event_id, author) in enumerate(authors.items()):
        ts = f"{now.timestamp() + n:.6f}"
        event = {"type": "message", "user": author, "text": event_id, "ts": ts}
        event = {**event, "channel": INCIDENT_CHANNEL, "channel_type": "channel"}
        statuses[event_id] = bench.requests.event(event, event_id=event_id).status

    texts = {row.text for row in captured(bench.db).values()}
    with bench.db.session() as session:
        claimed = set(session.scalars(select(ProcessedEvent.event_id)).all())
    assert statuses["Ev0GOOD1"] == statuses["Ev0GOOD2"] == 200
    assert {"Ev0GOOD1", "Ev0GOOD2"} <= texts and {"Ev0GOOD1", "Ev0GOOD2"} <= claimed
    if bench.db.dialect == "postgresql":  # SQLite does not enforce VARCHAR lengths
        assert statuses["Ev0BAD"] == 500
        # Not stored and not claimed either: Slack's retry of it is processed.
        assert "Ev0BAD" not in texts and "Ev0BAD" not in claimed


# --- backfill ---------------------------------------------------------------------------------


def backfill(
    slack: FakeSlack,
    db: Database,
    *,
    since: datetime,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    waits: list[float] | None = None,
) -> CaptureGap:
    """Record a gap from `since` to now and run its backfill job to the end, as the outbox
    workers would; each wait the job asks for (a 429's Retry-After) is noted, then skipped."""
    client = no_retry_client(slack)
    settings = sandbox_settings(slack, db.url)
    services = Services(settings=settings, db=db, clock=clock, workspaces=SingleWorkspace(client))
    with db.session() as session:
        gap_id = fill_gap(
            session,
            team_id=slack.team_id,
            channel_id=INCIDENT_CHANNEL,
            reason=GapReason.DOWNTIME,
            start_at=since,
            end_at=datetime.now(UTC),
            now=datetime.now(UTC),
        )
    assert gap_id is not None
    workers = OutboxWorkers(db, capture_flows.jobs(services))
    for _ in range(20):
        workers.run_pending()
        with db.session() as session:
            waiting = session.scalar(
                select(OutboxJob).where(OutboxJob.state == OutboxState.PENDING)
            )
            if waiting is None:
                break
            if waits is not None:
                waits.append(round((waiting.next_attempt_at - outbox.utc_now()).total_seconds()))
            waiting.next_attempt_at = outbox.utc_now()
    # (a running bench's own workers may have taken the job: wait for whoever has it)
    wait_until(lambda: _gap_state(db, gap_id) is not GapState.PENDING, what="the backfill")
    with db.read_session() as session:
        return session.get_one(CaptureGap, gap_id)


def _gap_state(db: Database, gap_id: int) -> GapState:
    with db.read_session() as session:
        return session.get_one(CaptureGap, gap_id).state


def test_backfill_pages_threads_and_resumes_after_a_429_from_the_same_cursor(
    slack: FakeSlack, db: Database
) -> None:
    for n in range(449):
        slack.post_as_user(INCIDENT_CHANNEL, ALICE, f"update {n}")
    parent = slack.post_as_user(INCIDENT_CHANNEL, BOB, "thread: root cause")
    for n in range(250):
        slack.post_as_user(INCIDENT_CHANNEL, CAROL, f"finding {n}", thread_ts=parent["ts"])

    waits: list[float] = []
    rate_limited = False

    def clock() -> datetime:
        # Called once per stored page: the first one arms two 429s for the next request,
        # so the rate limit hits in the middle of the history, with a cursor.
        nonlocal rate_limited
        if not rate_limited:
            slack.rate_limit("conversations.history", retry_after=7, times=2)
            rate_limited = True
        return datetime.now(UTC)

    gap = backfill(
        slack, db, since=datetime.now(UTC) - timedelta(hours=1), clock=clock, waits=waits
    )

    history = slack.calls_to("conversations.history")
    assert [c.status for c in history] == [200, 429, 429, 200, 200]
    cursors = [c.params.get("cursor") for c in history]
    assert cursors[0] is None and cursors[1] == cursors[2] == cursors[3] is not None
    assert cursors[4] not in (None, cursors[3])
    ok_cursors = [c.params.get("cursor") for c in history if c.status == 200]
    assert len(set(ok_cursors)) == len(ok_cursors) == 3  # no page fetched twice
    assert all(c.params["limit"] == "200" and c.params["oldest"] for c in history)
    assert all(c.params["latest"] for c in history)  # the gap's end: not what capture holds
    assert waits == [7, 7]  # Slack's Retry-After, each time
    replies = slack.calls_to("conversations.replies")
    assert [(c.params["ts"], c.status) for c in replies] == [(parent["ts"], 200)] * 2
    assert (gap.state, gap.fetched, gap.calls, gap.threads) == (GapState.DONE, 700, 5, [])

    rows = captured(db)
    assert len(rows) == 700
    assert rows[parent["ts"]].text == "thread: root cause"
    assert sum(1 for r in rows.values() if r.thread_ts == parent["ts"] and r.ts != r.thread_ts) == (
        250
    )
    again = backfill(slack, db, since=datetime.now(UTC) - timedelta(minutes=59))
    assert again.fetched == 0 and len(captured(db)) == 700  # idempotent


def test_backfill_keeps_to_its_rate_budget_and_resumes_from_its_cursor(
    slack: FakeSlack, db: Database
) -> None:
    """Slack's 2025 limits for apps outside the Marketplace: 1 history call a minute, 15
    messages a page. The job asks to wait for its budget instead of meeting 429s, and a restart
    (a new process: a new job attempt) resumes from the stored cursor."""
    for n in range(40):
        slack.post_as_user(INCIDENT_CHANNEL, ALICE, f"update {n}")
    settings = sandbox_settings(
        slack, db.url, slack_history_calls_per_minute=1, slack_history_page_size=15
    )
    client = no_retry_client(slack)
    services = Services(
        settings=settings,
        db=db,
        workspaces=SingleWorkspace(client),
        history_budget=RateBudget(1),
    )
    with db.session() as session:
        gap_id = fill_gap(
            session,
            team_id=slack.team_id,
            channel_id=INCIDENT_CHANNEL,
            reason=GapReason.DOWNTIME,
            start_at=datetime.now(UTC) - timedelta(hours=1),
            end_at=datetime.now(UTC),
            now=datetime.now(UTC),
        )
    OutboxWorkers(db, capture_flows.jobs(services)).run_pending()
    with db.session() as session:
        gap = session.get_one(CaptureGap, gap_id)
        job = session.scalar(select(OutboxJob).where(OutboxJob.state == OutboxState.PENDING))
        assert job is not None and job.attempts == 0  # waiting for budget is not a failure
        wait = (job.next_attempt_at - outbox.utc_now()).total_seconds()
        assert 50 < wait <= 61  # a minute, and the budget's second of margin
        assert (gap.calls, gap.fetched, gap.state) == (1, 15, GapState.PENDING)
        assert gap.cursor is not None
        job.next_attempt_at = outbox.utc_now()
    # "after a restart": fresh workers and a fresh budget, the same database
    restarted = Services(
        settings=settings, db=db, workspaces=SingleWorkspace(client), history_budget=RateBudget(1)
    )
    OutboxWorkers(db, capture_flows.jobs(restarted)).run_pending()
    history = slack.calls_to("conversations.history")
    assert len(history) == 2 and all(c.status == 200 for c in history)
    assert history[1].params["cursor"] == gap.cursor  # resumed where it stopped
    assert all(c.params["limit"] == "15" for c in history)
    assert len(captured(db)) == 30


def test_declare_backfills_the_leadup_window(bench: Bench) -> None:
    now = time.time()
    early = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "deploy 4.2", ts=f"{now - 7200:.6f}")
    recent = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "alerts!", ts=f"{now - 1800:.6f}")
    reply = bench.slack.post_as_user(
        INCIDENT_CHANNEL, CAROL, "on it", thread_ts=recent["ts"], ts=f"{now - 1700:.6f}"
    )

    just_before = declare(bench)  # default lead-up: 60 minutes before the declaration

    wait_for_row(bench.db, reply["ts"])  # replies are fetched last
    rows = captured(bench.db)
    assert rows[recent["ts"]].text == "alerts!"
    assert rows[reply["ts"]].thread_ts == recent["ts"]
    assert rows[just_before].user_id == ALICE
    announcement = bench.slack.calls_to("chat.postMessage")[0].response["ts"]
    assert announcement not in rows  # the bot's own messages are not the channel's story
    assert early["ts"] not in rows  # older than the lead-up window
    [history] = bench.slack.calls_to("conversations.history")
    assert ts_to_datetime(history.params["oldest"]) < ts_to_datetime(recent["ts"])


def test_declare_backfill_outlasts_the_clients_own_429_retries(bench: Bench) -> None:
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, ALICE, "before the declaration")
    # The client retries a 429 three times itself; the fourth escapes to the backfill loop.
    bench.slack.rate_limit("conversations.history", retry_after=0, times=5)
    reply, _ = bench.command("/incident", "declare Slow backfill")
    assert reply.status == 200 and reply.seconds < 2.5
    wait_for_row(bench.db, message["ts"])
    history = bench.slack.calls_to("conversations.history")
    assert [c.status for c in history] == [429] * 5 + [200]


def test_declare_says_so_when_the_history_cannot_be_read(bench: Bench) -> None:
    bench.slack.fail("conversations.history", "missing_scope")
    reply, response_url = bench.command("/incident", "declare No history")
    assert reply.status == 200
    text = bench.ephemeral_reply(response_url)["text"]
    assert "INC-1 is declared" in text and "`missing_scope`" in text
    assert "from now on are captured" in text
    assert bench.slack.wait_for("chat.postMessage")  # the announcement went out all the same


# --- pure parts -------------------------------------------------------------------------------


def test_ts_conversions_are_exact() -> None:
    moment = ts_to_datetime("1596183880.004200")
    assert moment == datetime(2020, 7, 31, 8, 24, 40, 4200, tzinfo=UTC)
    assert datetime_to_ts(moment) == "1596183880.004200"
    assert ts_to_datetime("1596183880") == datetime(2020, 7, 31, 8, 24, 40, tzinfo=UTC)


def test_interpretation_of_notifications_and_tombstones() -> None:
    parent_deleted = {
        "type": "message",
        "subtype": "message_changed",
        "channel": INCIDENT_CHANNEL,
        "message": {"type": "message", "subtype": "tombstone", "ts": "1.000100", "text": ""},
    }
    assert interpret_event(parent_deleted) == Delete(ts="1.000100", thread_ts=None)
    assert interpret_event({"type": "message", "subtype": "channel_leave", "ts": "1.2"}) is None
    replied = {"type": "message", "subtype": "message_replied", "message": {"ts": "1.3"}}
    assert interpret_event(replied) is None
    change = interpret_event({"type": "message", "ts": "1.5", "user": ALICE, "text": "hi"})
    assert isinstance(change, Upsert) and change.snapshot.text == "hi"
