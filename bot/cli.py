"""`postmortem-bot` command line: run the bot, manage the database."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import click
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from bot.core.settings import README_HINT, ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger("postmortem_bot")


class Fatal(click.ClickException):
    """A clear, one-paragraph reason the command cannot go on (exit code 1, no traceback)."""

    def show(self, file: object = None) -> None:
        click.echo(f"postmortem-bot: {self.message}", err=True)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise Fatal(f"Invalid setting: {problems}. {README_HINT}") from None


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable DATABASE_URL)"


def _database(settings: Settings) -> Database:
    """The database of DATABASE_URL, every wait on it bounded by the DATABASE_*_TIMEOUT_SECONDS
    settings."""
    from storage.db import Database, Timeouts

    return Database(
        settings.database_url,
        timeouts=Timeouts(
            connect=settings.database_connect_timeout_seconds,
            statement=settings.database_statement_timeout_seconds,
            lock=settings.database_lock_timeout_seconds,
            pool=settings.database_pool_timeout_seconds,
        ),
    )


@contextmanager
def _database_errors(database: Database) -> Iterator[None]:
    """A database that refuses, or does not answer within its timeouts, ends the command with
    one line naming it (password hidden) and the reason: exit 1, no traceback."""
    from storage.db import is_unavailable

    try:
        yield
    except Exception as error:
        if not is_unavailable(error):
            raise
        reason = database.explain(error)
        raise Fatal(f"Couldn't use the database at {_safe_url(database.url)}: {reason}") from None


@click.group()
def main() -> None:
    """postmortem-bot: timeline, follow-ups and postmortems for incidents, in Slack."""


@main.command()
@click.option("--port", type=int, default=None, help="HTTP port (default: $PORT or 3000).")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface to listen on.")
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="HTTP worker threads (default: $HTTP_THREADS or 8).",
)
def run(port: int | None, host: str, threads: int | None) -> None:
    """Start the bot: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP."""
    from bot.slow_work import SlowWorkProcess, share_metrics, uses_a_child_process

    settings = _settings()
    in_a_child = uses_a_child_process(settings.slow_work_process, settings.database_url)
    if in_a_child:
        share_metrics()  # before prometheus_client is imported: the child's work counts too

    from bot.app import SHUTDOWN_DRAIN_SECONDS, SlackStartupError, create_bot
    from bot.core.logs import configure_logging, secret_values
    from bot.services import Services
    from bot.web.server import HttpServer, WebApp
    from bot.webapp.app import create_web_view
    from storage.migrate import upgrade

    try:
        settings.require_slack()
    except ConfigError as error:
        raise Fatal(str(error)) from None
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    db = _database(settings)
    with _database_errors(db):
        upgrade(db)
    services = Services(settings=settings, db=db)
    slow_work = None
    if in_a_child:
        slow_work = SlowWorkProcess(min(SHUTDOWN_DRAIN_SECONDS, settings.shutdown_timeout_seconds))
    try:
        bot = create_bot(services, slow_work=slow_work)
    except SlackStartupError as error:
        raise Fatal(str(error)) from None
    if slow_work is not None:
        slow_work.start()
    from bot.scheduler import start_scheduler

    if bot.jira is not None:
        bot.jira.startup_check()  # a wrong URL or token is said once, here; the bot runs on
    if bot.confluence is not None:
        bot.confluence.startup_check()  # the same for Confluence's space and credentials
    scheduler = start_scheduler(bot.services, bot.workspaces, jira=bot.jira)

    def close() -> None:  # after the server stops: no new sweeps, then in-flight work
        scheduler.shutdown(wait=True)
        bot.close()

    if settings.socket_mode:
        from bot.socket_mode import SocketModeRunner

        assert settings.slack_app_token is not None
        log.info("starting in Socket Mode")
        runner = SocketModeRunner(
            bot.app,
            settings.slack_app_token.get_secret_value(),
            shutdown_timeout=settings.shutdown_timeout_seconds,
            on_drained=close,
        )
        stopped_in_time = _stop_on_signals(runner)
        runner.start()
        runner.wait()
        _exit_after_stop(stopped_in_time(), settings.shutdown_timeout_seconds)
        return
    server = HttpServer(
        WebApp(
            bot.app,
            db,
            signing_secret=(
                settings.slack_signing_secret.get_secret_value().strip()
                if settings.slack_signing_secret
                else None
            ),
            status_page_title=settings.status_page_title,
            metrics_enabled=settings.metrics_enabled,
            jira_webhook=bot.jira.handle_webhook if bot.jira else None,
            web_view=create_web_view(bot.services),
        ),
        host=host,
        port=port or settings.port,
        threads=settings.http_threads if threads is None else threads,
        max_request_bytes=settings.http_max_request_bytes,
        channel_timeout=settings.http_channel_timeout_seconds,
        shutdown_timeout=settings.shutdown_timeout_seconds,
        on_drained=close,
    )
    stopped_in_time = _stop_on_signals(server)
    server.serve_forever()
    _exit_after_stop(stopped_in_time(), settings.shutdown_timeout_seconds)


def _exit_after_stop(in_time: bool, bound: float) -> None:
    """Return (exit 0) after a complete stop; exit 1 at once when the bound cut it short."""
    if not in_time:
        log.error(
            "stopped after SHUTDOWN_TIMEOUT_SECONDS (%gs) with work still running; exiting anyway",
            bound,
        )
        logging.shutdown()
        os._exit(1)  # the unfinished work's threads would keep the interpreter from exiting
    log.info("stopped")


class Stoppable(Protocol):
    def stop(self) -> bool: ...


def _stop_on_signals(server: Stoppable) -> Callable[[], bool]:
    """SIGTERM/SIGINT: take no new requests, finish in-flight ones and their work, exit 0; all
    within SHUTDOWN_TIMEOUT_SECONDS (the stop's own bound). Works for the HTTP server and the
    Socket Mode runner alike. Returns a function that waits for that stop and says whether it
    finished in time."""
    import signal
    import threading

    outcome: list[bool] = []
    started, done = threading.Event(), threading.Event()

    def stop() -> None:
        try:
            outcome.append(server.stop())
        finally:
            done.set()

    def on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if started.is_set():  # handlers run in the main thread: no race here
            log.info("received %s; already stopping", name)
            return
        started.set()
        log.info("received %s; finishing in-flight requests", name)
        threading.Thread(target=stop, name="shutdown", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def stopped_in_time() -> bool:
        if not started.is_set():
            return True
        done.wait()  # set once server.stop returns, which its own bound guarantees
        return outcome == [True]

    return stopped_in_time


@main.command("slow-work", hidden=True)
@click.option("--wake-fd", type=int, required=True, help="The pipe `run` wakes this process by.")
@click.option("--drain-seconds", type=float, default=20.0, help="The bound of a stop.")
def slow_work(wake_fd: int, drain_seconds: float) -> None:
    """The slow lane's outbox workers, as a child of `run` (bot.slow_work): generation,
    backfill, Jira exports and Confluence pages. Stops when `run` closes the pipe, or exits."""
    from bot.slow_work import follow_the_parent, serve

    follow_the_parent()
    from bot.app import slow_work_workers
    from bot.core.logs import configure_logging, secret_values
    from bot.core.outbox import Lane
    from bot.services import Services

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    workers, services = slow_work_workers(Services(settings=settings, db=_database(settings)))
    workers.start()
    serve(wake_fd, lambda: workers.wake([Lane.SLOW], everyone=False))
    drained = workers.stop(drain_seconds)
    services.replies.close()
    _exit_after_stop(drained, drain_seconds)


@main.command()
@click.argument("incident_key")
@click.option("--template", "template_name", default=None, help="Template (default: standard).")
@click.option("--team", default=None, help="Slack team id, when several workspaces share a DB.")
def render(incident_key: str, template_name: str | None, team: str | None) -> None:
    """Print an incident's postmortem as Markdown, from the database only (no Slack)."""
    from bot.core.errors import UserError
    from bot.postmortem.offline import render_offline

    settings = _settings()
    database = _database(settings)
    with _database_errors(database):
        try:
            text = render_offline(
                database, settings, incident_key, template=template_name, team_id=team
            )
        except UserError as error:
            raise Fatal(error.message) from None
    click.echo(text, nl=False)


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("postmortem-demo.md"),
    show_default=True,
    help="Where to write the generated postmortem.",
)
@click.option(
    "--destination",
    type=click.Choice(["canvas", "confluence"]),
    default="canvas",
    show_default=True,
    help="Publish as a canvas, or as a page of a built-in fake Confluence.",
)
def demo(out: Path, destination: str) -> None:
    """Run a scripted incident against a built-in Slack simulator (no workspace needed)."""
    import logging as std_logging

    from sandbox.demo import run_demo

    std_logging.basicConfig(level=std_logging.WARNING)
    run_demo(out, destination=destination)


