"""Ack benchmark: how long a slash command waits for its HTTP 200 under 1, 10 and 50
concurrent clients, for the real bot and for a bare Bolt app that only acks.

Both are served the same way, each as its own process, by the production HTTP server
(bot.server.HttpServer: waitress with the same threads and limits): (a) the real bot exactly as
`postmortem-bot run` serves it (`python -m bot run`), with `/timeline <text>` in an incident
channel (the event stored, then the ack, then the echo posted by the same process) and with
`/timeline help` (the usage is the ack itself: the request path alone); (b) a Bolt app whose
only listener acks `/timeline`. Slack is the fake, in this process. The ratio (a)/(b) is what
the bot costs on top of Bolt and waitress; Slack gives up on an ack after 3000 ms. About 45 s.

    python bench/ack.py
    python bench/ack.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/ack.py --threads 16 --requests 200
    python bench/ack.py --one-process   # SLOW_WORK_PROCESS=false: generation in the same process

A PostgreSQL run uses a fresh schema of its own and drops it at the end.

Two more loads on the real bot (issue 15: slow work must never delay an ack):
- dead response_urls: follow-up buttons (the listener confirms privately after the ack) whose
  response_url is a host that takes the connection and never answers;
- during a generation: `/timeline <text>` while `/postmortem generate` of a 10,000-message
  channel runs again and again in the same bot.
Each p50 is also given over the bare Bolt app's /timeline p50 at the same concurrency.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import generate as generation
from _common import (
    bot_process,
    cpu_seconds,
    database_cpu_seconds,
    label,
    machine_idle,
    percentile,
    server_process,
    temporary_database,
)

from bot.core.errors import DATABASE_UNAVAILABLE, SAVE_UNKNOWN
from bot.core.settings import Settings
from handlers.errors import APOLOGY
from sandbox.harness import SIGNING_SECRET
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import SlackRequests
from storage.db import Database

CLIENTS = (1, 10, 50)
CHANNEL = "C0BENCH"
USER = "U0ALICE"
HERE = Path(__file__).resolve()
DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}


@dataclass
class Level:
    clients: int
    latencies_ms: list[float]
    failures: int
    seconds: float
    cpu_ms: float = float("nan")  # the server's CPU per request, work after the ack included
    database_ms: float = float("nan")  # this machine's PostgreSQL's CPU per request
    load_ms: float = float("nan")  # this process's (the clients' and fake Slack's) per request
    idle: float = float("nan")  # the machine's idle share while the clients were sending

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def bot_env(slack: FakeSlack, database_url: str, threads: int) -> dict[str, str]:
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=database_url,
        HTTP_THREADS=str(threads),
        LOG_LEVEL="WARNING",
        SCHEDULER_FIRST_RUN_SECONDS="3600",  # no reminder sweep during the measurement
        SLACK_RESPONSE_URL_HOSTS="hooks.slack.com,http://127.0.0.1",  # the fake's, a dead one
        SLOW_WORK_PROCESS=os.environ.get("BENCH_SLOW_WORK_PROCESS", "true"),
    )
    return env


Send = Callable[[int, int], Any]  # (clients, n) -> a Reply
REFUSALS = (DATABASE_UNAVAILABLE, SAVE_UNKNOWN, APOLOGY)


def refused(status: int, body: str) -> bool:
    """Not acknowledged, or acknowledged with an apology (the database did not answer in time,
    say): an HTTP 200 that tells the person nothing was saved is a failure too."""
    return status != 200 or any(text in body for text in REFUSALS)


def measure(
    requests: SlackRequests,
    slack: FakeSlack,
    clients: int,
    total: int,
    tag: str,
    send: Send | None = None,
    user: str = USER,
) -> Level:
    def one(n: int) -> tuple[bool, float]:
        if send is not None:
            reply = send(clients, n)
        else:
            reply = requests.slash_command(
                "/timeline",
                "help" if tag == "help" else f"bench {tag} {clients} {n}",
                user_id=user,
                channel_id=CHANNEL,
                response_url=slack.new_response_url(),
            )
        return refused(reply.status, reply.body), reply.seconds * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    seconds = time.perf_counter() - started
    return Level(
        clients=clients,
        latencies_ms=[ms for _, ms in results],
        failures=sum(1 for failed, _ in results if failed),
        seconds=seconds,
    )


def run_levels(
    url: str,
    slack: FakeSlack,
    requests_per_level: int,
    tag: str,
    *,
    settle: bool,
    send: Send | None = None,
    user: str = USER,
    pid: int | None = None,
) -> list[Level]:
    """Each level's latencies and, given the server's `pid`, its CPU per request: from the
    level's start until (with `settle`) its echoes are posted."""
    requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
    measure(requests, slack, 4, 20, f"{tag}-warmup", send, user)  # first-request costs
    levels = []
    for clients in CLIENTS:
        total = max(requests_per_level, clients * 10)
        if settle:
            wait_for_echoes(slack)
        before = cpu_seconds(pid) if pid is not None else 0.0
        database, load, (idle, ticks) = database_cpu_seconds(), cpu_seconds(), machine_idle()
        level = measure(requests, slack, clients, total, tag, send, user)
        idle_after, ticks_after = machine_idle()
        level.idle = (idle_after - idle) / max(ticks_after - ticks, 1)
        if settle:
            wait_for_echoes(slack)
        per_request = 1000 / len(level.latencies_ms)
        level.database_ms = (database_cpu_seconds() - database) * per_request
        level.load_ms = (cpu_seconds() - load) * per_request
        if pid is not None:
            level.cpu_ms = (cpu_seconds(pid) - before) * per_request
        levels.append(level)
    return levels


