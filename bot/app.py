"""Building the bot: settings → Web API client → Bolt app with every listener registered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import handlers
from bot.capture.writer import CaptureWriter
from bot.core.settings import README_HINT, Settings
from bot.jira.flows import JiraSync
from bot.services import Services
from bot.slack.client import client_with_token, instrumented, make_web_client
from bot.slack.oauth import (
    INSTALL_PATH,
    REDIRECT_URI_PATH,
    STATE_EXPIRATION_SECONDS,
    InstalledWorkspaces,
    client_id_of,
    installation_store,
    state_store,
)
from bot.slack.workspaces import SingleWorkspace, Workspaces
from bot.web.observability import ContextPreservingExecutor
from handlers.middleware import refusal
from storage.db import Database

LISTENER_THREADS = 16
SHUTDOWN_FLUSH_SECONDS = 30  # for captured messages still queued when the bot stops


class SlackStartupError(Exception):
    """Slack cannot be used with these settings; the message says what to fix."""


@dataclass
class Bot:
    """The Bolt app, the threads that run listener work after each ack, and the client of each
    workspace for work that starts outside a request (reminders, the digest)."""

    app: App
    executor: ThreadPoolExecutor
    workspaces: Workspaces
    closers: list[Callable[[], object]] = field(default_factory=list)
    jira: JiraSync | None = None

    def close(self) -> None:
        """Finish the work already started (call after the server stops taking requests):
        listeners still running, then what they queued (captured messages)."""
        self.executor.shutdown(wait=True)
        for closer in self.closers:
            closer()


def verify_slack(client: WebClient, api_url: str) -> None:
    """Check the bot token with `auth.test` now, not on the first user request."""
    try:
        client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error", "unknown_error")
        raise SlackStartupError(
            f"Slack rejected SLACK_BOT_TOKEN ({code}). Copy the Bot User OAuth Token "
            "(xoxb-...) from your app's OAuth & Permissions page. " + README_HINT
        ) from None
    except OSError as error:
        raise SlackStartupError(
            f"Couldn't reach Slack at {api_url} ({error}). Check SLACK_API_URL and the network."
        ) from None


def instrument_request_client(
    context: BoltContext, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Bolt middleware (pass as `before_authorize`, so authorization's calls count too): Bolt
    builds a plain WebClient for each request from the app's client; count its calls."""
    instrumented(context.client)
    return next()


def before_authorize(
    request: BoltRequest, context: BoltContext, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Bolt's first middleware: refuse a request our verifier did not pass before anything,
    authorization included, may call Slack for it (handlers.middleware.refusal); then count
    the per-request client's calls."""
    refused = refusal(request)
    if refused is not None:
        return refused
    return instrument_request_client(context, next)


def oauth_settings(settings: Settings, db: Database) -> OAuthSettings:
    """Bolt's OAuth settings, with slack-sdk's stores in the bot's database; call
    `settings.require_slack()` first."""
    secret = settings.slack_client_secret
    assert secret is not None, "require_slack() checks SLACK_CLIENT_SECRET"
    client_id = client_id_of(settings)
    return OAuthSettings(
        client_id=client_id,
        client_secret=secret.get_secret_value().strip(),
        scopes=settings.scopes,
        user_scopes=[],  # explicit: Bolt would otherwise read SLACK_USER_SCOPES itself
        redirect_uri=settings.slack_redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_URI_PATH,
        installation_store=installation_store(db, client_id),
        installation_store_bot_only=True,  # only bot tokens: find_bot per request
        state_store=state_store(db),
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        logger=logging.getLogger("postmortem_bot.oauth"),
    )


def create_bot(services: Services, *, client: WebClient | None = None) -> Bot:
    """Raises ConfigError (missing settings) or SlackStartupError (Slack refuses or is away)."""
    settings = services.settings
    settings.require_slack()
    # Multi-workspace install: no token to check now; each workspace's token is looked up in
    # the installation store (and checked by Bolt) on each of its requests.
    flow = oauth_settings(settings, services.db) if settings.oauth_mode else None
    if flow is None:
        client = client or make_web_client(settings)
        verify_slack(client, settings.slack_api_url)
    else:
        client = client or client_with_token(settings, None)  # also makes oauth.v2.access
    secret = settings.slack_signing_secret
    # Runs each listener in a copy of the request's context: its logs keep the request id.
    executor = ContextPreservingExecutor(LISTENER_THREADS, thread_name_prefix="listener")
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        # Verification happens before Bolt, on the raw bytes (bot.web.slack_events), and the
        # boundary middleware refuses anything it did not verify (handlers.middleware). Bolt's
        # own check would decide nothing more, and it logs every unsigned body at INFO. Socket
        # Mode requests come over an authenticated websocket and carry no signature.
        request_verification_enabled=False,
        # Slack's unsigned certificate check is answered at the HTTP boundary too.
        ssl_check_enabled=False,
        # verify_slack just did it; Bolt would call auth.test a second time.
        token_verification_enabled=False,
        oauth_settings=flow,
        process_before_response=False,
        listener_executor=executor,
        before_authorize=before_authorize,  # refuse the unverified, count the client's calls
        logger=logging.getLogger("postmortem_bot.bolt"),
    )
    workspaces: Workspaces = SingleWorkspace(client)
    if flow is not None:
        app.enable_token_revocation_listeners()  # app_uninstalled, tokens_revoked
        workspaces = InstalledWorkspaces.from_settings(services.db, settings)
    jira = make_jira_sync(services, workspaces)
    writer = CaptureWriter(services.db)
    services = replace(services, jira=jira, capture=writer)
    handlers.register(app, services)
    closers: list[Callable[[], object]] = [lambda: writer.flush(timeout=SHUTDOWN_FLUSH_SECONDS)]
    return Bot(app=app, executor=executor, workspaces=workspaces, closers=closers, jira=jira)


def make_jira_sync(services: Services, workspaces: Workspaces) -> JiraSync | None:
    """Jira export and sync, when JIRA_URL, JIRA_PROJECT and credentials are set."""
    if not services.settings.jira_enabled:
        return None
    return JiraSync(services.settings, services.db, workspaces, services.clock)
