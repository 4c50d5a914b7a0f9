"""`postmortem-bot render`: a postmortem from the database alone (no Slack, no backfill)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from bot.core.clock import Clock, utc_now
from bot.core.errors import UserError
from bot.core.settings import Settings
from bot.postmortem.gather import gather
from bot.postmortem.generate import DEFAULT_TEMPLATE
from bot.postmortem.recurrence import index_search_documents
from bot.postmortem.render import environment, render
from bot.postmortem.service import postmortem_of
from storage.db import Database
from storage.models import Incident, PostmortemStatus

_KEY = re.compile(r"^(?:INC-)?(\d+)$", re.IGNORECASE)


def find_incident_number(key: str) -> int:
    match = _KEY.match(key.strip())
    if not match:
        raise UserError(f"'{key}' is not an incident key; use the form INC-42.")
    return int(match.group(1))


def render_offline(
    db: Database,
    settings: Settings,
    key: str,
    *,
    template: str | None = None,
    team_id: str | None = None,
    clock: Clock = utc_now,
) -> str:
    number = find_incident_number(key)
    with db.session() as session:
        query = select(Incident).where(Incident.number == number)
        if team_id:
            query = query.where(Incident.team_id == team_id)
        found = list(session.scalars(query))
        if not found:
            raise UserError(
                f"No incident INC-{number} in {'team ' + team_id if team_id else 'the database'}."
            )
        if len(found) > 1:
            teams = ", ".join(sorted(i.team_id for i in found))
            raise UserError(f"INC-{number} exists in several workspaces ({teams}); add --team.")
        incident = found[0]
        index_search_documents(session, incident, now=clock())
        postmortem = postmortem_of(session, incident)
        name = template or (postmortem.template if postmortem else None) or DEFAULT_TEMPLATE
        context = gather(
            session,
            incident,
            owner_id=postmortem.owner_id if postmortem else incident.commander_id,
            status=postmortem.status if postmortem else PostmortemStatus.DRAFT,
            version=postmortem.version if postmortem else 0,
            template=name,
            leadup=timedelta(minutes=settings.backfill_leadup_minutes),
            now=clock(),
        )
    variables = context.as_template_vars()
    return render(
        environment(settings.postmortem_templates_dir, max_chars=settings.postmortem_max_chars),
        name,
        variables,
        seconds=settings.postmortem_render_timeout_seconds,
        max_chars=settings.postmortem_max_chars,
    )
