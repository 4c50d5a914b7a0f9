"""Multi-workspace install: the real bot in OAuth mode over real HTTP against the Slack fake.

The installer's browser is played by plain HTTP requests: `GET /slack/install` (the page with
the authorize URL and the state cookie), then Slack's side (`FakeSlack.new_oauth_code`: someone
of a workspace pressed *Allow*), then `GET /slack/oauth_redirect?code=…&state=…` with the
cookie, as Slack's redirect would arrive.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qs, quote, urlsplit
from urllib.request import Request, urlopen

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select, text

from bot.app import create_bot
from bot.core.settings import ConfigError, Settings
from bot.followups.commands import NewFollowUp
from bot.followups.service import create_followup
from bot.incidents.service import Workspace, declare_incident
from bot.reminders.digest import send_digests
from bot.reminders.sweep import sweep
from bot.scheduler import start_scheduler
from bot.services import Services
from bot.slack.oauth import InstalledWorkspaces
from sandbox.harness import SIGNING_SECRET, RunningBot, running_bot, sandbox_settings
from sandbox.slack.fake import Call, FakeSlack
from sandbox.slack.signed_requests import SlackRequests
from storage.db import Database
from storage.models import FollowUp, Incident, Priority
from tests.bench import ALICE, INCIDENT_CHANNEL

HOME = "T0001"  # the fake's own workspace (tests.bench's people and channels)
BETA, BETA_NAME = "T0002", "Beta Corp"
GAMMA = "T0003"
DANA = "U2DANA"  # a member of Beta
BETA_CHANNEL = "C2INCIDENT"
# Monday Nov 23, 2026, 10:00 UTC: working hours for Dana (UTC) and Alice (Paris).
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"
SCRIPT = Path(sys.executable).with_name("postmortem-bot")


def oauth_overrides(slack: FakeSlack, **more: Any) -> dict[str, Any]:
    return {
        "slack_bot_token": None,
        "slack_client_id": slack.client_id,
        "slack_client_secret": slack.client_secret,
        **more,
    }


@pytest.fixture
def oauth_bot(slack: FakeSlack, db: Database) -> Iterator[RunningBot]:
    slack.add_user(DANA, "dana", real_name="Dana Beta", tz="UTC")
    with running_bot(slack, db, **oauth_overrides(slack)) as bot:
        yield bot


# --- the installer's browser ------------------------------------------------------------------


@dataclass
class Page:
    status: int
    body: str
    headers: Message


def get(url: str, *, cookie: str | None = None) -> Page:
    request = Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urlopen(request, timeout=10) as response:
            return Page(response.status, response.read().decode(), response.headers)
    except HTTPError as error:
        return Page(error.code, error.read().decode(), error.headers)


@dataclass
class Authorize:
    """What the install page hands the browser: Slack's authorize URL and the state cookie."""

    url: str
    query: dict[str, list[str]]
    cookie: str

    @property
    def state(self) -> str:
        return self.query["state"][0]

    @property
    def scope(self) -> str:
        return self.query["scope"][0]


def start_install(bot: RunningBot) -> Authorize:
    page = get(bot.url + "/slack/install")
    assert page.status == 200, page.body
    found = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.body)
    assert found, page.body
    url = html.unescape(found.group(1))
    cookie = (page.headers.get("Set-Cookie") or "").split(";")[0]
    return Authorize(url, parse_qs(urlsplit(url).query, keep_blank_values=True), cookie)


def redirect(bot: RunningBot, code: str, state: str, *, cookie: str | None) -> Page:
    url = f"{bot.url}/slack/oauth_redirect?code={quote(code)}&state={quote(state)}"
    return get(url, cookie=cookie)


def install(
    bot: RunningBot, slack: FakeSlack, team_id: str, *, user: str, team_name: str | None = None
) -> str:
    """The whole flow for one workspace; returns the bot token Slack issued it."""
    authorize = start_install(bot)
    code = slack.new_oauth_code(
        team_id=team_id, user_id=user, team_name=team_name, scope=authorize.scope
    )
    page = redirect(bot, code, authorize.state, cookie=authorize.cookie)
    assert page.status == 200, page.body
    installed = slack.installed_bot(team_id)
    assert installed is not None
    return str(installed["token"])


