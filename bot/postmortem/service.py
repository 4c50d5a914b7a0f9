"""Postmortem status, owner, attach and remove: the rules, each change on the timeline."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.incidents.service import latest_incident_in_channel
from bot.timeline.service import record_event
from storage.models import EventKind, Incident, Postmortem, PostmortemStatus

NO_POSTMORTEM = (
    "This incident has no postmortem yet. Generate one with `/postmortem generate` "
    "(or link one written elsewhere with `/postmortem attach <url>`)."
)


NO_INCIDENT = (
    "This channel has no incident, so there is no postmortem here. Run `/postmortem` in the "
    "incident's channel, or declare an incident here first with `/incident declare <title>`."
)


def incident_for_postmortem(session: Session, team_id: str, channel_id: str) -> Incident:
    """The channel's incident, open or resolved (postmortems are mostly written after), or a
    UserError in /postmortem's own words."""
    incident = latest_incident_in_channel(session, team_id, channel_id)
    if incident is None:
        raise UserError(NO_INCIDENT)
    return incident


def postmortem_of(session: Session, incident: Incident) -> Postmortem | None:
    return session.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))


def require_postmortem(session: Session, incident: Incident) -> Postmortem:
    postmortem = postmortem_of(session, incident)
    if postmortem is None:
        raise UserError(NO_POSTMORTEM)
    return postmortem


def _event(session: Session, incident: Incident, text: str, by: str, now: datetime) -> None:
    record_event(
        session, incident, kind=EventKind.STATUS, text=text, author_id=by, occurred_at=now, now=now
    )


def _new(incident: Incident, owner_id: str, now: datetime) -> Postmortem:
    return Postmortem(
        team_id=incident.team_id,
        incident_id=incident.id,
        status=PostmortemStatus.DRAFT,
        owner_id=owner_id,
        version=0,
        attached=False,
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )


def _create(session: Session, incident: Incident, owner_id: str, now: datetime) -> Postmortem:
    """The incident's postmortem, created now as a Draft, or the one a concurrent request
    created a moment earlier (one per incident: a unique constraint decides)."""
    try:
        with session.begin_nested():
            postmortem = _new(incident, owner_id, now)
            session.add(postmortem)
            session.flush()
        return postmortem
    except IntegrityError:
        winner = postmortem_of(session, incident)
        if winner is None:
            raise
        return winner


def check_can_generate(postmortem: Postmortem | None, incident: Incident, *, force: bool) -> None:
    """A Completed postmortem, or one written elsewhere and attached, is not overwritten
    without --force."""
    if postmortem is None or force:
        return
    if postmortem.status is PostmortemStatus.COMPLETED:
        raise UserError(
            f"{incident.key}'s postmortem is Completed, so I won't overwrite it. To regenerate "
            "anyway: `/postmortem generate --force` (the current text is kept as an older version)."
        )
    if postmortem.attached:
        raise UserError(
            f"{incident.key}'s postmortem is written elsewhere ({postmortem.document_url}). "
            "`/postmortem remove` unlinks it; or `/postmortem generate --force` replaces the link."
        )


def prepare_generation(
    session: Session, incident: Incident, *, by: str, force: bool, now: datetime
) -> Postmortem:
    """The postmortem to (re)generate, created as a Draft owned by `by` the first time."""
    postmortem = postmortem_of(session, incident)
    check_can_generate(postmortem, incident, force=force)
    return postmortem or _create(session, incident, by, now)