def wait_for_echoes(slack: FakeSlack, timeout: float = 60) -> None:
    """Let the real bot finish the work the previous level started (one echo per command)."""
    deadline = time.monotonic() + timeout
    expected = -1
    while time.monotonic() < deadline:
        echoes = len(slack.calls_to("chat.postMessage"))
        if echoes == expected:
            return
        expected = echoes
        time.sleep(0.3)


def real_bot(
    db: Database, threads: int, requests_per_level: int
) -> tuple[list[Level], list[Level]]:
    """The bot with `/timeline <text>` (store, ack, then echo), and with `/timeline help`
    (the usage is the ack itself: the request path alone, no work after it)."""
    with FakeSlack() as slack:
        slack.add_user(USER, "alice")
        slack.add_channel("inc-bench", members=[USER], channel_id=CHANNEL)
        with bot_process(bot_env(slack, db.url, threads)) as (url, pid):
            requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
            declared = requests.slash_command(
                "/incident",
                "declare Ack benchmark",
                user_id=USER,
                channel_id=CHANNEL,
                response_url=slack.new_response_url(),
            )
            if declared.status != 200:
                raise SystemExit(f"declaring the incident failed: HTTP {declared.status}")
            slack.wait_for("chat.postMessage", timeout=15)
            work = run_levels(url, slack, requests_per_level, "bot", settle=True, pid=pid)
            usage = run_levels(url, slack, requests_per_level, "help", settle=False, pid=pid)
            return work, usage


