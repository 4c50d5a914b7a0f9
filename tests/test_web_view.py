"""The private web view under /app/: Sign in with Slack through the fake (real HTTP both ways),
the session, the archive, an incident's page, private incidents, and the strict CSP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from bot.knowledge.access import forget_memberships
from bot.membership.service import seed_members
from sandbox.harness import running_bot
from sandbox.slack.fake import FakeSlack
from sandbox.slack.oauth import CLIENT_ID, CLIENT_SECRET
from storage.db import Database
from storage.models import (
    EventKind,
    EventSource,
    FollowUp,
    FollowUpStatus,
    Incident,
    IncidentComponent,
    IncidentStatus,
    JiraExportState,
    JiraLink,
    Postmortem,
    PostmortemStatus,
    PostmortemVersion,
    Priority,
    Severity,
    SlackUser,
    TimelineEvent,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, PRIVATE_CHANNEL
from tests.test_availability import WriteLock, stallable
from tests.webclient import Browser, Page

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SESSION_SECRET = "s" * 40
TEAM = "T0001"


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Web:
    url: str
    slack: FakeSlack
    db: Database
    clock: MovableClock

    def sign_in(self, user: str = ALICE, *, team_id: str | None = None) -> Browser:
        browser = Browser()
        self.slack.sign_in_browser_as(user, team_id=team_id)
        page = browser.get(self.url + "/app/")
        assert page.status == 200, page.body
        assert page.url == self.url + "/app/"
        return browser


def web_view_settings(**extra: object) -> dict[str, object]:
    return {
        "web_session_secret": SESSION_SECRET,
        "web_slack_client_id": CLIENT_ID,
        "web_slack_client_secret": CLIENT_SECRET,
        **extra,
    }


@pytest.fixture
def web(slack: FakeSlack, db: Database) -> Iterator[Web]:
    clock = MovableClock(NOW)
    forget_memberships()  # bot.knowledge.access's cache outlives a test
    with running_bot(slack, db, clock=clock, **web_view_settings()) as bot:
        yield Web(bot.url, slack, db, clock)


def _incident(
    number: int,
    title: str,
    *,
    channel: str,
    severity: Severity = Severity.SEV2,
    status: IncidentStatus = IncidentStatus.RESOLVED,
    private: bool = False,
    declared: datetime = NOW - timedelta(days=3),
) -> Incident:
    resolved = status is IncidentStatus.RESOLVED
    return Incident(
        team_id=TEAM,
        number=number,
        title=title,
        severity=severity,
        status=status,
        channel_id=channel,
        channel_private=private,
        commander_id=ALICE,
        declared_at=declared,
        mitigated_at=None if status is IncidentStatus.ACTIVE else declared + timedelta(minutes=30),
        resolved_at=declared + timedelta(hours=2) if resolved else None,
    )


def seed_small(db: Database, first: int = 1) -> None:
    """A handful of incidents for the archive and the incident page, numbered from `first`."""
    with db.session() as session:
        session.add(
            SlackUser(
                team_id=TEAM,
                user_id=ALICE,
                name="alice",
                real_name="Alice Ops",
                tz="UTC",
                fetched_at=NOW,
            )
        )
        checkout = _incident(
            first + 0,
            "Checkout &lt;script&gt; errors",
            channel=INCIDENT_CHANNEL,
            severity=Severity.SEV1,
            declared=NOW - timedelta(days=40),
        )
        search = _incident(
            first + 1,
            "Search degraded",
            channel="C0SEARCH",
            severity=Severity.SEV3,
            status=IncidentStatus.ACTIVE,
            declared=NOW - timedelta(days=1),
        )
        payroll = _incident(
            first + 2,
            "Payroll leak",
            channel=PRIVATE_CHANNEL,
            private=True,
            severity=Severity.SEV1,
            declared=NOW - timedelta(days=10),
        )
        login = _incident(
            first + 3,
            "Login outage",
            channel="C0LOGIN",
            severity=Severity.SEV2,
            status=IncidentStatus.MITIGATED,
            declared=NOW - timedelta(days=5),
        )
        session.add_all([checkout, search, payroll, login])
        session.flush()
        # what the bot recorded of the private channel's members (tests.bench: Alice and Bob)
        seed_members(session, TEAM, PRIVATE_CHANNEL, [ALICE, BOB], read_at=NOW)
        for incident, tag in (
            (checkout, "payments"),
            (checkout, "api"),
            (search, "search"),
            (payroll, "payments"),
            (login, "api"),
        ):
            session.add(IncidentComponent(team_id=TEAM, incident_id=incident.id, component=tag))
        at = checkout.declared_at
        session.add_all(
            [
                TimelineEvent(
                    team_id=TEAM,
                    incident_id=checkout.id,
                    occurred_at=at - timedelta(minutes=9),
                    kind=EventKind.DETECTION,
                    text="Alerts &lt;b&gt;fired&lt;/b&gt;",
                    author_id=ALICE,
                    recorded_at=at,
                    source=EventSource.COMMAND,
                    permalink="https://acme.slack.com/archives/C0INCIDENT/p1",
                ),
                TimelineEvent(
                    team_id=TEAM,
                    incident_id=login.id,
                    occurred_at=login.declared_at + timedelta(minutes=20),
                    kind=EventKind.MITIGATION,
                    text="Rolled back deploy 42",
                    author_id=ALICE,
                    recorded_at=at,
                    source=EventSource.COMMAND,
                ),
            ]
        )
        followup = FollowUp(
            team_id=TEAM,
            incident_id=checkout.id,
            number=1,
            title="Add a canary",
            owner_id=ALICE,
            due_date=date(2026, 12, 15),
            priority=Priority.P2,
            status=FollowUpStatus.IN_PROGRESS,
            created_by=ALICE,
            created_at=at,
            updated_at=at,
        )
        session.add(followup)
        session.flush()
        session.add(
            JiraLink(
                team_id=TEAM,
                follow_up_id=followup.id,
                marker="m1",
                state=JiraExportState.EXPORTED,
                requested_by=ALICE,
                requested_at=at,
                issue_key="OPS-7",
                issue_url="https://acme.atlassian.net/browse/OPS-7",
                status_name="In Progress",
            )
        )
        postmortem = Postmortem(
            team_id=TEAM,
            incident_id=checkout.id,
            status=PostmortemStatus.IN_REVIEW,
            owner_id=ALICE,
            version=2,
            created_at=at,
            updated_at=at,
            status_changed_at=at,
        )
        session.add(postmortem)
        session.flush()
        for version, text in (
            (1, "# Old draft\n\nnot this one"),
            (
                2,
                "# Checkout errors\n\n## Root cause\n\nA bad **deploy**.\n\n"
                "<script>alert('x')</script>\n\n[click](javascript:alert(1))\n\n"
                "| a | b |\n|---|---|\n| 1 | 2 |\n",
            ),
        ):
            session.add(
                PostmortemVersion(
                    postmortem_id=postmortem.id,
                    version=version,
                    template="standard",
                    markdown=text,
                    generated_by=ALICE,
                    generated_at=at + timedelta(days=version),
                )
            )


ROW = re.compile(r'<tr class="incident-row">\s*<td><a href="[^"]+">(INC-\d+)</a>')


def keys_on(page: Page) -> list[str]:
    return ROW.findall(page.body)


# --- Sign in with Slack -------------------------------------------------------------------------


def test_sign_in_through_slack_sets_a_strict_session_cookie(web: Web) -> None:
    browser = web.sign_in(ALICE)
    callback = next(p for p in browser.history if "/app/auth/callback" in p.url)
    assert callback.status == 302
    cookie = next(c for c in callback.set_cookies if c.startswith("postmortem_bot_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=lax", "path=/app/"} <= flags
    assert any(f.startswith("expires=") for f in flags)
    # The authorize request asked for Sign in with Slack's scopes, with a state and a nonce.
    authorize = next(p for p in browser.history if "/openid/connect/authorize" in p.url)
    query = parse_qs(urlsplit(authorize.url).query)
    assert query["scope"] == ["openid,profile,email"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [web.url + "/app/auth/callback"]
    assert len(query["state"][0]) >= 32 and query["nonce"]
    # The code was exchanged once, with the app's credentials, and the person read.
    assert len(web.slack.calls_to("openid.connect.token")) == 1
    assert len(web.slack.calls_to("openid.connect.userInfo")) == 1
    page = browser.get(web.url + "/app/")
    assert "Signed in as Alice Ops" in page.body


def test_pages_need_a_session_and_carry_a_strict_csp(web: Web) -> None:
    page = Browser().get(web.url + "/app/insights", follow=False)
    assert page.status == 302
    assert page.headers["location"].startswith("/app/login?next=/app/insights")
    browser = web.sign_in(ALICE)
    for path in ("/app/", "/app/insights", "/app/style.css"):
        page = browser.get(web.url + path)
        assert page.status == 200
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "unsafe-inline" not in csp
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.body.lower()


def test_a_callback_with_another_state_is_refused(web: Web) -> None:
    web.slack.sign_in_browser_as(ALICE)
    browser = Browser()
    to_slack = browser.get(web.url + "/app/login", follow=False)
    back = browser.get(to_slack.headers["location"], follow=False)
    callback = back.headers["location"]
    query = parse_qs(urlsplit(callback).query)
    forged = callback.split("?")[0] + "?" + urlencode({"code": query["code"][0], "state": "x" * 43})
    refused = browser.get(forged)
    assert refused.status == 400
    assert "not the one this browser started" in refused.body
    assert web.slack.calls_to("openid.connect.token") == []  # the code was never used
    assert browser.get(web.url + "/app/", follow=False).status == 302  # still signed out
    # The right state, but in another browser (no session): refused too.
    stranger = Browser().get(callback)
    assert stranger.status == 400
    assert web.slack.calls_to("openid.connect.token") == []


def test_someone_of_another_workspace_is_refused(web: Web) -> None:
    web.slack.sign_in_browser_as(BOB, team_id="T0OTHER")
    browser = Browser()
    page = browser.get(web.url + "/app/")
    assert page.status == 403
    assert "not installed in" in page.body
    assert browser.get(web.url + "/app/", follow=False).status == 302


def test_a_session_expires_after_its_lifetime(web: Web) -> None:
    browser = web.sign_in(ALICE)
    web.clock.now = NOW + timedelta(hours=7, minutes=59)
    assert browser.get(web.url + "/app/", follow=False).status == 200
    web.clock.now = NOW + timedelta(hours=8)
    page = browser.get(web.url + "/app/incidents/INC-1", follow=False)
    assert page.status == 302
    assert page.headers["location"].startswith("/app/login")


def test_a_tampered_session_counts_as_signed_out(web: Web) -> None:
    browser = web.sign_in(ALICE)
    value, path = browser.cookies["postmortem_bot_session"]
    browser.cookies["postmortem_bot_session"] = (value[:-2] + "AA", path)
    assert browser.get(web.url + "/app/", follow=False).status == 302


def test_logout_ends_the_session(web: Web) -> None:
    browser = web.sign_in(ALICE)
    page = browser.post(web.url + "/app/logout")
    assert page.status == 200 and "You are signed out" in page.body
    assert "postmortem_bot_session" not in browser.cookies
    assert browser.get(web.url + "/app/", follow=False).status == 302


def test_the_web_view_is_off_until_configured(slack: FakeSlack, db: Database) -> None:
    with running_bot(slack, db) as bot:
        page = Browser().get(bot.url + "/app/")
    assert page.status == 404
    assert "not configured" in page.body


# --- The archive and an incident ----------------------------------------------------------------


def test_archive_filters_and_search(web: Web) -> None:
    seed_small(web.db)
    browser = web.sign_in(ALICE)

    def keys(**query: str) -> list[str]:
        page = browser.get(web.url + "/app/?" + urlencode(query))
        assert page.status == 200
        return keys_on(page)

    assert keys() == ["INC-2", "INC-4", "INC-3", "INC-1"]  # newest first
    assert keys(status="active") == ["INC-2"]
    assert keys(status="resolved") == ["INC-3", "INC-1"]
    assert keys(severity="sev1") == ["INC-3", "INC-1"]
    assert keys(tag="payments") == ["INC-3", "INC-1"]
    assert keys(tag="api", severity="sev2") == ["INC-4"]
    since = (NOW - timedelta(days=10)).date().isoformat()
    assert keys(since=since) == ["INC-2", "INC-4", "INC-3"]
    assert keys(until=(NOW - timedelta(days=6)).date().isoformat()) == ["INC-3", "INC-1"]
    assert keys(q="login") == ["INC-4"]
    assert keys(q="100%") == []
    # Full-text search (bot.knowledge.search) over timelines too, the words marked.
    page = browser.get(web.url + "/app/?" + urlencode({"q": '"rolled back"'}))
    assert keys_on(page) == ["INC-4"]
    assert re.search(r"<mark>[Rr]olled(</mark> <mark>| )back</mark>", page.body)
    assert keys(q="rolled", severity="sev3") == []
    assert keys(q="rolled", status="mitigated") == ["INC-4"]
    assert "Give me words to search for" in browser.get(web.url + "/app/?q=%21%21").body
    page = browser.get(web.url + "/app/?status=closed&since=yesterday")
    assert "Unknown status “closed”: use one of active, mitigated, resolved." in page.body
    assert "“yesterday” is not a date: use YYYY-MM-DD" in page.body
    assert keys_on(page) == ["INC-2", "INC-4", "INC-3", "INC-1"]


def test_incident_page_shows_times_timeline_followups_and_the_latest_postmortem(web: Web) -> None:
    seed_small(web.db)
    browser = web.sign_in(ALICE)
    page = browser.get(web.url + "/app/incidents/INC-1")
    assert page.status == 200
    body = page.body
    # Slack's escaping is shown as the text people typed, never as markup.
    assert "INC-1: Checkout &lt;script&gt; errors" in body
    assert "Alerts &lt;b&gt;fired&lt;/b&gt;" in body
    assert "<script>" not in body
    # Key times and metrics: detected at the detection event (9 minutes before declaring).
    assert "2026-10-21 11:51 UTC" in body
    assert "Time to mitigate" in body
    assert "https://acme.slack.com/archives/C0INCIDENT/p1" in body
    assert "https://slack.com/app_redirect?channel=C0INCIDENT&amp;team=T0001" in body
    # Follow-ups with their Jira issue and state.
    assert 'href="https://acme.atlassian.net/browse/OPS-7">OPS-7</a> (In Progress)' in body
    assert "INC-1-F1" in body and "in progress" in body
    # The latest version only, rendered from Markdown, with raw HTML and javascript: refused.
    assert "<h2>Root cause</h2>" in body and "<strong>deploy</strong>" in body
    assert "<table>" in body
    assert "Old draft" not in body
    assert "<p>&lt;script&gt;alert('x')&lt;/script&gt;</p>" in body
    assert 'href="javascript:' not in body
    assert "In Review" in body and "Alice Ops" in body
    assert browser.get(web.url + "/app/incidents/INC-99").status == 404
    assert browser.get(web.url + "/app/incidents/nope").status == 404


def test_private_incident_only_for_its_channel_members(web: Web) -> None:
    seed_small(web.db)
    carol = web.sign_in(CAROL)  # not in the private channel
    assert "INC-3" not in keys_on(carol.get(web.url + "/app/"))
    assert carol.get(web.url + "/app/incidents/INC-3").status == 404
    assert carol.get(web.url + "/app/?q=payroll").body.count("incident-row") == 0
    alice = web.sign_in(ALICE)
    assert "INC-3" in keys_on(alice.get(web.url + "/app/"))
    page = alice.get(web.url + "/app/incidents/INC-3")
    assert page.status == 200 and "Payroll leak" in page.body
    # Membership is asked of Slack, for the person signed in.
    calls = web.slack.calls_to("users.conversations")
    assert {c.params.get("user") for c in calls} == {CAROL, ALICE}


# --- While the database does not answer ---------------------------------------------------------

# A stall is found out in about 2 s (a round trip waits 1 s, then a 1 s health probe); a person
# at a browser has no 3 s deadline like Slack's, and a loaded CI machine once took 3.07 s.
PAGE_BOUND = 5.0


def test_pages_say_unavailable_while_the_database_stalls_and_recover(
    database_url: str, slack: FakeSlack
) -> None:
    with ExitStack() as stack:
        db, fault = stack.enter_context(stallable(database_url))
        seed_small(db)
        forget_memberships()
        bot = stack.enter_context(
            running_bot(slack, db, clock=MovableClock(NOW), **web_view_settings())
        )
        stack.callback(fault.resume)  # first: the bot's graceful stop waits for its work
        web = Web(bot.url, slack, db, MovableClock(NOW))
        browser = web.sign_in(ALICE)
        fault.stall()
        if isinstance(fault, WriteLock):
            # SQLite: a writer holding the lock keeps no reader waiting (WAL, read-only
            # transactions); a search whose documents are behind must write, and can't.
            assert browser.get(web.url + "/app/incidents/INC-1").status == 200
            url = web.url + "/app/?q=checkout"
        else:
            url = web.url + "/app/incidents/INC-1"
        started = time.monotonic()
        page = browser.get(url)
        assert time.monotonic() - started < PAGE_BOUND
        assert page.status == 503
        assert page.headers["retry-after"] == "30"
        assert "isn&#39;t answering right now" in page.body and "Traceback" not in page.body
        assert "content-security-policy" in page.headers
        fault.resume()
        deadline = time.monotonic() + 5
        while browser.get(url).status != 200:
            assert time.monotonic() < deadline, "the web view never came back"
            time.sleep(0.05)


# --- Settings -----------------------------------------------------------------------------------


def test_web_view_settings_take_the_apps_credentials_where_they_are() -> None:
    from pydantic import ValidationError

    from bot.core.settings import Settings

    def settings(**values: object) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    single = settings(web_slack_client_id="1.2", web_slack_client_secret="abc")
    assert single.web_client_credentials == ("1.2", "abc")
    assert not single.oauth_mode  # the web view's credentials never make a multi-workspace bot
    multi = settings(slack_client_id="9.9", slack_client_secret="xyz", web_slack_client_id="1.2")
    assert multi.web_client_credentials == ("9.9", "xyz")
    assert settings().web_client_credentials is None
    assert settings().openid_authorize_url == "https://slack.com/openid/connect/authorize"
    fake = settings(slack_api_url="http://127.0.0.1:9/api/")
    assert fake.openid_authorize_url == "http://127.0.0.1:9/openid/connect/authorize"
    with pytest.raises(ValidationError, match="at least 32 characters"):
        settings(web_session_secret="short")
    with pytest.raises(ValidationError, match="public URL"):
        settings(web_base_url="bot.example.com")
    assert settings(web_base_url="https://bot.example.com/").web_base_url == (
        "https://bot.example.com"
    )
