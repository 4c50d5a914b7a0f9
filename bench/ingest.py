"""Ingest benchmark: how fast the bot acknowledges and stores a burst of message events.

Starts the fake Slack and the real bot over real HTTP in this process (as the test bench
does), declares an incident, sends N signed `message` events from a thread pool, and prints
events/s with ack latency percentiles, then the time until every message was in the database.

    python bench/ingest.py --events 3000 --concurrency 8
    python bench/ingest.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

A PostgreSQL run uses a fresh schema of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from _common import percentile, temporary_database
from sqlalchemy import func, select

from bot.core.logs import configure_logging
from sandbox.harness import running_bot
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import Reply, SlackRequests
from storage.db import Database
from storage.models import CapturedMessage

CHANNEL = "C0BENCH"
USERS = ("U0ALICE", "U0BOB", "U0CAROL")
TARGET_EVENTS_PER_SECOND = 300
TARGET_P99_ACK_MS = 100


@dataclass
class Running:
    slack: FakeSlack
    db: Database
    requests: SlackRequests


@contextmanager
def bench_bot(db: Database, threads: int) -> Iterator[Running]:
    with FakeSlack() as slack:
        for user in USERS:
            slack.add_user(user, user.lower())
        slack.add_channel("inc-bench", members=USERS, channel_id=CHANNEL)
        with running_bot(slack, db, threads=threads) as bot:
            yield Running(slack, db, bot.requests)


def stored(db: Database) -> int:
    with db.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(CapturedMessage)
            .where(CapturedMessage.channel_id == CHANNEL)
        )
        return int(count or 0)


def wait_until_stored(db: Database, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while stored(db) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def declare(bot: Running) -> None:
    # A person's message just before: the backfill after the declaration stores it, which
    # tells us that backfill is over (the bot's own announcement is not captured).
    bot.slack.post_as_user(CHANNEL, USERS[0], "declaring an incident for the benchmark")
    reply = bot.requests.slash_command(
        "/incident",
        "declare Ingest benchmark",
        user_id=USERS[0],
        channel_id=CHANNEL,
        response_url=bot.slack.new_response_url(),
    )
    if reply.status != 200:
        raise SystemExit(f"declaring the incident failed: HTTP {reply.status} {reply.body}")
    bot.slack.wait_for("chat.postMessage", timeout=10)
    if not wait_until_stored(bot.db, 1, timeout=10):
        raise SystemExit("the backfill after declaring never finished")


def message_event(n: int, base_micros: int) -> dict[str, object]:
    # Integer microseconds: float arithmetic would round some neighbours onto the same ts.
    micros = base_micros + n
    ts = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
    return {
        "type": "message",
        "user": USERS[n % len(USERS)],
        "text": f"bench message {n}: p99 latency is up on /checkout",
        "ts": ts,
        "team": "T0001",
        "client_msg_id": uuid.uuid4().hex,
        "channel": CHANNEL,
        "event_ts": ts,
        "channel_type": "channel",
    }


def run(events: int, concurrency: int, database_url: str | None, threads: int) -> bool:
    label = "PostgreSQL" if database_url else "SQLite (temporary file)"
    with temporary_database(database_url) as db, bench_bot(db, threads) as bot:
        declare(bot)
        baseline = stored(db)
        base_micros = time.time_ns() // 1000 - 60_000_000

        def deliver(n: int) -> Reply:
            return bot.requests.event(message_event(n, base_micros), event_id=f"EvBENCH{n:08d}")

        def command_during_burst() -> Reply:
            # A person runs a command while the events pour in: it must be acked in time too.
            time.sleep(min(2.0, events / 1000))
            return bot.requests.slash_command(
                "/incident",
                "status",
                user_id=USERS[1],
                channel_id=CHANNEL,
                response_url=bot.slack.new_response_url(),
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency + 1) as pool:
            command = pool.submit(command_during_burst)
            replies = list(pool.map(deliver, range(events), chunksize=1))
        acked = time.perf_counter() - started
        command_reply = command.result()
        complete = wait_until_stored(db, baseline + events, timeout=max(60.0, events / 10))
        stored_after = time.perf_counter() - started

        failures = [r for r in replies if r.status != 200]
        latencies = [r.seconds * 1000 for r in replies]
        rate = events / acked
        p50, p95, p99 = (percentile(latencies, p) for p in (50, 95, 99))
        print(f"{label}: {events} events, {concurrency} senders, {threads} server threads")
        print(f"  acked:  {rate:7.0f} events/s in {acked:.2f}s, {len(failures)} non-200 answers")
        print(
            f"  ack latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  "
            f"max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}"
        )
        print(
            f"  a slash command sent during the burst: HTTP {command_reply.status}, "
            f"acked in {command_reply.seconds * 1000:.0f} ms (Slack gives up at 3000 ms)"
        )
        if complete:
            print(
                f"  stored: all {events} in {stored_after:.2f}s after the first send "
                f"({events / stored_after:.0f} events/s end to end)"
            )
        else:
            print(f"  stored: only {stored(db) - baseline} of {events} in {stored_after:.0f}s")
        met = (
            rate >= TARGET_EVENTS_PER_SECOND
            and p99 < TARGET_P99_ACK_MS
            and not failures
            and command_reply.status == 200
            and command_reply.seconds < 3
        )
        print(
            f"  target (>= {TARGET_EVENTS_PER_SECOND} events/s, p99 ack < "
            f"{TARGET_P99_ACK_MS} ms): {'met' if met and complete else 'MISSED'}"
        )
        return met and complete


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000, help="message events to send")
    parser.add_argument("--concurrency", type=int, default=8, help="parallel senders")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (a fresh schema is used and dropped); default: a temporary SQLite",
    )
    parser.add_argument("--threads", type=int, default=8, help="HTTP server threads")
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # backlog notes, not errors
    ok = run(args.events, args.concurrency, args.database_url, args.threads)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
