"""`/incident list`, `/incident search`, their Next/Previous buttons, and the tag commands.

Lists and searches are answered privately; who may see what is asked of Slack first
(bot.knowledge.access, outside any transaction); the search documents of incidents still
moving are brought up to date (a write, only when one is behind), then the query runs in a
read-only transaction (on SQLite, readers never queue for the write lock). Tag changes are
recorded (and written to the timeline) before the ack.
"""

from __future__ import annotations

import json
from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.incidents.service import latest_incident_in_channel
from bot.knowledge import blocks
from bot.knowledge.access import Viewer, load_memberships, viewer_may_see
from bot.knowledge.commands import (
    ListIncidents,
    SearchIncidents,
    TagIncident,
    UntagIncident,
    parse_list,
    parse_search,
)
from bot.knowledge.index import has_stale, refresh_document, refresh_stale
from bot.knowledge.search import ListFilter, list_incidents, search_incidents
from bot.knowledge.tags import add_tags, components, free_tags, remove_tags, team_tags
from bot.services import Services
from bot.slack.origin import Origin
from storage.models import Incident

SEARCH_PAGE = 5  # hits with snippets are tall; five fit a phone screen or two
LIST_PAGE = 10
RECENT = timedelta(days=30)


def viewer_of(origin: Origin) -> Viewer:
    return Viewer(origin.team_id, origin.user_id, origin.channel_id or None)


def search(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: SearchIncidents,
    *,
    offset: int = 0,
) -> blocks.Message:
    viewer, now = viewer_of(origin), services.clock()
    load_memberships(client, viewer)  # narrows what the recorded members see, if Slack says
    with services.db.read_session() as session:
        stale = has_stale(session, origin.team_id, now=now)
    if stale:
        with services.db.session() as session:
            refresh_stale(session, origin.team_id, now=now)
    with services.db.read_session() as session:
        page = search_incidents(
            session,
            origin.team_id,
            parsed.query,
            viewer=viewer,
            filter=ListFilter(tag=parsed.tag),
            offset=offset,
            limit=SEARCH_PAGE,
        )
    return blocks.search_results(page, parsed.text)


def list_filter(parsed: ListIncidents, origin: Origin, services: Services) -> ListFilter:
    return ListFilter(
        statuses=parsed.statuses,
        severities=parsed.severities,
        tag=parsed.tag,
        since=services.clock() - RECENT if parsed.recent else None,
        involving=origin.user_id if parsed.mine else None,
    )


def list_(
    services: Services,
    client: WebClient,
    origin: Origin,
    parsed: ListIncidents,
    *,
    offset: int = 0,
) -> blocks.Message:
    viewer = viewer_of(origin)
    load_memberships(client, viewer)  # narrows what the recorded members see, if Slack says
    with services.db.read_session() as session:
        page = list_incidents(
            session,
            origin.team_id,
            filter=list_filter(parsed, origin, services),
            viewer=viewer,
            offset=offset,
            limit=LIST_PAGE,
        )
    return blocks.incident_list(page, parsed.text)


def turn_page(services: Services, client: WebClient, origin: Origin, value: str) -> blocks.Message:
    """A Next/Previous button: the command is parsed again from the button's value (a client
    could send anything there) and run for whoever clicked, with their own access."""
    try:
        state = json.loads(value)
        kind, text, offset = str(state["k"]), str(state["t"]), int(state["o"])
    except (ValueError, KeyError, TypeError):
        raise UserError("That button is out of date; run the command again.") from None
    offset = max(0, offset)
    if kind == "s":
        return search(services, client, origin, parse_search(text), offset=offset)
    if kind == "l":
        return list_(services, client, origin, parse_list(text), offset=offset)
    raise UserError("That button is out of date; run the command again.")


def _target(session: Session, origin: Origin, viewer: Viewer, number: int | None) -> Incident:
    if number is None:
        incident = latest_incident_in_channel(session, origin.team_id, origin.channel_id)
        if incident is None:
            raise UserError(
                "This channel has no incident. Run it in the incident's channel, or name one: "
                "`/incident tag INC-42 database`."
            )
        return incident
    incident = session.scalar(
        select(Incident).where(Incident.team_id == origin.team_id, Incident.number == number)
    )
    if incident is None or not viewer_may_see(session, incident, viewer):
        # The same answer whether it doesn't exist or is private: nothing leaks.
        raise UserError(f"I can't find INC-{number}. `/incident list` shows the ones you can see.")
    return incident


def tag(
    services: Services, client: WebClient, origin: Origin, parsed: TagIncident | UntagIncident
) -> str:
    """Add or remove tags (or, with none, show them); the confirmation for the ack."""
    viewer = viewer_of(origin)
    if parsed.number is not None:
        load_memberships(client, viewer)
    now = services.clock()
    with services.db.session() as session:
        incident = _target(session, origin, viewer, parsed.number)
        if isinstance(parsed, TagIncident) and not parsed.tags:
            return blocks.tags_shown(
                incident.key, free_tags(session, incident.id), components(session, incident.id)
            )
        before = free_tags(session, incident.id)
        if isinstance(parsed, TagIncident):
            added = add_tags(session, incident, parsed.tags, by=origin.user_id, now=now)
            changed = bool(added)
            already = [t for t in parsed.tags if t in before]
        else:
            removed = remove_tags(session, incident, parsed.tags, by=origin.user_id, now=now)
            changed = bool(removed)
            missing = [t for t in parsed.tags if t not in before]
        if changed:
            refresh_document(session, incident, now=now)
        after = free_tags(session, incident.id)
        if isinstance(parsed, TagIncident):
            return blocks.tags_added(incident.key, added, already, after)
        return blocks.tags_removed(incident.key, removed, missing, after)


def show_team_tags(services: Services, client: WebClient, origin: Origin) -> str:
    viewer = viewer_of(origin)
    load_memberships(client, viewer)
    with services.db.read_session() as session:
        return blocks.team_tags(team_tags(session, origin.team_id, viewer=viewer))
