"""Building the bot: settings → Web API client → Bolt app with every listener registered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import handlers
from bot.core.settings import README_HINT
from bot.jira.flows import JiraSync
from bot.services import Services
from bot.slack.client import client_with_token, instrument_request_client, make_web_client
from bot.slack.oauth import InstalledWorkspaces, oauth_settings
from bot.slack.workspaces import SingleWorkspace, Workspaces
from bot.web.observability import ContextPreservingExecutor

LISTENER_THREADS = 16


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
        # Socket Mode requests come over an authenticated websocket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        # verify_slack just did it; Bolt would call auth.test a second time.
        token_verification_enabled=False,
        oauth_settings=flow,
        process_before_response=False,
        listener_executor=executor,
        before_authorize=instrument_request_client,  # count the per-request client's calls
        logger=logging.getLogger("postmortem_bot.bolt"),
    )
    workspaces: Workspaces = SingleWorkspace(client)
    if flow is not None:
        app.enable_token_revocation_listeners()  # app_uninstalled, tokens_revoked
        workspaces = InstalledWorkspaces.from_settings(services.db, settings)
    jira = make_jira_sync(services, workspaces)
    services = replace(services, jira=jira)
    closers = handlers.register(app, services)
    return Bot(app=app, executor=executor, workspaces=workspaces, closers=closers, jira=jira)


def make_jira_sync(services: Services, workspaces: Workspaces) -> JiraSync | None:
    """Jira export and sync, when JIRA_URL, JIRA_PROJECT and credentials are set."""
    if not services.settings.jira_enabled:
        return None
    return JiraSync(services.settings, services.db, workspaces, services.clock)
