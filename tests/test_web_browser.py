"""The web view in a real headless Chromium: each page is opened signed out, so the browser
itself goes through Sign in with Slack (the fake's authorize page sends it back with a code,
the bot sets its Secure, HttpOnly session cookie) before the page shows, under the page's
strict CSP. Screenshots go to tmp_path, and to $SCREENSHOT_DIR when it is set (README's are
made that way)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.knowledge.access import forget_memberships
from sandbox.harness import running_bot
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from tests.bench import ALICE
from tests.test_status_page import CHROMIUM_FLAGS, _VisibleText
from tests.test_web_insights import seed_history
from tests.test_web_view import NOW, MovableClock, seed_small, web_view_settings

CHROMIUM = shutil.which("chromium")
RICH = 300  # the incident with a timeline, follow-ups and a postmortem


@pytest.fixture
def site(slack: FakeSlack, db: Database) -> Iterator[str]:
    seed_history(db)
    seed_small(db, first=RICH)
    forget_memberships()
    with running_bot(slack, db, clock=MovableClock(NOW), **web_view_settings()) as bot:
        slack.sign_in_browser_as(ALICE)
        yield bot.url


def _chromium(profile: Path, *args: str) -> str:
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _open(tmp_path: Path, url: str, name: str, size: str) -> str:
    """The page's visible text, signing in on the way (a fresh profile each time: no cookie
    is carried over, the browser signs in by itself), and a screenshot of it."""
    dom = _chromium(tmp_path / f"profile-{name}-dom", "--dump-dom", url)
    shot = tmp_path / f"{name}.png"
    _chromium(
        tmp_path / f"profile-{name}-shot", f"--screenshot={shot}", f"--window-size={size}", url
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a drawn page, not a blank one
    target = os.environ.get("SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / f"web-{name}.png")
    return dom


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's `chromium` (apt-get install chromium)")
def test_sign_in_and_read_the_web_view_in_headless_chromium(
    site: str, slack: FakeSlack, tmp_path: Path
) -> None:
    archive = _open(tmp_path, site + "/app/?severity=sev1", "archive", "1280,1100")
    text = _VisibleText.of(archive)
    assert "Signed in as Alice Ops" in text  # signed in through the fake's authorize page
    assert "Incident archive" in text and f"INC-{RICH}" in text
    assert "<script" not in archive

    incident = _open(tmp_path, f"{site}/app/incidents/INC-{RICH}", "incident", "1280,1500")
    text = _VisibleText.of(incident)
    assert f"INC-{RICH}: Checkout <script> errors" in text  # people's text stays text
    assert "Root cause" in text and "OPS-7" in text and "Time to mitigate" in text
    assert "<script>alert" not in incident

    insights = _open(tmp_path, site + "/app/insights", "insights", "1280,2600")
    text = _VisibleText.of(insights)
    assert "Incidents per month by severity" in text and "Download CSV" in text
    assert insights.count("<svg") == 7
    # Every page load signed in anew through Slack: one code exchange per browser profile.
    assert len(slack.calls_to("openid.connect.token")) == 6
