"""A hand-checked incident through gather + render: every key time and metric compared with
values worked out by hand. Times cross midnight (UTC) and come from people in two time zones
(Alice in Berlin, UTC+1; Bob in Los Angeles, UTC-8), a leadup event is days earlier, and the
mitigation event comes before `/incident mitigated` was typed.

By hand (all UTC):
    2026-11-19 00:20  Bob's deploy: "/timeline at 2026-11-18 16:20" in Los Angeles    (leadup)
    2026-11-22 23:12  impact started: Bob, "/incident impact started 15:12" (LA)
    2026-11-22 23:20  a note, after impact start: not leadup
    2026-11-22 23:31  detection: Alice, "/timeline at 00:31 detection ..." (Berlin, next day)
    2026-11-22 23:40  declared
    2026-11-22 23:50  escalation
    2026-11-23 00:05  mitigation event: Bob, "/timeline at 16:05 mitigation ..." (LA)
    2026-11-23 00:20  "/incident mitigated" typed (later than the mitigation event)
    2026-11-23 00:50  impact ended: Bob, "/incident impact ended 16:50" (LA)
    2026-11-23 01:10  resolved: Alice, "/incident resolved at 02:10" (Berlin)

    time to detect   = 23:31 - 23:12 =     19m
    time to mitigate = 00:05 - 23:12 =     53m
    time to resolve  = 01:10 - 23:12 = 1h 58m
    impact duration  = 00:50 - 23:12 = 1h 38m
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.incidents.commands import read_time
from bot.incidents.service import Workspace, change_status, declare_incident, set_key_time
from bot.postmortem.gather import gather
from bot.postmortem.render import environment, render
from bot.timeline.commands import LogEvent, resolve
from bot.timeline.service import record_event
from storage.db import Database
from storage.models import (
    EventSource,
    Incident,
    IncidentStatus,
    KeyTime,
    PostmortemStatus,
    SlackUser,
)

ALICE, BOB = "U0ALICE", "U0BOB"
BERLIN, LOS_ANGELES = "Europe/Berlin", "America/Los_Angeles"


def utc(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _log(db: Database, incident_id: int, words: str, *, by: str, tz: str, now: datetime) -> None:
    """`/timeline at <words>` typed by `by` in zone `tz` at `now`."""
    event = resolve(LogEvent(words=words, kind=None, timed=True), now=now, tz_name=tz)
    with db.session() as session:
        record_event(
            session,
            session.get_one(Incident, incident_id),
            kind=event.kind,
            text=event.text,
            author_id=by,
            occurred_at=event.occurred_at,
            now=now,
            source=EventSource.COMMAND,
        )


def _build(db: Database) -> int:
    with db.session() as session:
        for user_id, name, tz in ((ALICE, "Alice Ops", BERLIN), (BOB, "Bob Dev", LOS_ANGELES)):
            session.add(
                SlackUser(
                    team_id="T1",
                    user_id=user_id,
                    name=name,
                    real_name=name,
                    tz=tz,
                    is_bot=False,
                    fetched_at=utc(22, 0, 0),
                )  # fmt: skip
            )
        incident = declare_incident(
            session,
            workspace=Workspace("T1"),
            channel_id="C1",
            channel_private=False,
            commander_id=ALICE,
            title="Checkout returns 500s",
            severity=None,
            now=utc(22, 23, 40),
        )
        incident_id = incident.id
    _log(db, incident_id, "2026-11-18 16:20 Deployed checkout 4812", by=BOB, tz=LOS_ANGELES,
         now=utc(22, 23, 42))  # fmt: skip
    _log(db, incident_id, "23:20 UTC Error rate creeping up", by=BOB, tz=LOS_ANGELES,
         now=utc(22, 23, 43))  # fmt: skip
    _log(db, incident_id, "00:31 detection Pager fired: checkout 5xx at 40%", by=ALICE,
         tz=BERLIN, now=utc(22, 23, 45))  # fmt: skip
    _log(db, incident_id, "00:50 escalation Paged the payments on-call", by=ALICE, tz=BERLIN,
         now=utc(22, 23, 55))  # fmt: skip
    _log(db, incident_id, "16:05 mitigation Rolled back 4812", by=BOB, tz=LOS_ANGELES,
         now=utc(23, 0, 15))  # fmt: skip
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        now = utc(23, 0, 16)
        started = read_time("15:12", now=now, tz_name=LOS_ANGELES, what="impact started")
        set_key_time(session, incident, KeyTime.IMPACT_STARTED, started, by=BOB, now=now)
        change_status(session, incident, IncidentStatus.MITIGATED, by=BOB, now=utc(23, 0, 20))
        now = utc(23, 1, 0)
        ended = read_time("16:50", now=now, tz_name=LOS_ANGELES, what="impact ended")
        set_key_time(session, incident, KeyTime.IMPACT_ENDED, ended, by=BOB, now=now)
        now = utc(23, 1, 30)
        resolved = read_time("02:10", now=now, tz_name=BERLIN, what="resolved")
        change_status(session, incident, IncidentStatus.RESOLVED, by=ALICE, now=now, at=resolved)
    return incident_id


def _render(db: Database, incident_id: int) -> str:
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        context = gather(
            session,
            incident,
            owner_id=ALICE,
            status=PostmortemStatus.DRAFT,
            version=1,
            template="standard",
            leadup=timedelta(minutes=30),
            now=utc(23, 9, 0),
        )
        return render(environment(), "standard", context.as_template_vars())


def _section(markdown: str, heading: str) -> str:
    start = markdown.index(heading + "\n") + len(heading) + 1
    end = markdown.index("\n#", start)
    return markdown[start:end].strip()


def test_key_times_and_metrics_match_the_hand_worked_values(db: Database) -> None:
    markdown = _render(db, _build(db))
    assert _section(markdown, "## Key facts").splitlines() == [
        "- **Severity:** SEV3 · **Status:** resolved · **Incident commander:** Alice Ops",
        "- **Impact started:** 2026-11-22 23:12 UTC _(set by Bob Dev with /incident)_",
        "- **Detected:** 2026-11-22 23:31 UTC _(the first detection event)_",
        "- **Declared:** 2026-11-22 23:40 UTC _(when it was declared)_",
        "- **Mitigated:** 2026-11-23 00:05 UTC _(the first mitigation event)_",
        "- **Resolved:** 2026-11-23 01:10 UTC _(set by Alice Ops with /incident)_",
        "- **Impact ended:** 2026-11-23 00:50 UTC _(set by Bob Dev with /incident)_",
        "- **Time to detect:** 19m (impact started → detected)",
        "- **Time to mitigate:** 53m (impact started → mitigated)",
        "- **Time to resolve:** 1h 58m (impact started → resolved)",
        "- **Impact duration:** 1h 38m (impact started → impact ended, else resolved)",
    ]


def test_leadup_and_lists_show_dates_off_the_incidents_day(db: Database) -> None:
    markdown = _render(db, _build(db))
    assert _section(markdown, "### Leadup events").splitlines()[-1] == (
        "- 2026-11-19 00:20 UTC — Deployed checkout 4812 (Bob Dev)"
    )  # days earlier, with its date; the 23:20 note came after impact start: not leadup
    assert "Error rate creeping up" not in _section(markdown, "### Leadup events")
    assert _section(markdown, "### Escalations") == (
        "- 23:50 UTC — Paged the payments on-call (Alice Ops)"
    )
    assert _section(markdown, "### Mitigation events") == (
        "- 2026-11-23 00:05 UTC — Rolled back 4812 (Bob Dev)\n\n"
        "Mitigated at 2026-11-23 00:05 UTC, 53m after the impact started."
    )
    assert "The impact had lasted 19m when it was detected." in markdown
    assert _section(markdown, "## Impact").startswith(
        "For 1h 38m, between 2026-11-22 23:12 UTC and 2026-11-23 00:50 UTC, users were affected"
    )
    assert _section(markdown, "## Summary").startswith(
        "Between 2026-11-22 23:12 UTC and 2026-11-23 00:50 UTC: Checkout returns 500s. This "
        "SEV3 incident was declared at 23:40 UTC, after it was detected: Pager fired"
    )
