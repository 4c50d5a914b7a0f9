"""What `/timeline <text>` costs on one thread, in CPU: its listener's write before the ack
(bot.timeline.flows.log_event: the incident, the event, its echo job, once per trigger), and
its echo after it (the outbox worker's claim, the `chat.postMessage`, the finish).

Both run on the serving process's interpreter, which is what runs out first under load
(bench/ack.py); under load the echoes wait for the acks, but what they cost is still taken
from the requests acknowledged meanwhile. The echoes of one channel are written down, then one
worker thread runs them all through the real path (bot.core.outbox_worker, bot.slack.posting,
slack-sdk) against the fake Slack; only the thread doing the work is counted (not the fake's).
Median of 3 rounds after a warm-up round.

    python bench/timeline_costs.py
    python bench/timeline_costs.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import label, temporary_database
from slack_sdk import WebClient

from bot.core import outbox
from bot.core.outbox_worker import OutboxWorkers
from bot.incidents.service import Workspace, declare_incident
from bot.services import Services
from bot.slack import posting
from bot.slack.client import InstrumentedWebClient, retry_handlers
from bot.slack.origin import Origin
from bot.slack.workspaces import SingleWorkspace
from bot.timeline import flows
from bot.timeline.commands import LogEvent, parse_timeline_command
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database

TEAM = "T0ECHO"
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
                team_id=TEAM,
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


def listener_round(services: Services, client: WebClient, commands: int, tag: str) -> float:
    """The listener's write (CPU ms) per `/timeline <text>`, each with a trigger of its own."""
    origin = Origin(team_id=TEAM, channel_id=CHANNEL, user_id="U0ALICE")
    parsed = [parse_timeline_command(f"echo {tag} {n}") for n in range(commands)]
    cpu = time.thread_time()
    for n, command in enumerate(parsed):
        assert isinstance(command, LogEvent)
        flows.log_event(
            services,
            client,  # asked only for a time of day: not here
            origin,
            command,
            trigger_id=f"{tag}.{n}",
            reply_to="https://hooks.slack.com/commands/T0ECHO/1/x",
        )
    return (time.thread_time() - cpu) * 1000 / commands


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
        services = Services(
            settings=sandbox_settings(slack, db.url), db=db, workspaces=SingleWorkspace(client)
        )
        with db.session() as session:
            declare_incident(
                session,
                workspace=Workspace(TEAM),
                channel_id=CHANNEL,
                channel_private=False,
                commander_id="U0ALICE",
                title="Costs",
                severity=None,
                now=outbox.utc_now(),
            )
        listener_round(services, client, args.echoes // 4, "warm-up")
        listener = statistics.median(
            listener_round(services, client, args.echoes, str(n)) for n in range(3)
        )
        workers = OutboxWorkers(db, posting.jobs(lambda _team: client), threads={})
        workers.run_pending(outbox.Lane.FAST)  # the listener's echoes: the warm-up
        rounds = [one_round(db, workers, args.echoes, str(n)) for n in range(3)]
        cpu = statistics.median(r[0] for r in rounds)
        wall = statistics.median(r[1] for r in rounds)
        started = time.thread_time()
        for n in range(args.echoes):
            client.chat_postMessage(channel=CHANNEL, text=f"alone {n}", blocks=BLOCKS)
        post = (time.thread_time() - started) * 1000 / args.echoes
    print(
        f"database {label(args.database_url)}: the listener's write costs {listener:.2f} ms of "
        f"CPU per /timeline <text>; one echo costs its worker {cpu:.2f} ms "
        f"({wall:.2f} ms wall), of which chat.postMessage alone {post:.2f} ms "
        f"(median of 3 rounds of {args.echoes})"
    )


if __name__ == "__main__":
    main()
