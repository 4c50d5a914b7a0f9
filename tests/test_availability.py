"""No sick database freezes the bot (issue 14): every wait for it is bounded, the bot says so
clearly while it does not answer, and it recovers by itself when it does.

A stall is the hard case: nothing fails, nothing answers. On PostgreSQL it is played by a TCP
proxy that stops forwarding bytes (tests/tcp_proxy.py); on SQLite by another connection holding
the write lock (BEGIN EXCLUSIVE). Everything goes through real HTTP to the real bot, with the
default timeouts a deployment gets, and every wait polls against a deadline.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.migrate import upgrade
from tests.bench import INCIDENT_CHANNEL, Bench, running_bench
from tests.processes import Launcher, bot_env, free_port
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.xdist_group("bot_processes")  # see tests/test_production_server.py

HEALTHZ_BOUND = 2.0  # seconds; /healthz holds a thread about one second at most
FIRST_BOUND = 6.0  # DATABASE_STATEMENT_TIMEOUT_SECONDS, then 1 s: the most a round trip waits
SLACK_BOUND = 3.0  # Slack's deadline for an ack; we hold the private answer to it too
START_BOUND = 15.0  # a process that cannot reach its database says so within this


def says_database_is_down(text: str) -> bool:
    """The private answer to a request the database could not serve (handlers.errors)."""
    return "database isn't answering" in text and "not saved" in text


class Fault(Protocol):
    def stall(self) -> None: ...
    def resume(self) -> None: ...


class WriteLock:
    """SQLite's stall: another connection holds the write lock until `resume()`."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._holder: sqlite3.Connection | None = None

    def stall(self) -> None:
        self._holder = sqlite3.connect(self._path, isolation_level=None, timeout=5)
        self._holder.execute("BEGIN EXCLUSIVE")

    def resume(self) -> None:
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None


@dataclass
class Sick:
    """The bot over HTTP on a database that can be made to stall."""

    bench: Bench
    fault: Fault
    backend: str


@contextmanager
def stallable(database_url: str) -> Iterator[tuple[Database, Fault]]:
    """A migrated database with the default timeouts, as deployed, and the fault that stalls
    it: PostgreSQL behind a proxy that stops forwarding, SQLite with its write lock held."""
    with ExitStack() as stack:
        fault: Fault
        if make_url(database_url).get_backend_name() == "postgresql":
            proxy = stack.enter_context(TcpProxy.for_database(database_url))
            database_url, fault = proxy.database_url(database_url), proxy
        else:
            fault = WriteLock(str(make_url(database_url).database))
        db = Database(database_url)
        stack.callback(db.dispose)
        upgrade(db)
        yield db, fault


