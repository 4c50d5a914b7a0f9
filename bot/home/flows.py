"""App Home: publishing a person's view is an outbox job (it calls Slack); its follow-up buttons
change the follow-up like any other change, then publish Home again with a notice (no Bolt)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.outbox_worker import JobRun, JobSpec
from bot.core.visibility import hidden_incident_ids, title_for
from bot.followups.flows import enqueue_change, followup_id
from bot.followups.service import change_status, get_followup, owned_open, snooze
from bot.home import blocks
from bot.home.blocks import PostmortemSummary
from bot.postmortem.service import owned_by
from bot.services import Services
from bot.slack.origin import Origin
from bot.slack.posting import client_or_fail
from bot.slack.users import user_timezone
from storage.models import FollowUpStatus

PUBLISH = "home.publish"
FETCH = 60  # more than Home can show: the rest is "and N more"


def postmortems_owned_by(session: Session, team_id: str, user_id: str) -> list[PostmortemSummary]:
    return [
        PostmortemSummary(
            incident_key=p.incident.key,
            title=title_for(session, p.incident, user_id),
            status=p.status.label,
            url=p.document_url,
        )
        for p in owned_by(session, team_id=team_id, owner_id=user_id, limit=FETCH)
    ]


def enqueue_publish(
    session: Session, team_id: str, user_id: str, notice: str | None = None
) -> None:
    """Publish the person's Home tab once this transaction commits."""
    outbox.enqueue(
        session,
        PUBLISH,
        {"user": user_id, "notice": notice},
        team_id=team_id,
        ordering_key=f"home:{team_id}:{user_id}",
    )


def home_opened(services: Services, team_id: str, user_id: str) -> None:
    with services.db.session() as session:
        enqueue_publish(session, team_id, user_id)


def followup_button(services: Services, origin: Origin, action_id: str, value: object) -> None:
    """Home's *Done* or *Snooze* on one follow-up; Home is published again with a notice."""
    now, team_id, user_id = services.clock(), origin.team_id, origin.user_id
    with services.db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id(value))
        if action_id == blocks.HOME_DONE_ACTION:
            change = change_status(session, followup, FollowUpStatus.DONE, by=user_id, now=now)
            enqueue_change(session, services, followup, change)
            notice = f"{followup.key} is done. Nice work!"
        else:
            snooze(session, followup, by=user_id, now=now)
            notice = f"{followup.key} is snoozed for a day."
        enqueue_publish(session, team_id, user_id, notice)


def notify(services: Services, origin: Origin, notice: str) -> None:
    """Home has no channel to answer in: a problem is shown on Home itself."""
    with services.db.session() as session:
        enqueue_publish(session, origin.team_id, origin.user_id, notice)


def run_publish(services: Services, run: JobRun) -> None:
    job = run.job
    client = client_or_fail(services.client_for, job.team_id)
    user_id, now = str(job.payload["user"]), services.clock()
    tz = user_timezone(services.db, client, team_id=job.team_id, user_id=user_id, now=now)
    with services.db.session() as session:
        page = owned_open(session, team_id=job.team_id, owner_id=user_id, limit=FETCH)
        view = blocks.home_view(
            page.items,
            postmortems_owned_by(session, job.team_id, user_id),
            now,
            tz_name=tz,
            total=page.total,
            notice=job.payload.get("notice"),
            hidden=hidden_incident_ids(session, (f.incident for f in page.items), user_id),
        )
    client.views_publish(user_id=user_id, view=view)


def jobs(services: Services) -> list[JobSpec]:
    return [JobSpec(PUBLISH, outbox.Lane.FAST, lambda run: run_publish(services, run))]
