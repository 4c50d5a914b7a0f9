"""Publishing a recorded postmortem version to Confluence, and refreshing its page properties
(the work of the outbox jobs in bot.postmortem.flows; no Bolt, no transaction held across a
call to Slack or Confluence).

The newest version is read from the database, not passed along: a job that waited out an
outage publishes whatever is newest when it runs, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select

from bot.confluence.gateway import ConfluenceGateway
from bot.confluence.page import Fact, with_properties
from bot.confluence.publish import PageResult, update_page
from bot.core.errors import UserError
from bot.core.settings import README_HINT
from bot.postmortem.context import PostmortemContext
from bot.postmortem.destinations import Target
from bot.postmortem.destinations.confluence import (
    ConfluenceDestination,
    channel_readers,
    channel_url,
    facts_for,
    page_title,
)
from bot.postmortem.document import Document, split_document
from bot.postmortem.gather import gather
from bot.postmortem.markdown import slack_to_markdown
from bot.postmortem.publish import Published
from bot.services import Services
from storage.models import Postmortem, PostmortemVersion


@dataclass(frozen=True)
class Loaded:
    postmortem_id: int
    version: int
    document: Document
    previous: Document | None
    target: Target
    context: PostmortemContext


def gateway_of(services: Services) -> ConfluenceGateway:
    if services.confluence is None:
        missing = ", ".join(services.settings.confluence_missing()) or "the Confluence settings"
        raise UserError(f"Confluence is not set up: set {missing}. " + README_HINT)
    return services.confluence


def load(services: Services, postmortem_id: int) -> Loaded:
    """The newest version, the one the page was last written from, and the facts, in one
    short transaction."""
    settings = services.settings
    with services.db.session() as session:
        postmortem = session.get_one(Postmortem, postmortem_id)
        incident = postmortem.incident
        newest = session.scalars(
            select(PostmortemVersion)
            .where(PostmortemVersion.postmortem_id == postmortem_id)
            .order_by(PostmortemVersion.version.desc())
            .limit(1)
        ).one()
        previous = None
        if postmortem.confluence_page_id and postmortem.confluence_version:
            previous = session.scalar(
                select(PostmortemVersion.markdown).where(
                    PostmortemVersion.postmortem_id == postmortem_id,
                    PostmortemVersion.version == postmortem.confluence_version,
                )
            )
        context = gather(
            session,
            incident,
            owner_id=postmortem.owner_id,
            status=postmortem.status,
            version=newest.version,
            template=newest.template,
            leadup=timedelta(minutes=settings.backfill_leadup_minutes),
            now=services.clock(),
        )
        target = Target(
            team_id=incident.team_id,
            channel_id=incident.channel_id,
            key=incident.key,
            title=slack_to_markdown(incident.title, {}),
            version=newest.version,
            private=incident.channel_private,
            severity=incident.severity.label,
            page_id=postmortem.confluence_page_id,
        )
        return Loaded(
            postmortem_id,
            newest.version,
            split_document(newest.marked or newest.markdown),
            split_document(previous) if previous is not None else None,
            target,
            context,
        )


def _facts(client: WebClient, loaded: Loaded) -> list[Fact]:
    return facts_for(loaded.context, channel_url(client, loaded.target.channel_id))


def publish_newest(
    services: Services, client: WebClient, postmortem_id: int
) -> tuple[int, Published]:
    """Create or refresh the incident's page from the newest version; (version, where)."""
    gateway = gateway_of(services)
    loaded = load(services, postmortem_id)
    target = loaded.target
    group = (services.settings.confluence_private_group or "").strip() or None
    destination = ConfluenceDestination(
        services.settings,
        gateway=gateway,
        client=client,
        facts=_facts(client, loaded),
        readers=lambda: channel_readers(client, gateway, target.channel_id, group),
    )
    destination.check(loaded.document, target)
    return loaded.version, destination.publish(loaded.document, loaded.previous, target)


def refresh_properties(
    services: Services, client: WebClient, postmortem_id: int
) -> PageResult | None:
    """Write the current status, owner and key times into the page's properties (nothing
    else on the page changes); None when there is no page (yet, or any more)."""
    gateway = gateway_of(services)
    loaded = load(services, postmortem_id)
    if loaded.target.page_id is None:
        return None
    facts = _facts(client, loaded)
    title = page_title(loaded.target.key, loaded.target.title)
    return update_page(
        gateway, loaded.target.page_id, title, lambda body: (with_properties(body, facts), [])
    )