@main.group()
def templates() -> None:
    """Postmortem templates."""


@templates.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def templates_check(directory: Path | None) -> None:
    """Compile and render every template (built-in and DIRECTORY, default
    POSTMORTEM_TEMPLATES_DIR) against sample data; exit 1 if any fails."""
    from bot.postmortem.render import check_templates
    from bot.postmortem.sample import sample_context

    folder = directory or _settings().postmortem_templates_dir
    if folder is not None and not folder.is_dir():
        raise Fatal(f"{folder} is not a folder of templates (*.md.j2).")
    results = check_templates(folder, sample_context().as_template_vars())
    for result in results:
        click.echo(f"{'ok  ' if result.problem is None else 'FAIL'} {result.name}")
        if result.problem:
            click.echo(f"     {result.problem}")
    if any(r.problem for r in results):
        raise SystemExit(1)


@main.command()
@click.option("--once", is_flag=True, help="Run one sweep now and exit (for cron).")
@click.option("--digest", is_flag=True, help="Post this week's digest now (once a week).")
@click.option("--dry-run", is_flag=True, help="Only print what would be sent.")
def remind(once: bool, digest: bool, dry_run: bool) -> None:
    """Send the reminder DMs due now (`run` does this on a schedule)."""
    from datetime import UTC, datetime

    from slack_sdk.errors import SlackApiError

    from bot.reminders.digest import send_digests
    from bot.reminders.sweep import sweep
    from bot.slack.client import make_web_client
    from bot.slack.oauth import InstalledWorkspaces
    from bot.slack.workspaces import SingleWorkspace, Workspaces
    from storage.migrate import upgrade

    if not once and not digest:
        raise Fatal(
            "Use `remind --once` or `remind --digest`: `run` already sweeps every "
            "REMINDER_INTERVAL_MINUTES and posts the digest on Mondays."
        )
    settings = _settings()
    if settings.oauth_mode and not (settings.slack_client_id or "").strip():
        raise Fatal(
            "Missing required setting: SLACK_CLIENT_ID (a multi-workspace install's tokens "
            "are stored per app). " + README_HINT
        )
    if not settings.oauth_mode and (
        settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value()
    ):
        raise Fatal("Missing required setting: SLACK_BOT_TOKEN. " + README_HINT)
    if digest and not settings.reminder_digest_channel:
        raise Fatal("Set REMINDER_DIGEST_CHANNEL (a channel id) to post the digest.")
    database = _database(settings)
    workspaces: Workspaces = (
        InstalledWorkspaces.from_settings(database, settings)
        if settings.oauth_mode
        else SingleWorkspace(make_web_client(settings))
    )
    with _database_errors(database):
        upgrade(database)
        if once:
            report = sweep(database, workspaces, settings, datetime.now(UTC), dry_run=dry_run)
            for line in report.lines():
                click.echo(line)
        if digest:
            try:
                send_digests(
                    database,
                    workspaces,
                    settings,
                    datetime.now(UTC),
                    dry_run=dry_run,
                    echo=click.echo,
                )
            except SlackApiError as error:
                reason = error.response.get("error", "error")
                raise Fatal(f"Couldn't post the digest ({reason}); run it again.") from None


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to DATABASE_URL."""
    from storage.migrate import current_revision, upgrade

    settings = _settings()
    database = _database(settings)
    with _database_errors(database):
        upgrade(database)
        click.echo(
            f"Database {_safe_url(settings.database_url)} is at revision "
            f"{current_revision(database)}."
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