def bot_rows(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM slack_bots ORDER BY team_id"))
        return [dict(row._mapping) for row in rows]


def count(db: Database, table: str) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def bearer(call: Call) -> str | None:
    return call.headers.get("Authorization")


def beta_channel(slack: FakeSlack) -> str:
    """An incident channel in Beta with Beta's bot (it exists once the app is installed)."""
    installed = slack.installed_bot(BETA)
    assert installed is not None
    slack.add_channel(
        "beta-checkout",
        members=[DANA, str(installed["bot_user_id"])],
        bot_is_member=False,  # the home workspace's bot is not in Beta
        channel_id=BETA_CHANNEL,
    )
    return BETA_CHANNEL


def declare_from(bot: RunningBot, slack: FakeSlack, team_id: str, user: str, channel: str) -> Any:
    requests = SlackRequests(bot.url, SIGNING_SECRET, team_id=team_id, team_domain=team_id.lower())
    return requests.slash_command(
        "/incident",
        "declare Checkout returns 500s sev2",
        user_id=user,
        channel_id=channel,
        response_url=slack.new_response_url(),
        trigger_id=slack.new_trigger_id(),
    )


# --- settings ----------------------------------------------------------------------------------


def test_default_scopes_are_the_manifests_bot_scopes() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert Settings(_env_file=None).scopes == manifest["oauth_config"]["scopes"]["bot"]  # type: ignore[call-arg]


def test_oauth_mode_names_what_is_missing_and_needs_no_bot_token(tmp_path: Path) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    with pytest.raises(ConfigError) as caught:
        settings(slack_client_id="123.456").require_slack()
    message = str(caught.value)
    assert "SLACK_CLIENT_SECRET" in message and "SLACK_SIGNING_SECRET" in message
    assert "Missing required settings: SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET." in message
    with pytest.raises(ConfigError, match="Missing required setting: SLACK_CLIENT_ID\\."):
        settings(slack_client_secret="s", slack_signing_secret="x").require_slack()
    complete = settings(slack_client_id="1.2", slack_client_secret="s", slack_signing_secret="x")
    complete.require_slack()  # no SLACK_BOT_TOKEN needed
    assert complete.oauth_mode and not settings(slack_bot_token="xoxb-1").oauth_mode
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        settings(
            slack_client_id="1.2",
            slack_client_secret="s",
            slack_signing_secret="x",
            slack_app_token="xapp-1",
        ).require_slack()
    with pytest.raises(ConfigError, match="SLACK_CLIENT_ID and SLACK_CLIENT_SECRET instead"):
        settings().require_slack()  # single-token mode still names its own two


# --- the fake's oauth.v2.access ----------------------------------------------------------------


def test_fake_oauth_v2_access_answers_like_slack(slack: FakeSlack) -> None:
    client = WebClient(base_url=slack.api_url)  # no token: the app's credentials instead
    code = slack.new_oauth_code(team_id=BETA, user_id=DANA, team_name=BETA_NAME, scope="commands")
    with pytest.raises(SlackApiError) as wrong:
        client.oauth_v2_access(client_id=slack.client_id, client_secret="nope", code=code)
    assert wrong.value.response["error"] == "bad_client_secret"
    with pytest.raises(SlackApiError) as unknown_app:
        client.oauth_v2_access(client_id="999.999", client_secret=slack.client_secret, code=code)
    assert unknown_app.value.response["error"] == "invalid_client_id"
    with pytest.raises(SlackApiError) as bad_code:
        client.oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code="123.456.abc"
        )
    assert bad_code.value.response["error"] == "invalid_code"
    assert slack.installed_bot(BETA) is None  # failed exchanges install nothing

    answer = client.oauth_v2_access(
        client_id=slack.client_id, client_secret=slack.client_secret, code=code
    )
    token = answer["access_token"]
    assert token.startswith("xoxb-") and token != slack.bot_token
    assert {k: v for k, v in answer.data.items() if k != "access_token"} == {  # type: ignore[union-attr]
        "ok": True,
        "token_type": "bot",
        "scope": "commands",
        "bot_user_id": answer["bot_user_id"],
        "app_id": "A0001",
        "team": {"id": BETA, "name": BETA_NAME},
        "enterprise": None,
        "authed_user": {"id": DANA},
        "is_enterprise_install": False,
    }
    basic = slack.calls_to("oauth.v2.access")[-1].headers["Authorization"]
    assert basic.startswith("Basic ")  # slack-sdk sends the credentials as HTTP Basic auth
    with pytest.raises(SlackApiError) as reused:  # a code works once
        client.oauth_v2_access(
            client_id=slack.client_id, client_secret=slack.client_secret, code=code
        )
    assert reused.value.response["error"] == "invalid_code"

    # Form-encoded credentials work too, and a redirect_uri must match the authorize request's.
    other = slack.new_oauth_code(team_id=GAMMA, user_id="U3", redirect_uri="https://b.example/r")
    form = {"client_id": slack.client_id, "client_secret": slack.client_secret, "code": other}
    with pytest.raises(SlackApiError) as mismatch:
        client.api_call("oauth.v2.access", data={**form, "redirect_uri": "https://x/r"})
    assert mismatch.value.response.data == {"ok": False, "error": "bad_redirect_uri"}
    matching = client.api_call(
        "oauth.v2.access", data={**form, "redirect_uri": "https://b.example/r"}
    )
    assert matching["team"] == {"id": GAMMA, "name": GAMMA}

    # The new token answers as Beta; the home token still answers as the home workspace.
    beta = WebClient(token=token, base_url=slack.api_url).auth_test()
    home = WebClient(token=slack.bot_token, base_url=slack.api_url).auth_test()
    assert (beta["team_id"], beta["user_id"]) == (BETA, answer["bot_user_id"])
    assert home["team_id"] == HOME and beta["bot_id"] != home["bot_id"]
    with pytest.raises(SlackApiError, match="invalid_auth"):
        WebClient(token="xoxb-made-up", base_url=slack.api_url).auth_test()


