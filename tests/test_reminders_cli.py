"""`postmortem-bot remind --once|--digest [--dry-run]` and the in-process schedule of sweeps."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.core.settings import Settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from tests.bench import ALICE, BOB
from tests.test_digest import DIGEST_CHANNEL
from tests.test_reminders import MON, claims, client, dms, followup, incident, settings

__all__ = ["client", "settings"]  # fixtures shared with test_reminders

SCRIPT = Path(sys.executable).with_name("postmortem-bot")


def _remind(
    tmp_path: Path, slack: FakeSlack, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "JIRA_", "DATABASE_URL", "REMINDER_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_API_URL=slack.api_url,
        WORKING_HOURS="00:00-24:00",  # the CLI sweeps at the real time: any time is fine
        WORKING_DAYS="mon-sun",
        **extra_env,
    )
    return subprocess.run(
        [str(SCRIPT), "remind", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def cli_db(tmp_path: Path) -> Iterator[Database]:
    from storage.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    upgrade(database)
    yield database
    database.dispose()


def test_remind_once_dry_run_prints_and_sends_nothing(
    tmp_path: Path, slack: FakeSlack, cli_db: Database
) -> None:
    inc = incident(cli_db, slack, "C0ONE")
    item = followup(cli_db, inc, "Fix the retry storm", BOB, date(2020, 1, 6))
    slack.reset_calls()
    dry = _remind(tmp_path, slack, "--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would send DM to {BOB} (America/Los_Angeles): {item.key} overdue" in dry.stdout
    assert slack.calls_to("chat.postMessage") == [] and claims(cli_db) == []
    real = _remind(tmp_path, slack, "--once")
    assert real.returncode == 0, real.stderr
    assert f"sent DM to {BOB}" in real.stdout and len(dms(slack, BOB)) == 1
    assert _remind(tmp_path, slack, "--once").stdout.strip() == "nothing to send"
    without_once = _remind(tmp_path, slack)
    assert without_once.returncode != 0 and "--once" in without_once.stderr


def test_scheduler_sweeps_in_the_background(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    from bot.scheduler import start_scheduler
    from bot.services import Services

    inc = incident(db, slack, "C0ONE")
    followup(db, inc, "Fix the retry storm", ALICE, date(2026, 11, 20))
    services = Services(settings=settings, db=db, clock=lambda: MON)
    scheduler = start_scheduler(services, client, first_run_in=timedelta(0))
    try:
        deadline = time.monotonic() + 10
        while not dms(slack, ALICE) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert len(dms(slack, ALICE)) == 1


def test_remind_digest_dry_run_then_for_real(
    tmp_path: Path, slack: FakeSlack, cli_db: Database
) -> None:
    slack.add_channel("ops-digest", members=[ALICE], channel_id=DIGEST_CHANNEL)
    inc = incident(cli_db, slack, "C0ONE")
    followup(cli_db, inc, "Add alerting", ALICE, date(2020, 1, 6))
    env = {"REMINDER_DIGEST_CHANNEL": DIGEST_CHANNEL}
    dry = _remind(tmp_path, slack, "--digest", "--dry-run", **env)
    assert dry.returncode == 0, dry.stderr
    expected = f"would post the weekly digest to {DIGEST_CHANNEL}: Weekly digest: 1 overdue"
    assert expected in dry.stdout
    assert slack.files() == {} and claims(cli_db) == []
    real = _remind(tmp_path, slack, "--digest", **env)
    assert real.returncode == 0, real.stderr
    assert f"posted the weekly digest to {DIGEST_CHANNEL}" in real.stdout
    assert len(slack.files()) == 1 and len(slack.messages(DIGEST_CHANNEL)) == 2
    again = _remind(tmp_path, slack, "--digest", **env)
    assert "already sent this week" in again.stdout and len(slack.files()) == 1
    unset = _remind(tmp_path, slack, "--digest")
    assert unset.returncode != 0 and "REMINDER_DIGEST_CHANNEL" in unset.stderr
