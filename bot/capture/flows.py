"""Capture: live message events are stored before their ack; what live capture did not see (a
gap: the lead-up before a declaration, a downtime) is fetched by a slow-lane backfill job, one
page per step, within Slack's rate limits, resuming from its stored cursor after a restart
(no Bolt)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.capture.events import datetime_to_ts, delivery_of, ts_to_datetime
from bot.capture.gaps import GapReason, open_gap
from bot.capture.service import apply_delivery, declared_by, store_messages
from bot.core import outbox
from bot.core.outbox_worker import PERMANENT_SLACK_ERRORS, Continue, JobRun, JobSpec
from bot.membership import flows as membership_flows
from bot.services import Services
from bot.slack.budget import RateBudget
from bot.slack.posting import client_or_fail
from storage.models import CaptureGap, GapState, Incident

log = logging.getLogger("postmortem_bot.capture")

BACKFILL = "capture.backfill"
STEPS_PER_ATTEMPT = 50  # pages fetched before the job yields its thread to other work


def capture_message(
    services: Services, *, team_id: str, event_id: str | None, event: dict[str, Any]
) -> None:
    """Store one message event of an incident channel (once per event id), in one short
    transaction, before Slack is told it arrived. A channel made private or public (a
    `message` subtype) changes who may see its incidents (bot.membership)."""
    if event.get("subtype") in membership_flows.CONVERSIONS:
        membership_flows.channel_converted(
            services, team_id=team_id, event_id=event_id, event=event
        )
        return
    delivery = delivery_of(
        team_id=team_id, event_id=event_id, event=event, received_at=services.clock()
    )
    if delivery is None:
        return
    with services.db.session() as session:
        apply_delivery(session, delivery, services.channels)


def enqueue_backfill(
    session: Session, services: Services, incident: Incident, *, reply_to: str | None
) -> None:
    """Record the lead-up (BACKFILL_LEADUP_MINUTES before the declaration) as a gap to fetch;
    the declaration is acknowledged without waiting for it."""
    leadup = timedelta(minutes=services.settings.backfill_leadup_minutes)
    fill_gap(
        session,
        team_id=incident.team_id,
        channel_id=incident.channel_id,
        reason=GapReason.LEADUP,
        start_at=incident.declared_at - leadup,
        end_at=incident.declared_at,
        now=services.clock(),
        notify={"incident_key": incident.key, "reply_to": reply_to},
    )


def fill_gap(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    reason: GapReason,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
    notify: dict[str, Any] | None = None,
) -> int | None:
    """Record a gap and the job that fetches it (nothing if it is recorded already)."""
    gap_id = open_gap(
        session,
        team_id=team_id,
        channel_id=channel_id,
        reason=reason,
        start_at=start_at,
        end_at=end_at,
        now=now,
    )
    if gap_id is None:
        return None
    outbox.enqueue(
        session,
        BACKFILL,
        {"gap_id": gap_id, "channel": channel_id, **(notify or {})},
        team_id=team_id,
        lane=outbox.Lane.SLOW,
        ordering_key=f"backfill:{team_id}:{channel_id}",
    )
    return gap_id


# -- the backfill job ---------------------------------------------------------------------------


def run_backfill(services: Services, run: JobRun) -> None:
    """Fetch one gap: its history pages, then the replies of the threads found in it."""
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    budget = services.history_budget or RateBudget(services.settings.slack_history_calls_per_minute)
    gap_id = int(job.payload["gap_id"])
    mine = _own_ids(client)
    try:
        for _ in range(STEPS_PER_ATTEMPT):
            if not _step(services, client, budget, gap_id, mine):
                return
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        if code not in PERMANENT_SLACK_ERRORS:
            raise  # retried by the outbox (a 429 after its Retry-After)
        with services.db.session() as session:
            gap = session.get_one(CaptureGap, gap_id)
            gap.state, gap.last_error, gap.finished_at = GapState.FAILED, code, services.clock()
        _tell_backfill_failed(services, job.payload, f"Slack answered `{code}`")
        return
    raise Continue("more pages to fetch")  # yield the thread to other work, resume at once


def _step(
    services: Services, client: WebClient, budget: RateBudget, gap_id: int, mine: set[str]
) -> bool:
    """Fetch and store one page (committed with the cursor); False when the gap is done."""
    with services.db.session() as session:
        gap = session.get_one(CaptureGap, gap_id)
        if gap.state is not GapState.PENDING:
            return False
        team, channel, cursor = gap.team_id, gap.channel_id, gap.cursor
        history_done, threads = gap.history_done, list(gap.threads or [])
        start_at, end_at = gap.start_at, gap.end_at
        oldest, latest = datetime_to_ts(start_at), datetime_to_ts(end_at)
        # Only the history pages need it (a query per step otherwise wasted on each thread).
        scan_from = start_at if history_done else _threads_since(session, services, gap)
    if history_done and not threads:
        _finish_gap(services, gap_id)
        return False
    method = "conversations.replies" if history_done else "conversations.history"
    wait = budget.take(team, method)
    if wait > 0:
        raise Continue(f"waiting for the {method} budget", timedelta(seconds=wait))
    params: dict[str, Any] = {
        "channel": channel,
        "limit": services.settings.slack_history_page_size,
    }
    if cursor:
        params["cursor"] = cursor
    if history_done:
        # From the gap's start: earlier replies were captured live (or are another gap's). No
        # `latest`: a reply posted as capture resumed is fetched again rather than risked.
        page = client.conversations_replies(ts=threads[0], oldest=oldest, inclusive=True, **params)
        messages = [m for m in page.get("messages") or [] if m.get("ts") != threads[0]]
    else:
        page = client.conversations_history(
            oldest=datetime_to_ts(scan_from), latest=latest, inclusive=True, **params
        )
        messages = list(page.get("messages") or [])
    next_cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
    people = [m for m in messages if _within(m, start_at, end_at) and not _is_own(m, mine)]
    with services.db.session() as session:
        stored = store_messages(
            session, team_id=team, channel_id=channel, messages=people, now=services.clock()
        )
        gap = session.get_one(CaptureGap, gap_id)
        gap.fetched += stored
        gap.calls += 1
        gap.cursor = next_cursor
        if history_done:
            if next_cursor is None:
                gap.threads = threads[1:]
        else:
            found = [m["ts"] for m in messages if _replied_during(m, start_at)]
            gap.threads = threads + [ts for ts in found if ts not in threads]
            gap.history_done = next_cursor is None
    return True


def _threads_since(session: Session, services: Services, gap: CaptureGap) -> datetime:
    """Where the gap's history pages start. A downtime's start at its incident's lead-up: a
    reply posted during the downtime to a thread started before it is in no page of the gap
    itself, and only the thread's parent says so (`latest_reply`), so the parents since the
    lead-up are read too (a page holds 200 of them; asking each known thread instead cost a
    call per thread, and missed a message's first reply). The lead-up gap starts at itself."""
    if gap.reason != GapReason.DOWNTIME:
        return gap.start_at
    declared = declared_by(session, gap.team_id, gap.channel_id, gap.start_at)
    if declared is None:
        return gap.start_at
    leadup = timedelta(minutes=services.settings.backfill_leadup_minutes)
    return declared - leadup


def _within(message: dict[str, Any], start_at: datetime, end_at: datetime) -> bool:
    """Whether a history item was posted during the gap (only those are stored: the parents
    read before it were captured live)."""
    posted = _posted_at(message.get("ts"))
    return posted is not None and start_at <= posted <= end_at


def _replied_during(message: dict[str, Any], start_at: datetime) -> bool:
    """A thread parent whose replies may include some posted during the gap: one inside the
    gap with replies, or an earlier one whose latest reply came at or after the gap's start."""
    if int(message.get("reply_count") or 0) <= 0:
        return False
    posted, latest = _posted_at(message.get("ts")), _posted_at(message.get("latest_reply"))
    if posted is None:
        return False
    return posted >= start_at or latest is None or latest >= start_at


def _posted_at(ts: object) -> datetime | None:
    try:
        return ts_to_datetime(str(ts)) if ts is not None else None
    except ValueError:
        return None


def _finish_gap(services: Services, gap_id: int) -> None:
    """The gap is in: mark it done, and refresh a postmortem generated while it was missing."""
    from bot.postmortem.flows import regenerate_after_capture

    with services.db.session() as session:
        gap = session.get_one(CaptureGap, gap_id)
        gap.state, gap.finished_at = GapState.DONE, services.clock()
        log.info(
            "backfilled %s (%s): %d messages in %d calls",
            gap.channel_id,
            gap.reason,
            gap.fetched,
            gap.calls,
        )
        regenerate_after_capture(session, gap)


def _own_ids(client: WebClient) -> set[str]:
    """The bot's own user and bot ids: its messages are not captured (live capture never sees
    them either: Bolt drops the bot's own events), so the channel log is what people said."""
    try:
        identity = client.auth_test()
    except SlackApiError:
        return set()
    return {str(v) for v in (identity.get("user_id"), identity.get("bot_id")) if v}


def _is_own(message: dict[str, Any], mine: set[str]) -> bool:
    return message.get("user") in mine or message.get("bot_id") in mine


def backfill_given_up(services: Services, job: outbox.Job, reason: str) -> None:
    _tell_backfill_failed(services, job.payload, "something went wrong on my side; it is logged")


def _tell_backfill_failed(services: Services, payload: dict[str, Any], reason: str) -> None:
    """The incident is declared whatever happens here: say what it means for the postmortem."""
    log.warning("backfill of %s failed: %s", payload.get("channel"), reason)
    if not payload.get("incident_key"):
        return
    note = (
        f"{payload.get('incident_key')} is declared, but I couldn't read this channel's earlier "
        f"messages ({reason}). Messages from now on are captured for the postmortem."
    )
    services.replies.respond(payload.get("reply_to"), {"text": note, "response_type": "ephemeral"})


def jobs(services: Services) -> list[JobSpec]:
    return [
        JobSpec(
            BACKFILL,
            outbox.Lane.SLOW,
            lambda run: run_backfill(services, run),
            on_dead=lambda job, reason: backfill_given_up(services, job, reason),
        )
    ]
