"""Postmortem generation benchmark: `/postmortem generate` on the real path, against a
rate-limited Slack.

For each size, a throwaway database and a fake Slack channel are seeded with the same N
messages (one a second; every tenth starts a thread that gets a reply, some edited, some
deleted), an incident with 60 timeline events and 5 follow-ups, and then the real bot (the
production app and HTTP server, in this process) is sent a signed `/postmortem generate`. Slack
is the fake holding to Slack's published rate limits (`FakeSlack.enforce_rate_limits`: Tier 3
history and replies, Tier 2 canvases.create, chat.postMessage once a second per channel…).

Two scenarios:
- continuous: capture saw everything; generation should make no history call;
- gap: one hour in the middle of the incident was missed (no replica was capturing): the
  messages of that hour are only in Slack, and the bot's backfill fetches them in the
  background while generation goes ahead (the document says what is still being fetched).

Wall time is from the signed request to the "generated" reply on the response_url (the
canvas published and the version saved). Slack calls are counted at the fake. The rate limits
are enforced on a clock running `--speedup` times faster than real time (and the bot's
history budget is set to match), so filling a gap that takes minutes at Slack's pace takes
seconds here; the time to fill it is given both as measured and as Slack's pace (× speedup).
Apps outside the Marketplace (1 history call a minute, 15 messages a page) are projected from
the calls the gap needs, not run.

    python bench/generate.py                        # SQLite, 1,000 / 10,000 / 50,000
    python bench/generate.py --sizes 1000,10000 --runs 1
    python bench/generate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from _common import bot_process, cpu_seconds, label, temporary_database
from sqlalchemy import insert, select

from bot.app import create_bot
from bot.capture.flows import fill_gap
from bot.capture.gaps import GapReason
from bot.core.settings import Settings
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.services import Services
from bot.slack.budget import RateBudget
from bot.timeline.service import record_event
from bot.web.server import HttpServer, WebApp
from sandbox.harness import SIGNING_SECRET, sandbox_settings
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import SlackRequests
from storage.db import Database
from storage.models import (
    CapturedMessage,
    CaptureGap,
    EventKind,
    FollowUp,
    FollowUpStatus,
    GapState,
    IncidentStatus,
    Priority,
    SlackUser,
)

TEAM, CHANNEL = "T0001", "C0BENCH"
USERS = [f"U0USER{i:02d}" for i in range(20)]
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
GAP = timedelta(hours=1)
HISTORY = ("conversations.history", "conversations.replies")
MARKETPLACE_PER_MINUTE = 50  # Tier 3
OUTSIDE_PAGE = 15  # apps outside the Marketplace: 15 messages a page, 1 call a minute


@dataclass(frozen=True)
class Message:
    n: int
    ts: str
    at: datetime
    user: str
    text: str
    thread_ts: str | None
    edited: bool
    deleted: bool


def channel(messages: int) -> Iterator[Message]:
    base = int(T0.timestamp())
    parent: str | None = None
    for n in range(messages):
        ts = f"{base + 1 + n}.000100"
        reply = n % 10 == 9 and parent is not None
        yield Message(
            n=n,
            ts=ts,
            at=T0 + timedelta(seconds=1 + n, microseconds=100),
            user=USERS[n % 20],
            text=f"message {n} about <@{USERS[(n + 1) % 20]}> and checkout &amp; payments",
            thread_ts=parent if reply else None,
            edited=n % 50 == 0,
            deleted=n % 97 == 0 and n % 10 != 0,  # a parent deleted would leave a tombstone
        )
        if n % 10 == 0:
            parent = ts


def gap_window(messages: int) -> tuple[datetime, datetime]:
    # It starts inside a thread: its parent was captured, its reply is in the gap (found only
    # through the parent's `latest_reply`, on a history page from before the gap).
    start = T0 + timedelta(seconds=messages // 2 - 4)
    return start, min(start + GAP, T0 + timedelta(seconds=messages + 1))


def seed_database(db: Database, messages: int, missing: tuple[datetime, datetime] | None) -> None:
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(TEAM),
            channel_id=CHANNEL,
            channel_private=False,
            commander_id=USERS[0],
            title="Checkout returns 500s after deploy 4812",
            severity=None,
            now=T0,
        )
        for i, user in enumerate(USERS):
            session.add(
                SlackUser(
                    team_id=TEAM,
                    user_id=user,
                    name=f"user{i}",
                    real_name=f"User {i}",
                    tz="UTC",
                    fetched_at=T0,
                )
            )
        kinds = list(EventKind)[:5]
        for i in range(60):
            record_event(
                session,
                incident,
                kind=kinds[i % 5],
                text=f"event {i}: checked shard {i}",
                author_id=USERS[i % 20],
                occurred_at=T0 + timedelta(minutes=i),
                now=T0,
            )
        for n in range(1, 6):
            session.add(
                FollowUp(
                    team_id=TEAM,
                    incident_id=incident.id,
                    number=n,
                    title=f"Fix thing {n}",
                    description="",
                    owner_id=USERS[n],
                    due_date=date(2026, 12, n),
                    priority=Priority.P2,
                    status=FollowUpStatus.OPEN,
                    created_by=USERS[0],
                    created_at=T0,
                    updated_at=T0,
                )
            )
        resolved = T0 + timedelta(seconds=messages + 60)
        change_status(session, incident, IncidentStatus.RESOLVED, by=USERS[0], now=resolved)
    rows = [
        {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "ts": m.ts,
            "thread_ts": m.thread_ts,
            "posted_at": m.at,
            "user_id": m.user,
            "text": m.text,
            "file_names": [],
            "edited_at": m.at if m.edited else None,
            "deleted_at": m.at if m.deleted else None,
            "captured_at": m.at,
        }
        for m in channel(messages)
        if missing is None or not missing[0] <= m.at < missing[1]
    ]
    with db.session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(CapturedMessage), rows[start : start + 5000])


def seed_slack(slack: FakeSlack, messages: int) -> None:
    for user in USERS:
        slack.add_user(user, user.lower())
    slack.add_channel("inc-bench", channel_id=CHANNEL, members=USERS)
    slack.seed_history(
        CHANNEL, ((m.ts, m.user, m.text, m.thread_ts) for m in channel(messages) if not m.deleted)
    )


@dataclass
class Outcome:
    times: list[float]
    cpu: list[float]
    history_calls: int  # answered 200
    refused: int  # 429s
    refused_methods: str = ""
    gap_messages: int = 0
    gap_seconds: float = 0.0  # measured, on the sped-up clock
    calls_outside_gap: int = 0
    parent_pages: int = 0  # history pages that also read the parents from before the gap
    outside_marketplace_calls: int = 0  # what the gap needs at 15 a page


def generate_once(
    slack: FakeSlack, requests: SlackRequests, pid: int | None = None, timeout: float = 300.0
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the bot's process) of one generation (in this process,
    the fake's CPU is counted too)."""
    url = slack.new_response_url()
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    reply = requests.slash_command(
        "/postmortem",
        "generate --force",
        user_id=USERS[0],
        channel_id=CHANNEL,
        response_url=url,
    )
    if reply.status != 200:
        raise SystemExit(f"/postmortem generate answered HTTP {reply.status}: {reply.body}")
    deadline = started + timeout
    while time.perf_counter() < deadline:
        posts = slack.response_posts(url)
        if posts:
            elapsed = time.perf_counter() - started
            text = str(posts[0].get("text", ""))
            if "INC-1" not in text or "couldn't" in text.lower():
                raise SystemExit(f"generation did not succeed: {text}")
            return elapsed, cpu_seconds(pid) - cpu
        time.sleep(0.002)
    raise SystemExit(f"no answer to /postmortem generate within {timeout:.0f} s")