# --- installing --------------------------------------------------------------------------------


def test_install_page_offers_slacks_authorize_url_with_client_id_scopes_and_state(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    assert slack.calls_to("auth.test") == []  # no token to check at start in this mode
    authorize = start_install(oauth_bot)
    assert authorize.url.startswith("https://slack.com/oauth/v2/authorize?")
    assert authorize.query["client_id"] == [slack.client_id]
    assert authorize.scope.split(",") == oauth_bot.settings.scopes
    assert "commands" in authorize.scope.split(",") and "im:write" in authorize.scope.split(",")
    assert authorize.query["user_scope"] == [""]  # bot scopes only
    assert len(authorize.state) >= 32
    assert authorize.cookie == f"slack-app-oauth-state={authorize.state}"
    assert count(db, "slack_oauth_states") == 1  # the state is kept in the bot's own database
    assert start_install(oauth_bot).state != authorize.state


def test_redirect_with_a_code_installs_the_workspace_in_the_bots_database(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    authorize = start_install(oauth_bot)
    code = slack.new_oauth_code(
        team_id=BETA, user_id=DANA, team_name=BETA_NAME, scope=authorize.scope
    )
    page = redirect(oauth_bot, code, authorize.state, cookie=authorize.cookie)
    assert page.status == 200, page.body
    assert "Thank you!" in page.body and f"slack://app?team={BETA}" in html.unescape(page.body)
    installed = slack.installed_bot(BETA)
    assert installed is not None
    [row] = bot_rows(db)
    assert (row["team_id"], row["team_name"], row["enterprise_id"]) == (BETA, BETA_NAME, None)
    assert row["bot_token"] == installed["token"] and row["client_id"] == slack.client_id
    assert (row["bot_user_id"], row["bot_id"]) == (installed["bot_user_id"], installed["bot_id"])
    assert row["bot_scopes"] == authorize.scope
    assert count(db, "slack_installations") == 1 and count(db, "slack_oauth_states") == 0
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange.response["ok"] is True and exchange.params["code"] == code
    assert (bearer(exchange) or "").startswith("Basic ")  # the app's credentials, not a token
    client = InstalledWorkspaces.from_settings(db, oauth_bot.settings).client_for(BETA)
    assert client is not None and client.token == installed["token"]
    assert client.base_url == slack.api_url  # the fake, with the bot's own client settings
    assert InstalledWorkspaces.from_settings(db, oauth_bot.settings).client_for(GAMMA) is None


def test_a_bad_state_or_code_gives_an_error_page_and_installs_nothing(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    authorize = start_install(oauth_bot)
    code = slack.new_oauth_code(team_id=BETA, user_id=DANA, scope=authorize.scope)

    forged = redirect(oauth_bot, code, "forged-state", cookie="slack-app-oauth-state=forged-state")
    assert forged.status == 401 and "invalid_state" in forged.body
    no_cookie = redirect(oauth_bot, code, authorize.state, cookie=None)  # another browser
    assert no_cookie.status == 400 and "invalid_browser" in no_cookie.body
    bad_code = redirect(oauth_bot, "123.456.nope", authorize.state, cookie=authorize.cookie)
    assert bad_code.status == 401 and "invalid_code" in bad_code.body
    [refused] = slack.calls_to("oauth.v2.access")
    assert refused.response == {"ok": False, "error": "invalid_code"}
    for page in (forged, no_cookie, bad_code):
        assert "Oops, Something Went Wrong!" in page.body and "Traceback" not in page.body
        assert page.headers.get_content_type() == "text/html"
    assert bot_rows(db) == [] and count(db, "slack_installations") == 0
    assert slack.installed_bot(BETA) is None

    again = start_install(oauth_bot)  # the state was used up: start over, then it works
    page = redirect(oauth_bot, code, again.state, cookie=again.cookie)
    assert page.status == 200, page.body
    reused = start_install(oauth_bot)  # the same code a second time
    assert redirect(oauth_bot, code, reused.state, cookie=reused.cookie).status == 401
    assert [r["team_id"] for r in bot_rows(db)] == [BETA]


def test_install_routes_only_exist_in_oauth_mode(bench: Any) -> None:
    for path in ("/slack/install", "/slack/oauth_redirect?code=1&state=2"):
        page = get(bench.url + path)
        assert (page.status, json.loads(page.body)) == (404, {"error": "not found"})


# --- requests from installed workspaces -------------------------------------------------------


def test_a_slash_command_from_an_installed_workspace_is_answered_with_its_token(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    token = install(oauth_bot, slack, BETA, user=DANA, team_name=BETA_NAME)
    channel = beta_channel(slack)
    reply = declare_from(oauth_bot, slack, BETA, DANA, channel)
    assert reply.status == 200, reply.body
    [post] = slack.wait_for("chat.postMessage", timeout=10)
    assert "INC-1" in post.params["text"]
    assert bearer(post) == f"Bearer {token}" and token != slack.bot_token
    installed = slack.installed_bot(BETA)
    assert installed is not None
    [announced] = [m for m in slack.messages(channel) if m.get("bot_id")]
    assert announced["bot_id"] == installed["bot_id"]  # posted as Beta's bot
    calls_with_home_token = [c for c in slack.calls if bearer(c) == f"Bearer {slack.bot_token}"]
    assert calls_with_home_token == []
    with db.session() as session:
        [incident] = session.scalars(select(Incident)).all()
        assert (incident.team_id, incident.channel_id) == (BETA, channel)


def test_two_workspaces_each_get_their_own_token(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    home_token = install(oauth_bot, slack, HOME, user=ALICE, team_name="Acme")
    beta_token = install(oauth_bot, slack, BETA, user=DANA, team_name=BETA_NAME)
    assert home_token == slack.bot_token and beta_token != home_token
    assert [(r["team_id"], r["bot_token"]) for r in bot_rows(db)] == [
        (HOME, home_token),
        (BETA, beta_token),
    ]
    channel = beta_channel(slack)
    assert declare_from(oauth_bot, slack, HOME, ALICE, INCIDENT_CHANNEL).status == 200
    slack.wait_for("chat.postMessage", 1, timeout=10)
    assert declare_from(oauth_bot, slack, BETA, DANA, channel).status == 200
    posts = slack.wait_for("chat.postMessage", 2, timeout=10)
    by_channel = {p.params["channel"]: p for p in posts}
    assert bearer(by_channel[INCIDENT_CHANNEL]) == f"Bearer {home_token}"
    assert bearer(by_channel[channel]) == f"Bearer {beta_token}"
    assert all("INC-1" in p.params["text"] for p in posts)  # numbered per workspace
    with db.session() as session:
        teams = session.scalars(select(Incident.team_id).order_by(Incident.team_id)).all()
    assert teams == [HOME, BETA]


def test_a_workspace_that_has_not_installed_the_app_is_told_to_install_it(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    install(oauth_bot, slack, BETA, user=DANA)
    requests = SlackRequests(oauth_bot.url, SIGNING_SECRET, team_id=GAMMA, team_domain="gamma")
    response_url = slack.new_response_url()
    reply = requests.slash_command(
        "/incident", "declare Down", user_id="U3GUS", channel_id="C3", response_url=response_url
    )
    assert reply.status == 200
    [told] = slack.wait_for_response()  # Bolt's answer, privately, to the person who asked
    assert "install this app" in told["text"]
    assert slack.response_posts(response_url) == [told]
    assert slack.calls_to("chat.postMessage") == []
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


# --- work outside requests: reminders and the digest -----------------------------------------


def overdue_followup(db: Database, team_id: str, channel: str, owner: str) -> FollowUp:
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(team_id),
            channel_id=channel,
            channel_private=False,
            commander_id=owner,
            title=f"Trouble in {channel}",
            severity=None,
            now=MON - timedelta(days=10),
        )
        new = NewFollowUp("Add alerting", owner, date(2026, 11, 20), Priority.P2)
        item, _ = create_followup(
            session, incident, new, created_by=owner, now=MON - timedelta(days=9)
        )
        return item


def test_the_reminder_sweep_dms_each_workspace_with_its_own_token(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    beta_token = install(oauth_bot, slack, BETA, user=DANA)
    dana_item = overdue_followup(db, BETA, BETA_CHANNEL, DANA)
    alice_item = overdue_followup(db, HOME, INCIDENT_CHANNEL, ALICE)  # home: not installed yet
    workspaces = InstalledWorkspaces.from_settings(db, oauth_bot.settings)
    slack.reset_calls()

    report = sweep(db, workspaces, oauth_bot.settings, MON)
    assert [d.recipient_id for d in report.sent] == [DANA]
    assert report.not_installed == [HOME] and slack.dm_channel_id(ALICE) is None
    assert any("not installed" in line and HOME in line for line in report.lines())
    [post] = slack.calls_to("chat.postMessage")
    assert bearer(post) == f"Bearer {beta_token}"
    [opened] = slack.calls_to("conversations.open")
    assert bearer(opened) == f"Bearer {beta_token}" and opened.params["users"] == DANA
    dm = slack.dm_channel_id(DANA)
    assert dm is not None and dana_item.key in json.dumps(slack.messages(dm)[-1]["blocks"])

    home_token = install(oauth_bot, slack, HOME, user=ALICE)  # Alice's reminder waited for it
    slack.reset_calls()
    later = sweep(db, workspaces, oauth_bot.settings, MON + timedelta(minutes=15))
    assert [d.recipient_id for d in later.sent] == [ALICE] and later.not_installed == []
    [post] = slack.calls_to("chat.postMessage")
    assert bearer(post) == f"Bearer {home_token}" and post.params["channel"] != dm
    alice_dm = slack.dm_channel_id(ALICE)
    assert alice_dm is not None
    assert alice_item.key in json.dumps(slack.messages(alice_dm)[-1]["blocks"])


def test_the_scheduler_sweeps_with_the_bots_installed_workspaces(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    beta_token = install(oauth_bot, slack, BETA, user=DANA)
    overdue_followup(db, BETA, BETA_CHANNEL, DANA)
    services = Services(settings=oauth_bot.settings, db=db, clock=lambda: MON)
    bot = create_bot(services)  # what `postmortem-bot run` starts the scheduler with
    assert isinstance(bot.workspaces, InstalledWorkspaces)
    slack.reset_calls()
    scheduler = start_scheduler(services, bot.workspaces, first_run_in=timedelta(0))
    try:
        [post] = slack.wait_for("chat.postMessage", timeout=10)
    finally:
        scheduler.shutdown(wait=True)
        bot.close()
    assert bearer(post) == f"Bearer {beta_token}" and post.params["channel"].startswith("D")


def test_the_digest_goes_to_the_workspace_that_has_the_channel(
    oauth_bot: RunningBot, slack: FakeSlack, db: Database
) -> None:
    home_token = install(oauth_bot, slack, HOME, user=ALICE)
    beta_token = install(oauth_bot, slack, BETA, user=DANA)
    installed = slack.installed_bot(BETA)
    assert installed is not None
    digest_channel = "C2DIGEST"  # private, in Beta: the home bot cannot see it
    slack.add_channel(
        "beta-ops",
        private=True,
        members=[DANA, str(installed["bot_user_id"])],
        bot_is_member=False,
        channel_id=digest_channel,
    )
    overdue_followup(db, BETA, BETA_CHANNEL, DANA)
    settings = sandbox_settings(
        slack, db.url, **oauth_overrides(slack, reminder_digest_channel=digest_channel)
    )
    workspaces = InstalledWorkspaces.from_settings(db, settings)
    assert len(workspaces.all_clients()) == 2
    slack.reset_calls()

    assert send_digests(db, workspaces, settings, MON) is True
    [post] = slack.calls_to("chat.postMessage")
    assert post.params["channel"] == digest_channel and bearer(post) == f"Bearer {beta_token}"
    assert "1 overdue" in post.params["text"]  # Beta's own follow-up, counted for Beta
    homes = [c for c in slack.calls if bearer(c) == f"Bearer {home_token}"]
    assert [c.method for c in homes] == ["conversations.info"]  # asked, then left alone
    assert homes[0].response["error"] == "channel_not_found"
    assert send_digests(db, workspaces, settings, MON + timedelta(hours=1)) is False  # once a week


def test_remind_once_in_oauth_mode_uses_the_installed_workspaces(
    tmp_path: Path, slack: FakeSlack
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    slack.add_user(DANA, "dana", tz="UTC")
    try:
        with running_bot(slack, _migrated(database), **oauth_overrides(slack)) as bot:
            beta_token = install(bot, slack, BETA, user=DANA)
        overdue_followup(database, BETA, BETA_CHANNEL, DANA)
    finally:
        database.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        SLACK_CLIENT_ID=slack.client_id,
        SLACK_CLIENT_SECRET=slack.client_secret,
        SLACK_API_URL=slack.api_url,
        WORKING_HOURS="00:00-24:00",
        WORKING_DAYS="mon-sun",
    )
    slack.reset_calls()
    result = subprocess.run(
        [str(SCRIPT), "remind", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"sent DM to {DANA}" in result.stdout
    [post] = slack.calls_to("chat.postMessage")
    assert bearer(post) == f"Bearer {beta_token}"


def _migrated(database: Database) -> Database:
    from storage.migrate import upgrade

    upgrade(database)
    return database
