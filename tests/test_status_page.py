"""Stakeholder updates, components and the status page: command, posts, JSON, HTML, browser."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.core.errors import UserError
from bot.incidents.commands import SetComponents, Update, parse_incident
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.status.service import post_update, set_components
from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import Incident, IncidentStatus, Postmortem, PostmortemStatus, Severity
from tests.bench import (
    ALICE,
    BOB,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    QUIET_CHANNEL,
    Bench,
    running_bench,
)

STATUS_CHANNEL = "C0STATUS"


@pytest.fixture
def stakeholder_bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    slack.add_channel("status-updates", members=[ALICE, BOB], channel_id=STATUS_CHANNEL)
    with running_bench(slack, db, status_updates_channel=STATUS_CHANNEL) as running:
        yield running


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _posts(bench: Bench, channel: str) -> list[dict[str, Any]]:
    return [
        c.params
        for c in bench.slack.calls_to("chat.postMessage")
        if c.status == 200 and c.params.get("channel") == channel
    ]


def _declare(bench: Bench, text: str, channel: str = INCIDENT_CHANNEL) -> None:
    before = len(bench.slack.calls_to("chat.postMessage"))
    bench.command("/incident", f"declare {text}", channel=channel)
    bench.slack.wait_for("chat.postMessage", before + 1)


# --- the grammar ---------------------------------------------------------------------------


def test_update_and_components_parse_options_before_or_after_the_text() -> None:
    assert parse_incident(
        "update --public --component API,checkout Rolling back\nthe deploy"
    ) == Update("Rolling back\nthe deploy", ("api", "checkout"), True)
    assert parse_incident("update Still looking --components=db --public") == Update(
        "Still looking", ("db",), True
    )
    assert parse_incident("update \u2014public ran deploy --force") == Update(
        "ran deploy --force", (), True
    )
    assert parse_incident("components api, checkout api") == SetComponents(("api", "checkout"))
    assert parse_incident("components none") == SetComponents(())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("update", "Write the update after the command"),
        ("update --public", "Write the update after the command"),
        ("update --loud hello", "I don't know the option `--loud`"),
        ("update --component", "`--component` needs names"),
        ("update --component Bad!name hello", "isn't a component name"),
        ("update " + "x" * 2600, "keep it under 2500"),
        ("components", "Name the affected components"),
        ("components api,<script>", "isn't a component name"),
    ],
)
def test_update_junk_is_refused_with_the_right_usage(text: str, expected: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_incident(text)
    assert expected in caught.value.message


# --- the command over HTTP -----------------------------------------------------------------


def test_update_goes_to_the_channel_the_stakeholders_and_the_timeline(
    stakeholder_bench: Bench,
) -> None:
    bench = stakeholder_bench
    _declare(bench, "Checkout returns 500s sev2")
    bench.command("/incident", "update --public --component api <!channel> Rolling back", user=BOB)
    wait_until(  # two jobs, two channels: in either order
        lambda: _posts(bench, STATUS_CHANNEL) and len(_posts(bench, INCIDENT_CHANNEL)) >= 2,
        what="the stakeholder post and the channel's",
    )
    [here] = _posts(bench, INCIDENT_CHANNEL)[1:]
    [there] = _posts(bench, STATUS_CHANNEL)
    for post in (here, there):
        body = post["text"] + json.dumps(post["blocks"])
        assert "INC-1" in body and "Rolling back" in body and f"<@{BOB}>" in body
        assert "<!channel>" not in body  # echoed without pinging
        assert "on the status page" in body and "`api`" in body
    assert f"<#{INCIDENT_CHANNEL}>" in json.dumps(there["blocks"])
    with bench.db.session() as session:
        texts = [e.text for e in session.get_one(Incident, 1).events]
    assert any(t.startswith("Public update:") and "Rolling back" in t for t in texts)


def test_components_command_and_mistakes_answer_privately(stakeholder_bench: Bench) -> None:
    bench = stakeholder_bench
    assert "no open incident" in bench.reply_to("/incident", "update hello")["text"]
    _declare(bench, "Search is slow")
    bench.command("/incident", "components search,api")
    posts = bench.slack.wait_for("chat.postMessage", 2)
    assert "`api`, `search`" in posts[1].params["text"]
    for text, expected in {
        "update --oops x": "I don't know the option",
        "components API!": "isn't a component name",
    }.items():
        reply = bench.reply_to("/incident", text)
        assert reply["response_type"] == "ephemeral" and expected in reply["text"]
    assert _posts(bench, STATUS_CHANNEL) == []  # components are not announced to stakeholders


def test_stakeholder_channel_without_the_bot_is_explained(slack: FakeSlack, db: Database) -> None:
    with running_bench(slack, db, status_updates_channel=QUIET_CHANNEL) as bench:
        _declare(bench, "Queue backlog")
        _, url = bench.command("/incident", "update Draining the queue")
        note = bench.ephemeral_reply(url)
    assert note["response_type"] == "ephemeral"
    assert "`not_in_channel`" in note["text"] and "/invite @postmortem-bot" in note["text"]
    assert "Draining the queue" in bench.slack.messages(INCIDENT_CHANNEL)[-1]["text"]


def test_private_incident_never_reaches_stakeholders(stakeholder_bench: Bench) -> None:
    bench = stakeholder_bench
    _declare(bench, "Leaked key", channel=PRIVATE_CHANNEL)
    answer = bench.reply_to("/incident", "update --public rotating it", channel=PRIVATE_CHANNEL)
    assert "channel is private" in answer["text"]
    answer = bench.reply_to("/incident", "resolved", channel=PRIVATE_CHANNEL)
    assert "resolution notice was posted here only" in answer["text"]
    wait_until(lambda: len(_posts(bench, PRIVATE_CHANNEL)) >= 3, what="the channel messages")
    assert _posts(bench, STATUS_CHANNEL) == []
    assert len(_posts(bench, PRIVATE_CHANNEL)) == 3


def test_resolving_posts_a_resolution_notice_to_stakeholders(stakeholder_bench: Bench) -> None:
    bench = stakeholder_bench
    _declare(bench, "Payments down sev1")
    bench.command("/incident", "components payments")
    bench.slack.wait_for("chat.postMessage", 2)
    bench.command("/incident", "resolved")
    [notice] = wait_until(lambda: _posts(bench, STATUS_CHANNEL), what="the resolution notice")
    assert "INC-1 resolved" in notice["text"] and "Payments down" in notice["text"]
    assert "`payments`" in json.dumps(notice["blocks"])


# --- the page ------------------------------------------------------------------------------

NOW = datetime.now(UTC)


def _seed(db: Database) -> None:
    """A public active incident, a private one, a resolved one with a Completed postmortem,
    a resolved one without, and one resolved too long ago."""
    team = Workspace("T0001")

    def declare(channel: str, title: str, sev: Severity, private: bool, at: datetime) -> Incident:
        return declare_incident(
            session,
            workspace=team,
            channel_id=channel,
            channel_private=private,
            commander_id=ALICE,
            title=title,
            severity=sev,
            now=at,
        )

    with db.session() as session:
        active = declare(
            "C1",
            "Checkout &lt;script&gt;alert(1)&lt;/script&gt; errors",  # as Slack delivers it
            Severity.SEV2,
            False,
            NOW - timedelta(hours=2),
        )
        set_components(session, active, ("checkout", "api"), by=ALICE, now=NOW)
        post_update(
            session,
            active,
            text="Investigating &lt;b&gt;bold&lt;/b&gt;",
            components=(),
            public=True,
            by=ALICE,
            now=NOW - timedelta(minutes=30),
        )
        post_update(
            session,
            active,
            text="Internal: blame the intern",
            components=(),
            public=False,
            by=ALICE,
            now=NOW - timedelta(minutes=20),
        )
        post_update(
            session,
            active,
            text="Fix deployed, watching error rates",
            components=("checkout",),
            public=True,
            by=ALICE,
            now=NOW - timedelta(minutes=5),
        )
        secret = declare("C2", "Secret payroll leak", Severity.SEV1, True, NOW - timedelta(hours=1))
        set_components(session, secret, ("payroll",), by=ALICE, now=NOW)
        post_update(
            session,
            secret,
            text="Secret public update",
            components=(),
            public=True,
            by=ALICE,
            now=NOW,
        )
        for channel, title, days, completed in (
            ("C3", "Login outage", 2, True),
            ("C4", "Search degraded", 3, False),
            ("C5", "Ancient outage", 9, True),
        ):
            incident = declare(channel, title, Severity.SEV3, False, NOW - timedelta(days=days))
            change_status(
                session,
                incident,
                IncidentStatus.RESOLVED,
                by=ALICE,
                now=NOW - timedelta(days=days) + timedelta(hours=1),
            )
            status = PostmortemStatus.COMPLETED if completed else PostmortemStatus.DRAFT
            session.add(
                Postmortem(
                    team_id=team.team_id,
                    incident_id=incident.id,
                    status=status,
                    owner_id=ALICE,
                    created_at=NOW,
                    updated_at=NOW,
                    status_changed_at=NOW,
                )
            )


def test_status_json_shows_public_things_only(bench: Bench) -> None:
    _seed(bench.db)
    status, headers, body = _get(bench.url + "/status.json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert "max-age" in headers["Cache-Control"]
    data = json.loads(body)
    assert data["status"] == "major_outage"
    assert data["components"] == [
        {"name": "api", "status": "major_outage"},
        {"name": "checkout", "status": "major_outage"},
    ]
    [active] = data["active_incidents"]
    assert active["key"] == "INC-1" and active["components"] == ["api", "checkout"]
    assert [u["text"] for u in active["updates"]] == [
        "Fix deployed, watching error rates",
        "Investigating <b>bold</b>",
    ]
    assert [(i["key"], i["summary_url"]) for i in data["recently_resolved"]] == [
        ("INC-3", "/status/incidents/INC-3"),
        ("INC-4", None),
    ]
    for leaked in ("Secret", "payroll", "intern", "INC-2", "Ancient"):
        assert leaked not in body


def test_status_html_escapes_user_text_and_hides_private_incidents(bench: Bench) -> None:
    _seed(bench.db)
    status, headers, html = _get(bench.url + "/status")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>" not in html
    assert '<meta name="viewport"' in html
    assert html.index("Fix deployed") < html.index("Investigating")  # newest first
    assert "Secret" not in html and "intern" not in html and "Ancient" not in html
    assert 'href="/status/incidents/INC-3"' in html and "/status/incidents/INC-4" not in html


def test_public_summary_only_for_completed_public_incidents(bench: Bench) -> None:
    _seed(bench.db)
    status, _, html = _get(bench.url + "/status/incidents/INC-3")
    assert status == 200 and "Login outage" in html and "Incident summary" in html
    for key in ("INC-1", "INC-2", "INC-4", "INC-99"):  # active, private, draft, unknown
        assert _get(bench.url + f"/status/incidents/{key}")[0] == 404
    assert _get(bench.url + "/healthz")[0] == 200  # the other routes are untouched


# --- in a real browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _VisibleText(HTMLParser):
    """The text a reader sees: everything in <body> except <style>/<script> contents."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("style", "script", "head")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script", "head")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return " ".join(" ".join(parser.parts).split())


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's `chromium` (apt-get install chromium)")
def test_status_page_in_headless_chromium(bench: Bench, tmp_path: Path) -> None:
    _seed(bench.db)
    dom = _chromium(tmp_path, "--dump-dom", bench.url + "/status")
    assert "<script>alert" not in dom  # the title stayed text: no script element was created
    text = _VisibleText.of(dom)
    assert "INC-1: Checkout <script>alert(1)</script> errors" in text  # shown literally
    latest = text.index("Fix deployed, watching error rates")  # the latest public update...
    assert latest < text.index("Investigating <b>bold</b>")  # ...comes first
    assert "Secret" not in text and "INC-2" not in text and "intern" not in text
    screenshot = tmp_path / "status.png"
    _chromium(
        tmp_path, f"--screenshot={screenshot}", "--window-size=390,844", bench.url + "/status"
    )
    assert screenshot.stat().st_size > 5000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