class ScaledBudget(RateBudget):
    """The bot's history budget on the benchmark's sped-up clock: it counts in Slack's time,
    and the waits it asks for are real ones."""

    def __init__(self, per_minute: float, speedup: float, clock: Callable[[], float]) -> None:
        super().__init__(per_minute, clock=clock)
        self._speedup = speedup

    def take(self, team_id: str, method: str) -> float:
        return super().take(team_id, method) / self._speedup


@contextmanager
def serving(
    slack: FakeSlack, db: Database, budget: RateBudget
) -> Iterator[tuple[SlackRequests, int | None]]:
    """The production app and HTTP server in this process (as sandbox.harness.running_bot),
    with the benchmark's history budget."""
    settings = sandbox_settings(
        slack,
        db.url,
        scheduler_first_run_seconds=3600,
    )
    bot = create_bot(Services(settings=settings, db=db, history_budget=budget))
    server = HttpServer(
        WebApp(bot.app, db, signing_secret=SIGNING_SECRET),
        host="127.0.0.1",
        port=0,
        threads=8,
        on_drained=bot.close,
    ).start_in_background()
    try:
        yield SlackRequests(server.url, SIGNING_SECRET, team_id=slack.team_id), None
    finally:
        server.stop()


@contextmanager
def bot_in_process_of_its_own(
    slack: FakeSlack, db: Database
) -> Iterator[tuple[SlackRequests, int | None]]:
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        SLACK_RESPONSE_URL_HOSTS="hooks.slack.com,http://127.0.0.1",
        DATABASE_URL=db.url,
        LOG_LEVEL="WARNING",
        SCHEDULER_FIRST_RUN_SECONDS="3600",
        SLOW_WORK_PROCESS=os.environ.get("BENCH_SLOW_WORK_PROCESS", "true"),
    )
    with bot_process(env) as (url, pid):
        yield SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id), pid


