"""Ack benchmark: how long a slash command waits for its HTTP 200 under 1, 10 and 50
concurrent clients, for the real bot and for a bare Bolt app that only acks.

Both are served the same way, each as its own process, by the production HTTP server
(bot.server.HttpServer: waitress with the same threads and limits): (a) the real bot exactly as
`postmortem-bot run` serves it (`python -m bot run`), with `/timeline <text>` in an incident
channel (the ack, then the event stored and echoed by the same process) and with
`/timeline help` (the usage is the ack itself: the request path alone); (b) a Bolt app whose
only listener acks `/timeline`. Slack is the fake, in this process. The ratio (a)/(b) is what
the bot costs on top of Bolt and waitress; Slack gives up on an ack after 3000 ms. About 45 s.

    python bench/ack.py
    python bench/ack.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/ack.py --threads 16 --requests 200

A PostgreSQL run uses a fresh schema of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import label, percentile, temporary_database

from bot.core.settings import Settings
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

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server on port {port} did not start") from None
            time.sleep(0.05)


@contextmanager
def server_process(command: list[str], env: dict[str, str], port: int) -> Iterator[str]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent
    )
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    )
    return env


def measure(requests: SlackRequests, slack: FakeSlack, clients: int, total: int, tag: str) -> Level:
    def one(n: int) -> tuple[int, float]:
        reply = requests.slash_command(
            "/timeline",
            "help" if tag == "help" else f"bench {tag} {clients} {n}",
            user_id=USER,
            channel_id=CHANNEL,
            response_url=slack.new_response_url(),
        )
        return reply.status, reply.seconds * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    seconds = time.perf_counter() - started
    return Level(
        clients=clients,
        latencies_ms=[ms for _, ms in results],
        failures=sum(1 for status, _ in results if status != 200),
        seconds=seconds,
    )


def run_levels(
    url: str, slack: FakeSlack, requests_per_level: int, tag: str, *, settle: bool
) -> list[Level]:
    requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
    measure(requests, slack, 4, 20, f"{tag}-warmup")  # first-request costs out of the way
    levels = []
    for clients in CLIENTS:
        total = max(requests_per_level, clients * 10)
        if settle:
            wait_for_echoes(slack)
        levels.append(measure(requests, slack, clients, total, tag))
    if settle:
        wait_for_echoes(slack)
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
    """The bot with `/timeline <text>` (ack, then store and echo), and with `/timeline help`
    (the usage is the ack itself: the request path alone, no work after it)."""
    with FakeSlack() as slack:
        slack.add_user(USER, "alice")
        slack.add_channel("inc-bench", members=[USER], channel_id=CHANNEL)
        port = free_port()
        command = [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)]
        with server_process(command, bot_env(slack, db.url, threads), port) as url:
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
            work = run_levels(url, slack, requests_per_level, "bot", settle=True)
            usage = run_levels(url, slack, requests_per_level, "help", settle=False)
            return work, usage


def bare_bolt(threads: int, requests_per_level: int) -> list[Level]:
    with FakeSlack() as slack:
        port = free_port()
        command = [
            sys.executable,
            str(HERE),
            "--serve-bare",
            str(port),
            "--slack-api-url",
            slack.api_url,
            "--threads",
            str(threads),
        ]
        with server_process(command, dict(os.environ), port) as url:
            return run_levels(url, slack, requests_per_level, "bare", settle=False)


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


def report(
    bot: list[Level], usage: list[Level], bare: list[Level], threads: int, where: str
) -> None:
    print(
        f"slash-command ack latency in ms (client side, a new connection each), "
        f"{threads} server threads, database {where}"
    )
    table = (
        ("real bot, /timeline <text> (ack, then store + echo)", bot),
        ("real bot, /timeline help (the ack alone)", usage),
        ("bare Bolt app that only acks", bare),
    )
    print(f"{'':<52} " + "".join(f"{f'{c} client(s)':>24}" for c in CLIENTS))
    print(f"{'':<52} " + f"{'p50':>11}{'p99':>7}{'req/s':>6}" * len(CLIENTS))
    for name, levels in table:
        cells = "".join(
            f"{level.p(50):>11.1f}{level.p(99):>7.1f}"
            f"{len(level.latencies_ms) / level.seconds:>6.0f}"
            for level in levels
        )
        print(f"{name:<52} {cells}")
    for name, levels in table[:2]:
        ratios = "".join(
            f"{ours.p(50) / theirs.p(50):>10.1f}x{ours.p(99) / theirs.p(99):>6.1f}x{'':6}"
            for ours, theirs in zip(levels, bare, strict=True)
        )
        print(f"{'ratio, ' + name.split(' (')[0] + ' / bare':<52} {ratios}".rstrip())
    failures = sum(level.failures for level in bot + usage + bare)
    worst = max(max(level.latencies_ms) for level in bot)
    print(
        f"non-200 answers: {failures}; slowest real-bot ack {worst:.0f} ms "
        f"({'within' if worst < 3000 else 'OVER'} Slack's 3000 ms)"
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
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--slack-api-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.slack_api_url, args.threads)
        return
    with temporary_database(args.database_url) as db:
        bot, usage = real_bot(db, args.threads, args.requests)
    bare = bare_bolt(args.threads, args.requests)
    report(bot, usage, bare, args.threads, label(args.database_url))


if __name__ == "__main__":
    main()
