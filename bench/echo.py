"""Echo benchmark: the CPU one echo (a `/timeline <text>` posted back into its channel) costs
the outbox worker that runs it: its claim, the `chat.postMessage`, and its finish.

Under load the echoes wait for the acks (work after an ack goes after acks' writes), but each
one still runs on the serving process's interpreter: what it costs is taken from the requests
acknowledged meanwhile. Posts of one channel are written down, then one worker thread runs
them all through the real path (bot.core.outbox_worker, bot.slack.posting, slack-sdk) against
the fake Slack; its thread's CPU is counted (the fake's threads are not). Median of 3 rounds
after a warm-up round.

    python bench/echo.py
    python bench/echo.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import label, temporary_database

from bot.core import outbox
from bot.core.outbox_worker import OutboxWorkers
from bot.slack import posting
from bot.slack.client import InstrumentedWebClient, retry_handlers
from sandbox.slack.fake import FakeSlack
from storage.db import Database

CHANNEL = "C0ECHO"
BLOCKS = [
    {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "INC-1 timeline: *Dec 1 05:00 UTC* · note"}],
    }
]


def one_round(db: Database, workers: OutboxWorkers, echoes: int, tag: str) -> tuple[float, float]:
    """(worker CPU ms, wall ms) per echo for `echoes` posts queued in one channel."""
    with db.session() as session:
        for n in range(echoes):
            posting.enqueue_post(
                session,
                team_id="T0ECHO",
                channel=CHANNEL,
                text=f"INC-1 timeline: echo {tag} {n}",
                blocks=BLOCKS,
                reply_to="https://hooks.slack.com/commands/T0ECHO/1/x",
                what="the timeline event in the channel",
            )
        session.info.pop("outbox_lanes", None)  # no worker threads here to wake
    cpu, wall = time.thread_time(), time.perf_counter()
    ran = workers.run_pending(outbox.Lane.FAST)
    if ran != echoes:
        raise SystemExit(f"ran {ran} of {echoes} echoes")
    return (
        (time.thread_time() - cpu) * 1000 / echoes,
        (time.perf_counter() - wall) * 1000 / echoes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (fresh schema)")
    parser.add_argument("--echoes", type=int, default=600, help="echoes per round")
    args = parser.parse_args()
    with temporary_database(args.database_url) as db, FakeSlack() as slack:
        slack.add_user("U0ALICE", "alice")
        slack.add_channel("inc-echo", members=["U0ALICE"], channel_id=CHANNEL)
        client = InstrumentedWebClient(
            token=slack.bot_token, base_url=slack.api_url, retry_handlers=retry_handlers()
        )
        workers = OutboxWorkers(db, posting.jobs(lambda _team: client), threads={})
        one_round(db, workers, args.echoes // 4, "warm-up")
        rounds = [one_round(db, workers, args.echoes, str(n)) for n in range(3)]
        cpu = statistics.median(r[0] for r in rounds)
        wall = statistics.median(r[1] for r in rounds)
        started = time.thread_time()
        for n in range(args.echoes):
            client.chat_postMessage(channel=CHANNEL, text=f"alone {n}", blocks=BLOCKS)
        post = (time.thread_time() - started) * 1000 / args.echoes
    print(
        f"database {label(args.database_url)}: one echo costs its worker {cpu:.2f} ms of CPU "
        f"({wall:.2f} ms wall), of which chat.postMessage alone {post:.2f} ms "
        f"(median of 3 rounds of {args.echoes})"
    )


if __name__ == "__main__":
    main()