def measure(url: str | None, messages: int, *, gap: bool, runs: int, speedup: float) -> Outcome:
    missing = gap_window(messages) if gap else None
    with temporary_database(url) as db, FakeSlack(team_id=TEAM) as slack:
        seed_slack(slack, messages)
        seed_database(db, messages, missing)
        if missing is not None:
            with db.session() as session:
                fill_gap(
                    session,
                    team_id=TEAM,
                    channel_id=CHANNEL,
                    reason=GapReason.DOWNTIME,
                    start_at=missing[0],
                    end_at=missing[1],
                    now=datetime.now(UTC),
                )
        start = time.monotonic()

        def slack_time() -> float:
            return start + (time.monotonic() - start) * speedup

        slack.enforce_rate_limits(clock=slack_time, speedup=speedup)
        slack.reset_calls()
        budget = ScaledBudget(MARKETPLACE_PER_MINUTE, speedup, slack_time)
        # Continuous capture: the bot in a process of its own, as in production. With a gap,
        # in this process: its history budget must run on the fake's sped-up clock.
        started = datetime.now(UTC)
        bot = serving(slack, db, budget) if gap else bot_in_process_of_its_own(slack, db)
        with bot as (requests, pid):
            runs_made = [generate_once(slack, requests, pid) for _ in range(runs)]
            outcome = Outcome(
                times=[wall for wall, _ in runs_made],
                cpu=[cpu for _, cpu in runs_made],
                history_calls=0,
                refused=0,
            )
            if missing is not None:
                outcome.gap_seconds = wait_for_gap(db, started)
        calls = [c for c in slack.calls if c.method in HISTORY]
        outcome.history_calls = sum(1 for c in calls if c.status == 200)
        refused = [c.method for c in slack.calls if c.status == 429]
        outcome.refused = len(refused)
        outcome.refused_methods = ",".join(sorted(set(refused)))
        if missing is not None:
            inside = [m for m in channel(messages) if missing[0] <= m.at < missing[1]]
            outcome.gap_messages = len(inside)
            scans = [c for c in calls if reads_parents_before(c.params, missing)]
            outcome.parent_pages = len(scans)
            outcome.calls_outside_gap = sum(
                1 for c in calls if not within(c.params, missing) and c not in scans
            )
            # Parents read: those since the lead-up (all of this channel's) up to the gap's end.
            top = sum(1 for m in channel(messages) if m.thread_ts is None and m.at < missing[1])
            threads = len({m.thread_ts for m in inside if m.thread_ts is not None})
            outcome.outside_marketplace_calls = math.ceil(top / OUTSIDE_PAGE) + threads
        return outcome


