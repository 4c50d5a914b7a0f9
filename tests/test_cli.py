"""The `postmortem-bot` process itself: clear failures, and a working HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import SlackRequests
from storage.migrate import head_revision
from tests.bench import ALICE, INCIDENT_CHANNEL, SIGNING_SECRET

SCRIPT = Path(sys.executable).with_name("postmortem-bot")


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JIRA_", "DATABASE_URL"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env.update(values)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_run_without_tokens_names_every_missing_variable(tmp_path: Path) -> None:
    result = _cli("run", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode != 0
    assert "SLACK_BOT_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "README" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_a_rejected_token_says_so(tmp_path: Path, slack: FakeSlack) -> None:
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-wrong-token-value",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
    )
    result = _cli("run", "--port", str(_free_port()), env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in result.stderr
    assert "xoxb-wrong-token-value" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_bad_port_setting_is_explained(tmp_path: Path) -> None:
    env = _env(tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", PORT="eighty")
    result = _cli("run", env=env, cwd=tmp_path)
    assert result.returncode != 0 and "PORT" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_reports_the_revision(tmp_path: Path) -> None:
    result = _cli("db", "upgrade", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"is at revision {head_revision()}." in result.stdout


@contextmanager
def _running_bot(tmp_path: Path, slack: FakeSlack) -> Iterator[str]:
    port = _free_port()
    env = _env(
        tmp_path,
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        STATUS_PAGE_TITLE="Acme status",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                    assert response.status == 200
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read() if process.stdout else ""
                    raise AssertionError(f"bot did not come up:\n{output}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()  # SIGTERM: a graceful stop, exit code 0
        process.wait(timeout=15)
    output = process.stdout.read() if process.stdout else ""
    assert process.returncode == 0, output
    assert "finishing in-flight requests" in output


def test_running_bot_answers_healthz_and_a_slash_command(tmp_path: Path, slack: FakeSlack) -> None:
    with _running_bot(tmp_path, slack) as url:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            assert response.read() == b'{"status": "ok"}'
        with urllib.request.urlopen(url + "/status", timeout=2) as response:
            assert "<title>Acme status" in response.read().decode()
        requests = SlackRequests(url, SIGNING_SECRET, team_id=slack.team_id)
        reply = requests.slash_command(
            "/incident",
            "declare Checkout down sev1",
            user_id=ALICE,
            channel_id=INCIDENT_CHANNEL,
            response_url=slack.new_response_url(),
        )
        assert reply.status == 200
        [post] = slack.wait_for("chat.postMessage", timeout=10)
        assert "INC-1" in post.params["text"]
        assert post.headers.get("Authorization") == f"Bearer {slack.bot_token}"


def test_demo_writes_a_postmortem(tmp_path: Path) -> None:
    out = tmp_path / "pm.md"
    result = _cli("demo", "--out", str(out), env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/incident declare Checkout returns 500s sev2" in result.stdout
    text = out.read_text()
    for section in (
        "## Summary",
        "## Timeline",
        "## Corrective actions",
        "## Appendix: channel log",
    ):
        assert section in text
    assert "Add a canary stage to checkout deploys — owner Bob Dev" in text
    assert "deploy 4812 touched the payment client" in text
    # the simulated clock gives real metrics: impact at T+0, pager at T+7, rollback at T+33,
    # resolved at T+85, impact ended at the rollback (sandbox/demo.py)
    for metric in (
        "- **Time to detect:** 7m (impact started → detected)",
        "- **Time to mitigate:** 33m (impact started → mitigated)",
        "- **Time to resolve:** 1h 25m (impact started → resolved)",
        "- **Impact duration:** 33m (impact started → impact ended, else resolved)",
    ):
        assert metric in text, metric
        assert metric in result.stdout, metric  # printed at the end too
    assert "after declaration" not in text
    assert "version 2" in text  # generated again after the person's edit...
    summary = text[text.index("## Summary") : text.index("## Leadup")]
    assert "starved checkout of connections" in summary  # ...which survived it
    assert "> ✏️" not in summary  # and the prompt it replaced did not come back
    leadup = text[text.index("### Leadup events") : text.index("## Fault")]
    assert "deploying 4812 (payment client upgrade) to checkout" in leadup
    assert "written in the canvas between the two generations: kept." in result.stdout


def test_demo_publishes_to_a_fake_confluence(tmp_path: Path) -> None:
    out = tmp_path / "page.xml"
    result = _cli(
        "demo", "--destination", "confluence", "--out", str(out), env=_env(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Confluence ▸ “INC-1: Checkout returns 500s — postmortem” (version 1) at http" in (
        result.stdout
    )
    assert "labels: postmortem-bot-" in result.stdout and "sev2" in result.stdout
    page = out.read_text()
    assert page.startswith('<ac:structured-macro ac:name="details"')
    assert "<h2>Timeline</h2>" in page and "deploy 4812 touched the payment client" in page


def test_render_prints_markdown_from_the_database(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.incidents.service import Workspace, declare_incident
    from storage.db import Database
    from storage.migrate import upgrade

    env = _env(tmp_path)
    database = Database(env["DATABASE_URL"])
    upgrade(database)
    with database.session() as session:
        declare_incident(
            session,
            workspace=Workspace("T0001"),
            channel_id="C1",
            channel_private=False,
            commander_id="U1",
            title="Disk full on db-3",
            severity=None,
            now=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        )
    database.dispose()
    result = _cli("render", "INC-1", "--template", "concise", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# INC-1: Disk full on db-3\n")
    assert "## Action items" in result.stdout
    missing = _cli("render", "INC-9", env=env, cwd=tmp_path)
    assert missing.returncode != 0 and "No incident INC-9" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_templates_check(tmp_path: Path) -> None:
    good = _cli("templates", "check", env=_env(tmp_path), cwd=tmp_path)
    assert good.returncode == 0 and "ok   standard" in good.stdout
    (tmp_path / "mine.md.j2").write_text("# {{ incident.key }}\n{{ incident.nope }}\n")
    bad = _cli("templates", "check", str(tmp_path), env=_env(tmp_path), cwd=tmp_path)
    assert bad.returncode == 1
    assert "FAIL mine" in bad.stdout and "line 2" in bad.stdout


def test_templates_check_fails_a_template_that_does_not_say_who_owns_its_sections(
    tmp_path: Path,
) -> None:
    (tmp_path / "mine.md.j2").write_text("# {{ incident.key }} {bot}\n\n## Why\n\ntext\n")
    (tmp_path / "fine.md.j2").write_text("# {{ incident.key }} {bot}\n\n## Why {people}\n")
    result = _cli("templates", "check", str(tmp_path), env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL mine" in result.stdout and "`## Why` does not say who owns it" in result.stdout
    assert "ok   fine" in result.stdout and "ok   standard" in result.stdout
