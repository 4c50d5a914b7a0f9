"""The in-process schedule: a reminder sweep every REMINDER_INTERVAL_MINUTES, the weekly digest
(Mondays 09:00 UTC) when REMINDER_DIGEST_CHANNEL is set, Jira sync when Jira is set up, and
hourly housekeeping (tables that would otherwise only grow).

Replicas may each run one: reminders are claimed in the database (bot.reminders.claims), so a
DM is sent once however many sweep, and the digest once a week. Missed runs (downtime, a long
sweep) coalesce into one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient

from bot.capture.watch import BEAT_EVERY, beat
from bot.core.outbox import prune as prune_outbox
from bot.core.outbox import utc_now as outbox_now
from bot.jira.flows import JiraSync
from bot.reminders.digest import send_digests
from bot.reminders.sweep import sweep
from bot.services import Services
from bot.slack.event_claims import prune_claims
from bot.slack.oauth import prune_states
from bot.slack.request_replays import prune_requests
from bot.slack.workspaces import Workspaces, as_workspaces
from storage.db import explain, is_unavailable

log = logging.getLogger("postmortem_bot.scheduler")
SWEEP_JOB = "reminder_sweep"
DIGEST_JOB = "reminder_digest"
JIRA_SYNC_JOB = "jira_sync"
HOUSEKEEPING_JOB = "housekeeping"
HEARTBEAT_JOB = "capture_heartbeat"
HOUSEKEEPING_EVERY = timedelta(hours=1)
DIGEST_TRIGGER = CronTrigger(day_of_week="mon", hour=9, minute=0, timezone="UTC")


def run_sweep(services: Services, workspaces: Workspaces) -> None:
    """One scheduled sweep; errors are logged, and the next run tries again."""
    try:
        report = sweep(services.db, workspaces, services.settings, services.clock())
    except Exception:
        log.exception("reminder sweep failed; the next one retries")
        return
    for line in report.lines():
        log.info("reminders: %s", line)


def run_digest(services: Services, workspaces: Workspaces) -> None:
    """The weekly digest; errors are logged (its claim was released: a manual run can send it)."""
    try:
        send_digests(services.db, workspaces, services.settings, services.clock())
    except Exception:
        log.exception("weekly digest failed; `postmortem-bot remind --digest` sends it")


def run_heartbeat(services: Services) -> None:
    """This replica is capturing; a downtime of all of them becomes backfill gaps."""
    try:
        beat(services)
    except Exception as error:
        if is_unavailable(error):  # an outage: the next beat after it records the gap
            log.warning("capture heartbeat waiting for the database: %s", explain(error))
        else:
            log.exception("capture heartbeat failed")


def run_housekeeping(services: Services) -> None:
    """Delete Events API claims older than Slack's retry window, the signed requests kept to
    recognise replays once their timestamps are too old to verify, and OAuth states that expired
    unused. Idempotent, so replicas need no claim for it; errors are logged and retried."""
    now = services.clock()
    try:
        with services.db.session() as session:
            claims = prune_claims(session, now=now)
            prune_outbox(session, now=outbox_now())
            requests = prune_requests(session, now=now)
        states = prune_states(services.db, now=now)
    except Exception:
        log.exception("housekeeping failed; the next run retries")
        return
    if claims or requests or states:
        log.info(
            "housekeeping: pruned %d event claims, %d seen requests, %d expired OAuth states",
            claims,
            requests,
            states,
        )


def start_scheduler(
    services: Services,
    workspaces: Workspaces | WebClient,
    *,
    first_run_in: timedelta | None = None,
    jira: JiraSync | None = None,
) -> BackgroundScheduler:
    """Start sweeping in a background thread; call `.shutdown()` when the bot stops. The first
    sweep runs `first_run_in` after start (default: SCHEDULER_FIRST_RUN_SECONDS, 10). Each
    workspace's reminders go out with its own client (a plain client: one workspace)."""
    workspaces = as_workspaces(workspaces)
    if first_run_in is None:
        first_run_in = timedelta(seconds=services.settings.scheduler_first_run_seconds)
    interval = timedelta(minutes=services.settings.reminder_interval_minutes)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        run_sweep,
        IntervalTrigger(seconds=interval.total_seconds(), timezone="UTC"),
        args=(services, workspaces),
        id=SWEEP_JOB,
        coalesce=True,  # missed runs make one sweep, not one per missed run
        max_instances=1,  # a slow sweep is never overlapped by the next in this process
        misfire_grace_time=int(interval.total_seconds()),
        next_run_time=datetime.now(UTC) + first_run_in,  # the scheduler's own, real time
    )
    if services.settings.reminder_digest_channel:
        scheduler.add_job(
            run_digest,
            DIGEST_TRIGGER,
            args=(services, workspaces),
            id=DIGEST_JOB,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(timedelta(hours=12).total_seconds()),
        )
    if jira is not None:
        every = timedelta(minutes=services.settings.jira_sync_interval_minutes)
        scheduler.add_job(
            run_jira_sync,
            IntervalTrigger(seconds=every.total_seconds(), timezone="UTC"),
            args=(jira,),
            id=JIRA_SYNC_JOB,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(every.total_seconds()),
            next_run_time=datetime.now(UTC) + first_run_in,
        )
    scheduler.add_job(
        run_heartbeat,
        IntervalTrigger(seconds=BEAT_EVERY.total_seconds(), timezone="UTC"),
        args=(services,),
        id=HEARTBEAT_JOB,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(BEAT_EVERY.total_seconds()),
        next_run_time=datetime.now(UTC),  # at once: a downtime is noticed as the bot starts
    )
    scheduler.add_job(
        run_housekeeping,
        IntervalTrigger(seconds=HOUSEKEEPING_EVERY.total_seconds(), timezone="UTC"),
        args=(services,),
        id=HOUSEKEEPING_JOB,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(HOUSEKEEPING_EVERY.total_seconds()),
        next_run_time=datetime.now(UTC) + first_run_in,
    )
    scheduler.start()
    return scheduler


def run_jira_sync(jira: JiraSync) -> None:
    """Retry failed exports and status pushes, then poll Jira for what webhooks missed (once per
    slot across replicas). Errors are logged; the next run tries again."""
    try:
        report = jira.run_scheduled()
    except Exception:
        log.exception("Jira sync failed; the next run retries")
        return
    if not report.skipped:
        log.info(
            "Jira sync: %d exported, %d export failures, %d pushed, %d polled, %d changed%s",
            len(report.exported),
            len(report.export_failures),
            len(report.pushed),
            report.polled,
            len(report.changed),
            f" (polling failed: {report.error})" if report.error else "",
        )
