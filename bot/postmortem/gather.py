"""Building a PostmortemContext for one incident from the database (no Slack calls)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.capture.gaps import notice, pending_gaps
from bot.incidents.keytime_service import key_times_of
from bot.postmortem.context import (
    Event,
    FollowUpItem,
    IncidentInfo,
    LoggedMessage,
    Names,
    Participant,
    PostmortemContext,
    PostmortemInfo,
    SimilarIncident,
    channel_messages,
    figures_for,
    load_names,
    nest_threads,
    timeline_of,
)
from bot.postmortem.markdown import slack_to_markdown
from bot.postmortem.recurrence import similar_incidents
from storage.models import (
    FollowUp,
    Incident,
    JiraExportState,
    PostmortemStatus,
    TimelineEvent,
)

COMMANDER, OWNER, RESPONDER, FOLLOWUP_OWNER = (
    "Incident commander",
    "Postmortem owner",
    "Responder",
    "Follow-up owner",
)


def gather(
    session: Session,
    incident: Incident,
    *,
    owner_id: str,
    status: PostmortemStatus,
    version: int,
    template: str,
    leadup: timedelta,
    now: datetime,
) -> PostmortemContext:
    events = timeline_of(session, incident)
    times = key_times_of(session, incident)
    assert times.impact_started.at is not None
    since = min(times.impact_started.at, incident.declared_at - leadup)
    rows = channel_messages(session, incident, since=since, until=now)
    followups = list(
        session.scalars(
            select(FollowUp)
            .where(FollowUp.incident_id == incident.id)
            .order_by(FollowUp.due_date, FollowUp.number)
        )
    )
    similar = similar_incidents(session, incident)

    user_ids = {incident.commander_id, owner_id}
    user_ids |= {e.author_id for e in events if e.author_id}
    user_ids |= {r.user_id for r in rows if r.user_id}
    user_ids |= {f.owner_id for f in followups if f.owner_id}
    user_ids |= {m.set_by for m in times.all() if m.set_by}
    bots = {r.bot_id: r.username for r in rows if r.bot_id and r.username}
    names = Names(load_names(session, incident.team_id, user_ids), bots)
    md_names = names.all

    timeline = [
        Event(
            at=e.occurred_at,
            kind=e.kind.value,
            author=names.person(e.author_id),
            text=slack_to_markdown(e.text, md_names),
            permalink=e.permalink,
            edited=e.edited_at is not None,
        )
        for e in events
    ]
    return PostmortemContext(
        incident=IncidentInfo(
            key=incident.key,
            number=incident.number,
            title=slack_to_markdown(incident.title, md_names),
            severity=incident.severity.label,
            status=incident.status.value,
            channel_id=incident.channel_id,
            private=incident.channel_private,
            commander=names.must(incident.commander_id),
        ),
        figures=figures_for(times, names),
        timeline=timeline,
        messages=nest_threads(rows, names),
        message_count=len(rows),
        followups=[
            FollowUpItem(
                key=f"{incident.key}-F{f.number}",
                title=slack_to_markdown(f.title, md_names),
                owner=names.person(f.owner_id),
                due=f.due_date,
                priority=f.priority.label,
                status=f.status.label,
                tracked_in=_tracked_in(f),
            )
            for f in followups
        ],
        participants=_participants(incident, owner_id, events, rows, followups, names),
        recurrence=[
            SimilarIncident(
                key=m.incident.key,
                title=slack_to_markdown(m.incident.title, md_names),
                declared_at=m.incident.declared_at,
                link=None,
                why=_why_similar(m.shared_tags, m.shared_terms),
            )
            for m in similar
        ],
        postmortem=PostmortemInfo(
            status=status.label, owner=names.must(owner_id), version=version, template=template
        ),
        generated_at=now,
        capture_notice=notice(pending_gaps(session, incident.team_id, incident.channel_id)),
    )


def _why_similar(tags: list[str], terms: list[str]) -> str:
    said = []
    if tags:
        said.append("tagged " + ", ".join(tags))
    if terms:
        said.append("shares " + ", ".join(terms))
    return "; ".join(said) or "similar text"


def _participants(
    incident: Incident,
    owner_id: str,
    events: list[TimelineEvent],
    rows: list[LoggedMessage],
    followups: list[FollowUp],
    names: Names,
) -> list[Participant]:
    roles: dict[str, list[str]] = {}

    def add(user_id: str | None, role: str) -> None:
        if user_id and user_id[:1] in ("U", "W") and role not in roles.setdefault(user_id, []):
            roles[user_id].append(role)

    add(incident.commander_id, COMMANDER)
    add(owner_id, OWNER)
    counts = Counter(r.user_id for r in rows if r.user_id)
    for user_id in [*counts, *(e.author_id for e in events)]:
        if user_id and not roles.get(user_id):  # "responder" only for those with no other role
            add(user_id, RESPONDER)
    for followup in followups:
        add(followup.owner_id, FOLLOWUP_OWNER)
    order = {COMMANDER: 0, OWNER: 1}
    people = sorted(
        roles.items(),
        key=lambda item: (min(order.get(r, 2) for r in item[1]), -counts.get(item[0], 0)),
    )
    return [Participant(names.must(uid), rs, counts.get(uid, 0)) for uid, rs in people]


def _tracked_in(followup: FollowUp) -> str | None:
    """A Markdown link to the follow-up's Jira issue, once exported."""
    link = followup.jira_link
    if link is None or link.state is not JiraExportState.EXPORTED or not link.issue_key:
        return None
    return f"[{link.issue_key}]({link.issue_url})" if link.issue_url else link.issue_key
