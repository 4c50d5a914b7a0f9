"""`postmortem-bot run` carries out slow work (generation, backfill, Jira) in a child process of
its own (bot.slow_work), so it never takes the interpreter that acks need. The real processes:
the child does the work and its counts reach the parent's /metrics; a child that dies is
replaced and the work waits for it; a stop, or the parent's death, ends the child too."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import PostmortemVersion
from tests.bench import ALICE, INCIDENT_CHANNEL
from tests.processes import BotProcess, Launcher, bot_env

pytestmark = pytest.mark.xdist_group("bot_processes")


def children(pid: int) -> list[int]:
    """The processes `pid` started that are still running (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return [child for child in found if running(child)]


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may be slow to reap an orphan)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")
    except FileNotFoundError:  # it exited meanwhile
        return []


def slow_worker(bot: BotProcess) -> int:
    """The pid of `bot`'s slow-work process, once it runs."""

    def find() -> int | None:
        for child in children(bot.pid):
            if "slow-work" in command_line(child):
                return child
        return None

    return wait_until(find, timeout=30, what="the slow-work process")


def command(bot: BotProcess, slack: FakeSlack, name: str, text: str) -> None:
    url = slack.new_response_url()
    reply = bot.requests().slash_command(
        name, text, user_id=ALICE, channel_id=INCIDENT_CHANNEL, response_url=url
    )
    assert reply.status == 200, reply


def generate(bot: BotProcess, slack: FakeSlack) -> None:
    command(bot, slack, "/postmortem", "generate")


def declare(bot: BotProcess, slack: FakeSlack) -> None:
    command(bot, slack, "/incident", "declare Checkout is slow sev2")
    slack.wait_for("chat.postMessage", timeout=15)


def versions(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.read_session() as session:
            return len(session.scalars(select(PostmortemVersion.id)).all())
    finally:
        db.dispose()


def metrics(bot: BotProcess) -> str:
    with urllib.request.urlopen(bot.url + "/metrics", timeout=5) as response:
        return str(response.read().decode())


def generated_count(bot: BotProcess) -> float:
    return metric(bot, "postmortem_bot_postmortems_generated_total{")


def metric(bot: BotProcess, prefix: str) -> float:
    for line in metrics(bot).splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_generation_runs_in_the_slow_work_process_and_is_counted_on_metrics(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bot = launcher.start(bot_env(slack, database_url))
    worker = slow_worker(bot)
    declare(bot, slack)

    generate(bot, slack)

    wait_until(lambda: versions(database_url) == 1, timeout=30, what="the postmortem")
    # Only the child runs slow jobs, and its count reaches the parent's /metrics.
    wait_until(lambda: generated_count(bot) == 1.0, timeout=10, what="the count on /metrics")
    assert slow_worker(bot) == worker
    assert f"slow work runs in process {worker}" in bot.output()


def test_a_slow_work_process_that_dies_is_replaced_and_its_work_waits_for_it(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bot = launcher.start(bot_env(slack, database_url))
    first = slow_worker(bot)
    declare(bot, slack)

    os.kill(first, signal.SIGKILL)
    generate(bot, slack)  # written down while no child runs: it waits in the outbox

    wait_until(lambda: versions(database_url) == 1, timeout=60, what="the postmortem")
    second = slow_worker(bot)
    assert second != first
    assert f"the slow-work process {first} exited" in bot.output()
    assert metric(bot, "postmortem_bot_slow_work_exits_total ") == 1.0


def test_a_sigterm_stops_the_slow_work_process_with_the_bot(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bot = launcher.start(bot_env(slack, database_url))
    worker = slow_worker(bot)

    assert bot.stop() == 0

    assert not running(worker)


def test_the_slow_work_process_ends_when_the_bot_is_killed(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bot = launcher.start(bot_env(slack, database_url))
    worker = slow_worker(bot)

    bot.process.kill()
    bot.wait(10)

    wait_until(lambda: not running(worker), timeout=30, what="the orphan to exit")


def test_with_slow_work_process_off_the_bot_runs_everything_itself(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bot = launcher.start(bot_env(slack, database_url, SLOW_WORK_PROCESS="false"))
    declare(bot, slack)

    generate(bot, slack)

    wait_until(lambda: versions(database_url) == 1, timeout=30, what="the postmortem")
    wait_until(lambda: generated_count(bot) == 1.0, timeout=10, what="the count on /metrics")
    assert children(bot.pid) == []