def set_status(
    session: Session,
    postmortem: Postmortem,
    status: PostmortemStatus,
    *,
    by: str,
    admins: Collection[str],
    now: datetime,
) -> PostmortemStatus:
    """Returns the previous status. Only the owner, the commander or an admin may complete."""
    incident = postmortem.incident
    previous = postmortem.status
    if status is previous:
        raise UserError(f"{incident.key}'s postmortem is already {status.label}.")
    allowed = {postmortem.owner_id, incident.commander_id, *admins}
    if status is PostmortemStatus.COMPLETED and by not in allowed:
        raise UserError(
            f"Only the postmortem owner (<@{postmortem.owner_id}>), the incident commander "
            f"(<@{incident.commander_id}>) or an admin can mark it Completed. Ask one of them, "
            "or move it to In Review: `/postmortem status in-review`."
        )
    postmortem.status = status
    postmortem.status_changed_at = postmortem.updated_at = now
    postmortem.completed_at = now if status is PostmortemStatus.COMPLETED else None
    _event(session, incident, f"Postmortem status: {previous.label} → {status.label}", by, now)
    return previous


def set_owner(
    session: Session, postmortem: Postmortem, owner_id: str, *, by: str, now: datetime
) -> str:
    """Returns the previous owner."""
    incident = postmortem.incident
    previous = postmortem.owner_id
    if owner_id == previous:
        raise UserError(f"<@{owner_id}> already owns {incident.key}'s postmortem.")
    postmortem.owner_id = owner_id
    postmortem.updated_at = now
    _event(session, incident, f"Postmortem owner: <@{previous}> → <@{owner_id}>", by, now)
    return previous


def check_url(url: str) -> str:
    url = url.strip().strip("<>").split("|")[0]
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UserError(
            "Attach a link that starts with http:// or https://, for example "
            "`/postmortem attach https://wiki.example.com/postmortems/inc-42`."
        )
    return url


def attach(session: Session, incident: Incident, url: str, *, by: str, now: datetime) -> Postmortem:
    url = check_url(url)
    postmortem = postmortem_of(session, incident) or _create(session, incident, by, now)
    postmortem.attached = True
    postmortem.document_url = url
    postmortem.canvas_id = postmortem.file_id = None
    postmortem.updated_at = now
    session.flush()
    _event(session, incident, f"Postmortem attached: {url}", by, now)
    return postmortem


def remove(session: Session, postmortem: Postmortem, *, by: str, now: datetime) -> str | None:
    """Unlink the document from the incident (the document itself is never deleted); the
    postmortem is a Draft again, with nothing to review.

    A Completed postmortem is refused: its link is the record of what was signed off, and an
    unlink would have quietly reset it to Draft, and so brought back reminders to its owner.
    Someone who means it moves it back first (`/postmortem status in-review`); to swap in the
    right document, attaching keeps it Completed."""
    incident = postmortem.incident
    if postmortem.status is PostmortemStatus.COMPLETED:
        raise UserError(
            f"{incident.key}'s postmortem is Completed, so I won't unlink it: the link is the "
            "record of what was signed off. To link the right document instead, "
            "`/postmortem attach <url>` (it stays Completed); to take it back, "
            "`/postmortem status in-review` first, then `/postmortem remove`."
        )
    url = postmortem.document_url
    postmortem.attached = False
    postmortem.document_url = postmortem.canvas_id = postmortem.file_id = None
    postmortem.status = PostmortemStatus.DRAFT
    postmortem.updated_at = postmortem.status_changed_at = now
    postmortem.completed_at = None
    _event(session, incident, "Postmortem unlinked from the incident", by, now)
    return url


def owned_by(session: Session, *, team_id: str, owner_id: str, limit: int) -> list[Postmortem]:
    """Postmortems someone owns: unfinished ones first (oldest status change first), then the
    recently completed."""
    unfinished = list(
        session.scalars(
            select(Postmortem)
            .where(
                Postmortem.team_id == team_id,
                Postmortem.owner_id == owner_id,
                Postmortem.status != PostmortemStatus.COMPLETED,
            )
            .order_by(Postmortem.status_changed_at)
            .limit(limit)
        )
    )
    completed = list(
        session.scalars(
            select(Postmortem)
            .where(
                Postmortem.team_id == team_id,
                Postmortem.owner_id == owner_id,
                Postmortem.status == PostmortemStatus.COMPLETED,
            )
            .order_by(Postmortem.status_changed_at.desc())
            .limit(max(0, limit - len(unfinished)))
        )
    )
    return unfinished + completed
