"""`/postmortem generate`: backfill, gather, render, publish, record the version.

Rendering happens before anything is published, so a broken template publishes nothing.
No database transaction is held across a Slack call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.capture.backfill import backfill_incident
from bot.core.clock import Clock
from bot.core.metrics import postmortem_generated
from bot.core.settings import Settings
from bot.incidents.service import incident_for_timeline
from bot.postmortem.document import Document, split_document
from bot.postmortem.gather import gather
from bot.postmortem.markdown import slack_to_markdown
from bot.postmortem.publish import Published, publish
from bot.postmortem.render import environment, render_document
from bot.postmortem.service import check_can_generate, postmortem_of, prepare_generation
from bot.slack.users import get_user
from bot.timeline.service import record_event
from storage.db import Database
from storage.models import (
    CapturedMessage,
    EventKind,
    FollowUp,
    Incident,
    Postmortem,
    PostmortemVersion,
    SlackUser,
    TimelineEvent,
)

DEFAULT_TEMPLATE = "standard"
MAX_NAME_LOOKUPS = 200


@dataclass(frozen=True)
class Generated:
    postmortem_id: int
    incident_id: int
    version: int
    template: str
    published: Published


def _people(db: Database, incident: Incident) -> set[str]:
    with db.session() as session:
        ids = {incident.commander_id}
        ids |= set(
            session.scalars(
                select(CapturedMessage.user_id)
                .where(
                    CapturedMessage.team_id == incident.team_id,
                    CapturedMessage.channel_id == incident.channel_id,
                    CapturedMessage.user_id.is_not(None),
                )
                .distinct()
            )
        )
        ids |= set(
            session.scalars(
                select(TimelineEvent.author_id).where(TimelineEvent.incident_id == incident.id)
            )
        )
        ids |= set(
            session.scalars(select(FollowUp.owner_id).where(FollowUp.incident_id == incident.id))
        )
        known = set(
            session.scalars(
                select(SlackUser.user_id).where(
                    SlackUser.team_id == incident.team_id, SlackUser.user_id.in_(ids)
                )
            )
        )
    return {i for i in ids if i and i[:1] in ("U", "W") and i not in known}


def resolve_names(db: Database, client: WebClient, incident: Incident, clock: Clock) -> None:
    """Look up (and cache) people the document will name but the bot hasn't met yet."""
    for user_id in sorted(_people(db, incident))[:MAX_NAME_LOOKUPS]:
        get_user(db, client, team_id=incident.team_id, user_id=user_id, now=clock())


def last_published(session: Session, postmortem: Postmortem) -> Document | None:
    """What the bot wrote last time (the newest version), to tell its lines from people's."""
    markdown = session.scalar(
        select(PostmortemVersion.markdown)
        .where(PostmortemVersion.postmortem_id == postmortem.id)
        .order_by(PostmortemVersion.version.desc())
        .limit(1)
    )
    return split_document(markdown) if markdown is not None else None


def check_generation(db: Database, *, team_id: str, channel_id: str, force: bool) -> None:
    """Refuse early (no incident here, Completed without --force), before any Slack call."""
    with db.session() as session:
        incident = incident_for_timeline(session, team_id, channel_id)
        check_can_generate(postmortem_of(session, incident), incident, force=force)


def generate_postmortem(
    *,
    db: Database,
    client: WebClient,
    settings: Settings,
    clock: Clock,
    team_id: str,
    channel_id: str,
    user_id: str,
    template: str | None,
    force: bool,
) -> Generated:
    leadup = timedelta(minutes=settings.backfill_leadup_minutes)
    check_generation(db, team_id=team_id, channel_id=channel_id, force=force)
    with db.session() as session:
        incident = incident_for_timeline(session, team_id, channel_id)
    backfill_incident(client, db, incident, leadup=leadup, clock=clock)
    resolve_names(db, client, incident, clock)

    now = clock()
    with db.session() as session:
        incident = incident_for_timeline(session, team_id, channel_id)
        postmortem = prepare_generation(session, incident, by=user_id, force=force, now=now)
        name = template or postmortem.template or DEFAULT_TEMPLATE
        context = gather(
            session,
            incident,
            owner_id=postmortem.owner_id,
            status=postmortem.status,
            version=postmortem.version + 1,
            template=name,
            leadup=leadup,
            now=now,
        )
        document = render_document(
            environment(settings.postmortem_templates_dir), name, context.as_template_vars()
        )
        markdown = document.markdown
        previous = last_published(session, postmortem)
        postmortem_id, canvas_id, file_id, version = (
            postmortem.id,
            postmortem.canvas_id,
            postmortem.file_id,
            postmortem.version + 1,
        )
        key, title = incident.key, slack_to_markdown(incident.title, {})

    published = publish(
        client,
        team_id=team_id,
        channel_id=channel_id,
        title=f"{key} postmortem: {title}"[:255],
        filename=f"{key}-postmortem-v{version}.md",
        document=document,
        previous=previous,
        canvas_id=canvas_id,
        file_id=file_id,
    )
    postmortem_generated(name)

    with db.session() as session:
        saved = session.get_one(Postmortem, postmortem_id)
        saved.version, saved.template, saved.updated_at = version, name, now
        saved.attached = False
        saved.canvas_id = published.id if published.kind == "canvas" else None
        saved.file_id = published.id if published.kind == "file" else None
        saved.document_url = published.url
        session.add(
            PostmortemVersion(
                postmortem_id=postmortem_id,
                version=version,
                template=name,
                markdown=markdown,
                generated_by=user_id,
                generated_at=now,
            )
        )
        record_event(
            session,
            saved.incident,
            kind=EventKind.STATUS,
            author_id=user_id,
            occurred_at=now,
            now=now,
            text=f"Postmortem generated (version {version}, template {name})",
        )
        return Generated(postmortem_id, saved.incident_id, version, name, published)