@contextmanager
def black_hole() -> Iterator[str]:
    """A response_url host that takes connections and never answers (a frozen host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/response"
    finally:
        server.close()


def dead_response_urls(db: Database, threads: int, requests_per_level: int) -> list[Level]:
    """Follow-up buttons whose response_url never answers: each click is saved, acknowledged,
    then confirmed privately to that URL (on the bot's reply threads, 3 s timeout)."""
    with FakeSlack() as slack, black_hole() as dead:
        slack.add_user(USER, "alice")
        slack.add_channel("inc-bench", members=[USER], channel_id=CHANNEL)
        with bot_process(bot_env(slack, db.url, threads)) as (url, pid):
            requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
            texts = ["declare Ack benchmark", *[f"Follow-up {n}" for n in range(10)]]
            for text in texts:
                requests.slash_command(
                    "/incident" if text.startswith("declare") else "/followup",
                    text,
                    user_id=USER,
                    channel_id=CHANNEL,
                    response_url=slack.new_response_url(),
                )
            announcements = wait_for_announcements(slack, 10)

            def click(clients: int, n: int) -> Any:
                message = announcements[n % len(announcements)]
                actions = next(b for b in message["blocks"] if b["type"] == "actions")
                item = str(actions["elements"][0]["value"]).split(":")[0]
                status = "in_progress" if (n // len(announcements)) % 2 == 0 else "open"
                return requests.block_action(
                    f"followup_status:{status}",
                    f"{item}:{status}",
                    user_id=USER,
                    channel_id=CHANNEL,
                    message=message,
                    block_id=actions["block_id"],
                    response_url=f"{dead}/{clients}/{n}",
                )

            return run_levels(
                url, slack, requests_per_level, "dead", settle=False, send=click, pid=pid
            )


def wait_for_announcements(slack: FakeSlack, count: int, timeout: float = 60) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            m
            for m in slack.messages(CHANNEL)
            if any(b.get("type") == "actions" for b in m.get("blocks") or [])
        ]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise SystemExit("the follow-ups were not announced")


def during_generation(
    database_url: str | None, threads: int, requests_per_level: int, size: int = 10_000
) -> tuple[list[Level], int]:
    """`/timeline <text>` while a 10,000-message postmortem is generated over and over."""
    with temporary_database(database_url) as db, FakeSlack(team_id=generation.TEAM) as slack:
        generation.seed_slack(slack, size)
        generation.seed_database(db, size, None)
        env = bot_env(slack, db.url, threads)
        with bot_process(env) as (url, _pid):
            requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
            stop = threading.Event()
            made = [0]
            failures: list[str] = []

            def generate_again_and_again() -> None:
                while not stop.is_set():
                    try:
                        generation.generate_once(slack, requests)
                        made[0] += 1
                    except SystemExit as refused:
                        failures.append(str(refused))
                        time.sleep(0.5)  # "already being generated": ask again

            worker = threading.Thread(target=generate_again_and_again, daemon=True)
            worker.start()
            try:
                time.sleep(1.0)  # the first generation is under way
                levels = run_levels(
                    url, slack, requests_per_level, "busy", settle=False, user=generation.USERS[0]
                )
            finally:
                stop.set()
                worker.join(timeout=120)
            if failures:
                print(f"generations refused: {len(failures)}, e.g. {failures[0]}")
            return levels, made[0]


def bare_bolt(threads: int, requests_per_level: int) -> list[Level]:
    with FakeSlack() as slack:

        def command(port: int) -> list[str]:
            return [
                sys.executable,
                str(HERE),
                "--serve-bare",
                str(port),
                "--slack-api-url",
                slack.api_url,
                "--threads",
                str(threads),
            ]

        with server_process(command, dict(os.environ)) as (url, pid):
            return run_levels(url, slack, requests_per_level, "bare", settle=False, pid=pid)


def serve_bare(port: int, api_url: str, threads: int) -> None:
    """(b): Bolt with one listener that only acks, behind the same server and settings."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.wsgi import SlackRequestHandler
    from slack_sdk import WebClient

    from bot.web.server import HttpServer

    app = App(
        client=WebClient(token="xoxb-test-token", base_url=api_url),
        signing_secret=SIGNING_SECRET,
        token_verification_enabled=False,
        process_before_response=False,
    )

    @app.command("/timeline")
    def timeline_command(ack: Ack) -> None:
        ack()

    server = HttpServer(
        SlackRequestHandler(app, path="/slack/events"),
        host="127.0.0.1",
        port=port,
        threads=threads,
        max_request_bytes=DEFAULTS["http_max_request_bytes"],
        channel_timeout=DEFAULTS["http_channel_timeout_seconds"],
        shutdown_timeout=DEFAULTS["shutdown_timeout_seconds"],
    )
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.serve_forever()


def print_table(
    table: list[tuple[str, list[Level]]], columns: str, cells: Callable[[Level], str]
) -> None:
    """One line per load, `cells` of each of its levels under `columns`, per client count."""
    print(f"{'':<52} " + "".join(f"{f'{c} client(s)':>34}" for c in CLIENTS))
    print(f"{'':<52} " + columns * len(CLIENTS))
    for name, levels in table:
        print(f"{name:<52} " + "".join(cells(level) for level in levels))


def report(
    rows: list[tuple[str, list[Level]]], bare: list[Level], threads: int, where: str
) -> None:
    print(
        f"ack latency in ms (client side, a new connection each), {threads} server threads, "
        f"database {where}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    table = [*rows, ("bare Bolt app that only acks /timeline", bare)]
    by_clients = {level.clients: level for level in bare}
    print_table(
        table,
        f"{'p50':>8}{'p95':>7}{'req/s':>6}{'x bare':>7}{'cpu':>6}",
        lambda level: (
            f"{level.p(50):>8.1f}{level.p(95):>7.1f}"
            f"{len(level.latencies_ms) / level.seconds:>6.0f}"
            f"{level.p(50) / by_clients[level.clients].p(50):>6.2f}x"
            f"{level.cpu_ms:>6.2f}"
        ),
    )
    print(
        "\nwhere the CPU went, ms per request: the server (bot) / this machine's PostgreSQL "
        "(db) / the clients and fake Slack (load); idle: the machine's idle share while sending"
    )
    print_table(
        table,
        f"{'bot':>7}{'db':>7}{'load':>7}{'sum':>7}{'idle':>6}",
        lambda level: (
            f"{level.cpu_ms:>7.2f}{level.database_ms:>7.2f}{level.load_ms:>7.2f}"
            f"{level.cpu_ms + level.database_ms + level.load_ms:>7.2f}{level.idle:>6.0%}"
        ),
    )
    failures = sum(level.failures for _, levels in table for level in levels)
    worst = max(max(level.latencies_ms) for _, levels in rows for level in levels)
    print(
        f"refused (non-200, or an apology such as 'not saved'): {failures}; "
        f"slowest real-bot ack {worst:.0f} ms "
        f"({'within' if worst < 3000 else 'OVER'} Slack's 3000 ms); cpu: the server's CPU "
        "(ms) per request, work after the ack included (none for the rows with generations)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (a fresh schema is used and dropped); default: a temporary SQLite",
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULTS["http_threads"], help="HTTP server threads"
    )
    parser.add_argument("--requests", type=int, default=150, help="requests per level (min)")
    parser.add_argument(
        "--loads",
        default="plain,dead,generation",
        help="loads on the real bot: plain (/timeline), dead (dead response_urls), "
        "generation (during a 10,000-message generation)",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="run the bot with SLOW_WORK_PROCESS=false (slow work in the serving process)",
    )
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--slack-api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.slack_api_url, args.threads)
        return
    if args.one_process:
        os.environ["BENCH_SLOW_WORK_PROCESS"] = "false"
    loads = set(args.loads.split(","))
    rows: list[tuple[str, list[Level]]] = []
    if "plain" in loads:
        with temporary_database(args.database_url) as db:
            bot, usage = real_bot(db, args.threads, args.requests)
        rows += [
            ("real bot, /timeline <text> (store, ack; echo after)", bot),
            ("real bot, /timeline help (the ack alone)", usage),
        ]
    if "dead" in loads:
        with temporary_database(args.database_url) as db:
            dead = dead_response_urls(db, args.threads, args.requests)
        rows.append(("real bot, buttons, response_url never answers", dead))
    if "generation" in loads:
        busy, made = during_generation(args.database_url, args.threads, args.requests)
        rows.append((f"real bot, /timeline <text>, {made} 10k generations", busy))
    bare = bare_bolt(args.threads, args.requests)
    report(rows, bare, args.threads, label(args.database_url))


if __name__ == "__main__":
    main()
