"""`/postmortem generate` (an outbox job): gather, render, publish, record the version.

Generation reads the database only: live capture already stored the channel. Rendering happens
before anything is published, so a broken template publishes nothing, and outside any
transaction, so a slow template holds no lock. No transaction is held across a Slack call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.clock import Clock
from bot.core.metrics import postmortem_generated
from bot.core.settings import Settings
from bot.knowledge.index import documents_due, write_documents
from bot.postmortem import destinations
from bot.postmortem.document import Document, split_document
from bot.postmortem.gather import gather
from bot.postmortem.markdown import slack_to_markdown
from bot.postmortem.publish import Published
from bot.postmortem.render import render_document, shared_environment
from bot.postmortem.service import (
    check_can_generate,
    incident_for_postmortem,
    postmortem_of,
    prepare_generation,
)
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
    key: str  # the incident's, for what the person who asked is told


def _people(db: Database, incident: Incident) -> set[str]:
    with db.read_session() as session:  # reads the whole channel's authors: no write lock
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


def check_generation(db: Database, *, team_id: str, channel_id: str, force: bool) -> Incident:
    """Refuse early (no incident here, Completed without --force), before any Slack call; the
    incident otherwise."""
    with db.read_session() as session:
        incident = incident_for_postmortem(session, team_id, channel_id)
        check_can_generate(postmortem_of(session, incident), incident, force=force)
    return incident


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
    on_saved: Callable[[Session, Postmortem], None] | None = None,
) -> Generated:
    """Gather (in a transaction that only reads), render (outside any transaction, time- and
    size-limited), publish (Slack), then record the version (one short transaction, in which
    `on_saved` runs too: the caller's own bookkeeping commits with the version, or neither
    does)."""
    leadup = timedelta(minutes=settings.backfill_leadup_minutes)
    incident = check_generation(db, team_id=team_id, channel_id=channel_id, force=force)
    resolve_names(db, client, incident, clock)
    # Recurrence's search documents: read, then written in a short transaction of their own
    # (on SQLite a transaction that writes holds the one write lock for as long as it runs,
    # and reading a whole channel log inside it kept every command waiting).
    indexed_at = clock()
    with db.read_session() as session:
        incident = incident_for_postmortem(session, team_id, channel_id)
        documents = documents_due(session, incident)
    with db.session() as session:
        write_documents(session, documents, now=indexed_at)

    now = clock()
    with db.session() as session:  # short: the Draft, created the first time
        incident = incident_for_postmortem(session, team_id, channel_id)
        postmortem_id = prepare_generation(session, incident, by=user_id, force=force, now=now).id
    with db.read_session() as session:  # the long read, holding no write lock
        incident = incident_for_postmortem(session, team_id, channel_id)
        postmortem = session.get_one(Postmortem, postmortem_id)
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
        previous = last_published(session, postmortem)
        postmortem_id, key = postmortem.id, incident.key
        target = destinations.Target(
            team_id=team_id,
            channel_id=channel_id,
            key=key,
            title=slack_to_markdown(incident.title, {}),
            version=context.postmortem.version,
            private=incident.channel_private,
            severity=incident.severity.label,
            canvas_id=postmortem.canvas_id,
            file_id=postmortem.file_id,
            page_id=postmortem.confluence_page_id,
        )
    variables = context.as_template_vars()
    document = render_document(
        shared_environment(settings.postmortem_templates_dir, settings.postmortem_max_chars),
        name,
        variables,
        seconds=settings.postmortem_render_timeout_seconds,
        max_chars=settings.postmortem_max_chars,
    )
    markdown = document.markdown

    destination = destinations.make(settings.destination_for(name), settings, client)
    destination.check(document, target)  # what can be known locally: before anything is saved
    if destination.deferred:  # its own outbox job publishes the version recorded below
        published = Published(destination.name, target.page_id or "", None, pending=True)
    else:
        published = destination.publish(document, previous, target)
    postmortem_generated(name)

    with db.session() as session:
        saved = session.get_one(Postmortem, postmortem_id)
        version = saved.version + 1  # whatever another generation recorded meanwhile
        saved.version, saved.template, saved.updated_at = version, name, now
        saved.attached = False
        if not published.pending:
            saved.canvas_id = published.id if published.kind == "canvas" else None
            saved.file_id = published.id if published.kind == "file" else None
            saved.document_url = published.url
        session.add(
            PostmortemVersion(
                postmortem_id=postmortem_id,
                version=version,
                template=name,
                markdown=markdown,
                marked=document.marked,
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
        if on_saved is not None:
            on_saved(session, saved)
        return Generated(postmortem_id, saved.incident_id, version, name, published, key)
