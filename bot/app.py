"""Building the bot: settings → Web API client → Bolt app with every listener registered."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import handlers
from bot.capture import flows as capture_flows
from bot.confluence.flows import ConfluenceSetup, make_confluence
from bot.core.outbox import Job, Lane
from bot.core.outbox_worker import THREADS, JobSpec, OutboxWorkers
from bot.core.settings import README_HINT, Settings
from bot.followups import flows as followup_flows
from bot.home import flows as home_flows
from bot.jira.flows import JiraSync
from bot.membership import flows as membership_flows
from bot.postmortem import flows as postmortem_flows
from bot.reminders import flows as reminder_flows
from bot.services import Services
from bot.slack import posting
from bot.slack.budget import RateBudget
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
from bot.slack.replies import Replies
from bot.slack.workspaces import SingleWorkspace, Workspaces
from bot.slow_work import SlowWorkProcess
from bot.status import flows as status_flows
from bot.timeline import flows as timeline_flows
from handlers.middleware import refusal
from storage.db import Database
from storage.write_queue import answering

SHUTDOWN_DRAIN_SECONDS = 20.0  # the most a stop waits for recorded work (see Bot.close)


class SlackStartupError(Exception):
    """Slack cannot be used with these settings; the message says what to fix."""


@dataclass
class Bot:
    """The Bolt app, the outbox workers that carry out what requests recorded, and the client
    of each workspace for work that starts outside a request (reminders, the digest)."""

    app: App
    workers: OutboxWorkers
    services: Services
    workspaces: Workspaces
    jira: JiraSync | None = None
    confluence: ConfluenceSetup | None = None
    slow_work: SlowWorkProcess | None = None

    def close(self, timeout: float = SHUTDOWN_DRAIN_SECONDS) -> bool:
        """Finish the work already recorded (call after the server stops taking requests): the
        outbox jobs that are due, here and in the slow-work process at the same time, then the
        private replies still queued. True if in time."""
        deadline = time.monotonic() + timeout
        if self.slow_work is not None:
            self.slow_work.request_stop()
        drained = self.workers.stop(timeout)
        self.services.replies.close()
        if self.slow_work is not None:
            drained = self.slow_work.stop(max(0.0, deadline - time.monotonic())) and drained
        return drained


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
    # Writes during the middleware (authorization) go before work done after other acks
    # (storage.write_queue); a listener, which Bolt runs after this returns, marks its own
    # (handlers.request.listener).
    with answering():
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


def create_bot(
    services: Services,
    *,
    client: WebClient | None = None,
    slow_work: SlowWorkProcess | None = None,
) -> Bot:
    """Raises ConfigError (missing settings) or SlackStartupError (Slack refuses or is away).
    With `slow_work`, the slow lane's jobs are left to its process (start it after this)."""
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
        # Write, then ack: a listener records the change (and its side effects as outbox jobs)
        # on the request's own thread, and Slack gets its answer when that commit is done.
        # Nothing slow runs there: outbox workers do the rest on threads of their own.
        process_before_response=True,
        before_authorize=before_authorize,  # refuse the unverified, count the client's calls
        logger=logging.getLogger("postmortem_bot.bolt"),
    )
    workspaces: Workspaces = SingleWorkspace(client)
    if flow is not None:
        app.enable_token_revocation_listeners()  # app_uninstalled, tokens_revoked
        workspaces = InstalledWorkspaces.from_settings(services.db, settings)
    services, confluence = with_integrations(services, workspaces)
    if slow_work is None:
        workers = outbox_workers(services)
    else:  # the slow lane runs in slow_work's process; a commit here wakes it through a pipe
        workers = outbox_workers(
            services, threads={Lane.FAST: THREADS[Lane.FAST]}, elsewhere={Lane.SLOW: slow_work.wake}
        )
    workers.start()
    handlers.register(app, services)
    return Bot(
        app=app,
        workers=workers,
        services=services,
        workspaces=workspaces,
        jira=services.jira,
        confluence=confluence,
        slow_work=slow_work,
    )


def with_integrations(
    services: Services, workspaces: Workspaces
) -> tuple[Services, ConfluenceSetup | None]:
    """`services` with what jobs and listeners call: each workspace's client, Jira, Confluence,
    the history rate budget and the private replies queue (one of each per process)."""
    settings = services.settings
    confluence = make_confluence(settings)
    # One budget per process (a benchmark may bring its own, on a clock of its own).
    budget = services.history_budget or RateBudget(settings.slack_history_calls_per_minute)
    services = replace(
        services,
        jira=make_jira_sync(services, workspaces),
        confluence=confluence.gateway if confluence is not None else None,
        workspaces=workspaces,
        history_budget=budget,
        replies=Replies(allows=settings.response_url_policy.allows),
    )
    return services, confluence


def outbox_workers(
    services: Services,
    *,
    threads: dict[Lane, int] | None = None,
    elsewhere: dict[Lane, Callable[[], None]] | None = None,
) -> OutboxWorkers:
    """The outbox workers of this process (not started), for every kind of job."""
    replies = services.replies

    def tell(job: Job, text: str) -> None:
        replies.respond(job.payload.get("reply_to"), {"text": text, "response_type": "ephemeral"})

    return OutboxWorkers(
        services.db,
        job_specs(services),
        threads=threads,
        lease=timedelta(seconds=services.settings.outbox_lease_seconds),
        tell=tell,
        elsewhere=elsewhere,
    )


def slow_work_workers(services: Services) -> tuple[OutboxWorkers, Services]:
    """The slow lane's workers, for the slow-work process (bot.slow_work): its own clients,
    made from the settings; the parent checked the token already."""
    settings = services.settings
    workspaces: Workspaces = (
        InstalledWorkspaces.from_settings(services.db, settings)
        if settings.oauth_mode
        else SingleWorkspace(make_web_client(settings))
    )
    services, _ = with_integrations(services, workspaces)
    return outbox_workers(services, threads={Lane.SLOW: THREADS[Lane.SLOW]}), services


def job_specs(services: Services) -> list[JobSpec]:
    """Every kind of outbox job the features define."""
    return [
        *posting.jobs(services.client_for),
        *status_flows.jobs(services),
        *capture_flows.jobs(services),
        *timeline_flows.jobs(services),
        *followup_flows.jobs(services),
        *home_flows.jobs(services),
        *membership_flows.jobs(services),
        *postmortem_flows.jobs(services),
        *reminder_flows.jobs(services),
    ]


def make_jira_sync(services: Services, workspaces: Workspaces) -> JiraSync | None:
    """Jira export and sync, when JIRA_URL, JIRA_PROJECT and credentials are set."""
    if not services.settings.jira_enabled:
        return None
    return JiraSync(services.settings, services.db, workspaces, services.clock)