@pytest.fixture
def sick(database_url: str, slack: FakeSlack) -> Iterator[Sick]:
    with ExitStack() as stack:
        db, fault = stack.enter_context(stallable(database_url))
        bench = stack.enter_context(running_bench(slack, db))
        stack.callback(fault.resume)  # first: the bench's graceful stop waits for its work
        yield Sick(bench=bench, fault=fault, backend=db.dialect)


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, timeout: float = 10.0) -> Answer:
    """GET with a client timeout, so a bot that hangs fails the test instead of freezing it."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body, status, headers = response.read().decode(), response.status, response.headers
    except urllib.error.HTTPError as error:
        body, status, headers = error.read().decode(), error.code, error.headers
    return Answer(status, body, dict(headers), time.monotonic() - started)


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    wait_until(lambda: check() or None, timeout=timeout, what=what)


def test_healthz_stays_bounded_during_a_stall_and_slack_is_still_acked(sick: Sick) -> None:
    if sick.backend != "postgresql":
        pytest.skip("a held SQLite write lock does not stop SELECT 1: /healthz rightly says ok")
    bench = sick.bench
    assert get(bench.url + "/status").status == 200  # the database works (and no health
    sick.fault.stall()  # answer is cached yet: the first of these starts a probe)
    with ThreadPoolExecutor(max_workers=11) as pool:
        checks = [pool.submit(get, bench.url + "/healthz") for _ in range(10)]
        # The bench has 8 HTTP threads: a /healthz that held its thread would starve this ack.
        helped = pool.submit(bench.command, "/incident", "help")
        answers = [check.result() for check in checks]
        reply, _ = helped.result()
    slowest = max(a.seconds for a in answers)
    assert [a.status for a in answers] == [503] * 10, answers
    assert all(a.json() == {"status": "database unreachable"} for a in answers)
    assert slowest < HEALTHZ_BOUND, f"slowest /healthz took {slowest:.2f}s"
    assert reply.status == 200 and "/incident declare" in reply.json()["text"]
    assert reply.seconds < SLACK_BOUND, f"the ack took {reply.seconds:.2f}s"
    # Still bounded while the probe stays stuck, and back to 200 as soon as it answers.
    assert get(bench.url + "/healthz").seconds < HEALTHZ_BOUND
    sick.fault.resume()
    eventually(lambda: get(bench.url + "/healthz").status == 200, "/healthz to say ok", 5)


def test_the_status_page_says_unavailable_during_a_stall_and_recovers(sick: Sick) -> None:
    url = sick.bench.url
    assert get(url + "/status").status == 200
    sick.fault.stall()
    page, machine = get(url + "/status"), get(url + "/status.json")
    for answer in (page, machine):
        assert answer.status == 503, answer
        assert answer.seconds < SLACK_BOUND, f"took {answer.seconds:.2f}s"
        assert answer.headers["Retry-After"] == "30"
        assert answer.headers["Cache-Control"] == "no-store"
    assert page.headers["Content-Type"].startswith("text/html")
    assert "temporarily unavailable" in page.body and "Traceback" not in page.body
    assert machine.json()["status"] == "unavailable"
    sick.fault.resume()
    eventually(lambda: get(url + "/status").status == 200, "/status to come back", 5)
    assert get(url + "/status.json").json()["active_incidents"] == []


def test_a_command_during_a_stall_is_told_nothing_was_saved_and_the_next_one_works(
    sick: Sick, caplog: pytest.LogCaptureFixture
) -> None:
    bench = sick.bench
    sick.fault.stall()
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    # Either route Slack allows: in the ack (a listener that writes first) or on the
    # response_url right after it (one that acknowledges first). The user sees the same.
    answer = bench.reply_to("/incident", "declare Checkout is down sev2")
    took = time.monotonic() - started
    assert says_database_is_down(answer["text"]), answer
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    # The first request finds the stall out (about 2 s alone; the bound is the statement
    # timeout, for a loaded machine); the next is told within Slack's bound (at once on
    # PostgreSQL, which knows of the outage now; after one lock wait on SQLite).
    assert took < FIRST_BOUND, f"the first user waited {took:.2f}s"
    started = time.monotonic()
    again = bench.reply_to("/incident", "declare Checkout is down sev2")
    took = time.monotonic() - started
    assert says_database_is_down(again["text"]) and took < SLACK_BOUND, took
    told = [r for r in caplog.records if r.name == "postmortem_bot.errors"]
    assert [(r.levelname, r.exc_info) for r in told] == [("WARNING", None)] * 2, told
    assert "database unavailable on /incident" in told[0].getMessage()

    sick.fault.resume()
    # Once the bot has seen the database answer again, the very next command works: no stale
    # pooled connection is handed out (a stalled one was thrown away, the rest are pinged).
    eventually(lambda: get(bench.url + "/healthz").status == 200, "/healthz to say ok", 5)
    reply, _ = bench.command("/incident", "declare Checkout is down sev2")
    assert reply.status == 200 and reply.seconds < SLACK_BOUND
    bench.slack.wait_for("chat.postMessage", timeout=5)
    [announcement] = bench.slack.messages(INCIDENT_CHANNEL)
    assert "INC-1" in announcement["text"]  # the first attempt left nothing behind
    with bench.db.session() as session:
        assert session.execute(text("SELECT count(*) FROM incidents")).scalar() == 1


def test_after_the_database_restarts_the_next_command_works(sick: Sick) -> None:
    """A restart resets every pooled connection: the bot says so while the server refuses,
    then finds out by itself that it is back and hands out no dead connection."""
    if sick.backend != "postgresql":
        pytest.skip("SQLite has no server to restart")
    proxy, bench = sick.fault, sick.bench
    assert isinstance(proxy, TcpProxy)
    assert not says_database_is_down(bench.reply_to("/incident", "status")["text"])  # pool used
    proxy.refuse()
    started = time.monotonic()
    assert says_database_is_down(bench.reply_to("/incident", "declare Checkout is down")["text"])
    assert time.monotonic() - started < 1.0  # a refusal is known at once: no timeout to wait
    proxy.resume()
    reply, _ = bench.command("/incident", "declare Checkout is down")  # no waiting for healthz
    assert reply.status == 200
    bench.slack.wait_for("chat.postMessage", timeout=5)
    assert "INC-1" in bench.slack.messages(INCIDENT_CHANNEL)[0]["text"]


# -- start-up: a process that cannot reach its database says so and exits -----------------------


def _start_both(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> dict[str, tuple[int, float, str]]:
    """`run` and `db upgrade` side by side: command → (exit code, seconds, output)."""
    env = bot_env(slack, database_url)
    started = time.monotonic()
    processes = {
        "run": launcher.command(["run", "--host", "127.0.0.1", "--port", str(free_port())], env),
        "db upgrade": launcher.command(["db", "upgrade"], env),
    }

    def wait(name: str) -> tuple[int, float, str]:
        process = processes[name]  # still running past the bound: the test fails, with stacks
        code = process.wait(timeout=START_BOUND + 5)
        return code, time.monotonic() - started, process.output()

    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        waits = {name: pool.submit(wait, name) for name in processes}
        return {name: outcome.result() for name, outcome in waits.items()}


@pytest.mark.parametrize("fault", ["never answers", "refuses connections"])
def test_a_process_that_cannot_reach_its_database_says_so_and_exits_1(
    fault: str, launcher: Launcher, slack: FakeSlack
) -> None:
    with ExitStack() as stack:
        if fault == "never answers":  # accepts connections, then silence
            proxy = stack.enter_context(TcpProxy("127.0.0.1", free_port()))
            proxy.stall()
            port = proxy.port
        else:
            port = free_port()  # nothing listens there
        hidden = f"postgresql+psycopg://postgres:***@127.0.0.1:{port}/test"
        outcomes = _start_both(launcher, slack, f"postgres://postgres:s3cret@127.0.0.1:{port}/test")
    assert sorted(outcomes) == ["db upgrade", "run"]
    for name, (code, seconds, output) in outcomes.items():
        lines = [line for line in output.splitlines() if "Couldn't use the database" in line]
        assert code == 1, (name, output)
        assert seconds < START_BOUND, f"{name} took {seconds:.1f}s"
        assert len(lines) == 1, (name, output)
        assert lines[0].startswith(f"postmortem-bot: Couldn't use the database at {hidden}: ")
        if fault == "never answers":
            assert "DATABASE_CONNECT_TIMEOUT_SECONDS=5" in lines[0], lines[0]
        else:
            assert "refused" in lines[0].lower(), lines[0]
        assert "s3cret" not in output and "Traceback" not in output, output
