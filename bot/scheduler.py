"""The in-process schedule: a reminder sweep every REMINDER_INTERVAL_MINUTES, and the weekly
digest (Mondays 09:00 UTC) when REMINDER_DIGEST_CHANNEL is set.

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

from bot.reminders.digest import send_digest
from bot.reminders.sweep import sweep
from bot.services import Services

log = logging.getLogger("postmortem_bot.scheduler")
SWEEP_JOB = "reminder_sweep"
DIGEST_JOB = "reminder_digest"
DIGEST_TRIGGER = CronTrigger(day_of_week="mon", hour=9, minute=0, timezone="UTC")


def run_sweep(services: Services, client: WebClient) -> None:
    """One scheduled sweep; errors are logged, and the next run tries again."""
    try:
        report = sweep(services.db, client, services.settings, services.clock())
    except Exception:
        log.exception("reminder sweep failed; the next one retries")
        return
    for line in report.lines():
        log.info("reminders: %s", line)


def run_digest(services: Services, client: WebClient) -> None:
    """The weekly digest; errors are logged (its claim was released: a manual run can send it)."""
    try:
        send_digest(services.db, client, services.settings, services.clock())
    except Exception:
        log.exception("weekly digest failed; `postmortem-bot remind --digest` sends it")


def start_scheduler(
    services: Services, client: WebClient, *, first_run_in: timedelta = timedelta(seconds=10)
) -> BackgroundScheduler:
    """Start sweeping in a background thread; call `.shutdown()` when the bot stops."""
    interval = timedelta(minutes=services.settings.reminder_interval_minutes)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        run_sweep,
        IntervalTrigger(seconds=interval.total_seconds(), timezone="UTC"),
        args=(services, client),
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
            args=(services, client),
            id=DIGEST_JOB,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(timedelta(hours=12).total_seconds()),
        )
    scheduler.start()
    return scheduler