def within(params: dict[str, object], window: tuple[datetime, datetime]) -> bool:
    """Whether a history/replies call asked only about the gap (a replies call: for the
    thread's messages since the gap began; the later ones were captured live)."""
    low, high = (w.timestamp() for w in window)
    oldest, latest = float(str(params.get("oldest", 0))), float(str(params.get("latest", 1e12)))
    return low - 1 <= oldest and ("ts" in params or latest <= high + 1)


def reads_parents_before(params: dict[str, object], window: tuple[datetime, datetime]) -> bool:
    """A history page that also reads the thread parents posted before the gap (since the
    incident's lead-up): the only way to learn which earlier threads got replies during it."""
    low, high = (w.timestamp() for w in window)
    oldest, latest = float(str(params.get("oldest", 0))), float(str(params.get("latest", 1e12)))
    return "ts" not in params and oldest < low - 1 and latest <= high + 1


def wait_for_gap(db: Database, since: datetime, timeout: float = 600.0) -> float:
    """Seconds from `since` (the bot's start) until the last gap was filled."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with db.session() as session:
            gaps = session.scalars(select(CaptureGap)).all()
        if gaps and all(g.state is not GapState.PENDING for g in gaps):
            ends = [g.finished_at for g in gaps if g.finished_at is not None]
            return (max(ends) - since).total_seconds() if ends else 0.0
        time.sleep(0.05)
    raise SystemExit("the gap was not filled in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--runs", type=int, default=3, help="generations per size (median)")
    parser.add_argument("--speedup", type=float, default=60.0, help="the rate limits' clock")
    parser.add_argument("--scenarios", default="continuous,gap")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    load = os.getloadavg()[0]
    print(
        f"/postmortem generate on {label(args.database_url)}, real path, rate-limited fake "
        f"Slack (clock x{args.speedup:g}); load average {load:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'messages':>9} {'scenario':>10} {'median':>8} {'min':>8} {'CPU':>8} "
        f"{'history+replies':>16} "
        f"{'429s':>5}  gap"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        for scenario in args.scenarios.split(","):
            gap = scenario == "gap"
            result = measure(args.database_url, size, gap=gap, runs=args.runs, speedup=args.speedup)
            note = ""
            if gap:
                pace = result.gap_seconds * args.speedup / 60
                note = (
                    f"{result.gap_messages:,} messages missed; "
                    f"filled in {result.gap_seconds:.1f} s "
                    f"(~{pace:.1f} min at Tier 3), {result.calls_outside_gap} calls outside it "
                    f"({result.parent_pages} history pages also read the parents before it); "
                    f"outside the Marketplace: {result.outside_marketplace_calls} calls "
                    f"(~{result.outside_marketplace_calls / 60:.1f} h)"
                )
            print(
                f"{size:>9,} {scenario:>10} {statistics.median(result.times) * 1000:>6.0f}ms "
                f"{min(result.times) * 1000:>6.0f}ms "
                f"{statistics.median(result.cpu) * 1000:>6.0f}ms "
                f"{result.history_calls:>16} "
                f"{result.refused:>5}  {note}"
                + (f" (429s: {result.refused_methods})" if result.refused else "")
            )


if __name__ == "__main__":
    main()
