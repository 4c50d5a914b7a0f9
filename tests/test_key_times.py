"""Key times: derived from what was captured, set by people, moved with their status events,
undone by reopening; and the metrics measured between them. Database cases run on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.errors import UserError
from bot.incidents import blocks as incident_blocks
from bot.incidents.keytime_service import KeyTimeConflict, key_times_of
from bot.incidents.keytimes import Captured, SetKeyTime, derive, metrics
from bot.incidents.service import (
    Workspace,
    change_status,
    declare_incident,
    reopen_incident,
    save_key_times,
    set_key_time,
)
from bot.timeline import blocks as timeline_blocks
from bot.timeline.service import delete_event, edit_event, record_event
from storage.db import Database
from storage.models import (
    EventKind,
    Incident,
    IncidentKeyTime,
    IncidentStatus,
    KeyTime,
    KeyTimeVia,
    Severity,
    TimelineEvent,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def declare(db: Database, channel: str = "C1") -> int:
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace("T1"),
            channel_id=channel,
            channel_private=False,
            commander_id=ALICE,
            title="Checkout returns 500s",
            severity=None,
            now=T0,
        )
        return incident.id


def log(db: Database, incident_id: int, kind: EventKind, at: datetime, by: str = BOB) -> int:
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        event = record_event(
            session, incident, kind=kind, text=f"{kind.value}", author_id=by, occurred_at=at, now=at
        )
        return event.id


def status(db: Database, incident_id: int, to: IncidentStatus, now: datetime, **kw: object) -> None:
    with db.session() as session:
        change_status(session, session.get_one(Incident, incident_id), to, by=BOB, now=now, **kw)  # type: ignore[arg-type]


def times(db: Database, incident_id: int) -> dict[KeyTime, tuple[datetime | None, str]]:
    with db.session() as session:
        found = key_times_of(session, session.get_one(Incident, incident_id))
    return {m.kind: (m.at, m.source) for m in found.all()}


def event_with(db: Database, incident_id: int, key_time: KeyTime) -> int:
    with db.read_session() as session:
        return session.scalars(
            select(TimelineEvent.id).where(
                TimelineEvent.incident_id == incident_id, TimelineEvent.key_time == key_time
            )
        ).one()


# --- pure: derivation and metrics -------------------------------------------------------------


def test_derived_key_times_ignore_leadup_and_use_the_first_mitigation() -> None:
    captured = Captured(
        declared_at=minutes(0),
        mitigated_at=minutes(40),  # `/incident mitigated` typed late
        resolved_at=minutes(90),
        detections=(minutes(-15), minutes(5)),
        mitigations=(minutes(20), minutes(60)),
    )
    derived = derive(captured, {})
    assert derived.impact_started.at == minutes(-15) and derived.impact_started.derived
    assert derived.detected.at == minutes(-15)
    assert derived.mitigated.at == minutes(20)
    assert derived.mitigated.source == "the first mitigation event"
    assert derived.resolved.at == minutes(90) and derived.impact_ended.at == minutes(90)
    measured = metrics(derived)
    assert measured.time_to_detect.value is None  # impact start is only assumed
    assert measured.time_to_mitigate.value == timedelta(minutes=35)
    assert measured.time_to_resolve.value == timedelta(minutes=105)
    assert measured.impact_duration.value == timedelta(minutes=105)

    set_start = {KeyTime.IMPACT_STARTED: SetKeyTime(minutes(-25), ALICE, KeyTimeVia.COMMAND)}
    measured = metrics(derive(captured, set_start))
    assert measured.time_to_detect.value == timedelta(minutes=10)
    assert measured.time_to_mitigate.value == timedelta(minutes=45)
    ended = {**set_start, KeyTime.IMPACT_ENDED: SetKeyTime(minutes(50), ALICE, KeyTimeVia.MODAL)}
    assert metrics(derive(captured, ended)).impact_duration.value == timedelta(minutes=75)


def test_a_detection_after_the_declaration_is_not_when_it_was_detected() -> None:
    captured = Captured(
        minutes(0), None, None, detections=(minutes(10),), mitigations=(minutes(5),)
    )
    derived = derive(captured, {})
    assert derived.detected.at == minutes(0) and derived.detected.source == "the declaration"
    assert derived.mitigated.at is None  # a mitigation event alone does not mitigate
    assert derived.resolved.at is None and derived.impact_ended.at is None
    assert [m.value for m in metrics(derived).all()] == [None, None, None, None]


def test_the_declaration_cannot_be_overridden() -> None:
    captured = Captured(minutes(0), None, None, (), ())
    settings = {KeyTime.DECLARED: SetKeyTime(minutes(-60), ALICE, KeyTimeVia.MODAL)}
    assert derive(captured, settings).declared.at == minutes(0)


# --- commands on the database -----------------------------------------------------------------


def test_status_commands_with_a_time_set_the_key_time(db: Database) -> None:
    incident_id = declare(db)
    log(db, incident_id, EventKind.MITIGATION, minutes(20))
    status(db, incident_id, IncidentStatus.MITIGATED, minutes(45), at=minutes(30))
    at, source = times(db, incident_id)[KeyTime.MITIGATED]
    assert (at, source) == (minutes(30), "command")  # what a person says beats the event
    with db.session() as session:
        event = session.get_one(TimelineEvent, event_with(db, incident_id, KeyTime.MITIGATED))
        assert (event.occurred_at, event.recorded_at) == (minutes(30), minutes(45))
        row = session.scalars(select(IncidentKeyTime)).one()
        assert (row.kind, row.set_by, row.via, row.set_at) == (
            KeyTime.MITIGATED,
            BOB,
            KeyTimeVia.COMMAND,
            minutes(45),
        )
    # already mitigated: a time corrects the key time only; without one it is refused
    status(db, incident_id, IncidentStatus.MITIGATED, minutes(50), at=minutes(25))
    assert times(db, incident_id)[KeyTime.MITIGATED][0] == minutes(25)
    with pytest.raises(UserError, match="already mitigated"):
        status(db, incident_id, IncidentStatus.MITIGATED, minutes(50))
    status(db, incident_id, IncidentStatus.RESOLVED, minutes(90))
    status(db, incident_id, IncidentStatus.MITIGATED, minutes(95), at=minutes(24))
    assert times(db, incident_id)[KeyTime.MITIGATED][0] == minutes(24)
    with db.session() as session:
        assert session.get_one(Incident, incident_id).status is IncidentStatus.RESOLVED


def test_key_times_that_contradict_each_other_are_refused(db: Database) -> None:
    incident_id = declare(db)
    status(db, incident_id, IncidentStatus.MITIGATED, minutes(30))
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        with pytest.raises(KeyTimeConflict) as conflict:
            set_key_time(
                session, incident, KeyTime.IMPACT_STARTED, minutes(40), by=BOB, now=minutes(50)
            )
        assert (
            "Impact started can't be after detected (2026-11-22 09:00 UTC, from the declaration)"
            in conflict.value.message
        )
        with pytest.raises(UserError, match="recorded by the bot"):
            set_key_time(session, incident, KeyTime.DECLARED, minutes(-5), by=BOB, now=minutes(50))
        with pytest.raises(UserError, match="isn't resolved yet"):
            set_key_time(session, incident, KeyTime.RESOLVED, minutes(20), by=BOB, now=minutes(50))
        set_key_time(
            session, incident, KeyTime.IMPACT_STARTED, minutes(-20), by=BOB, now=minutes(50)
        )
    assert times(db, incident_id)[KeyTime.IMPACT_STARTED] == (minutes(-20), "command")
    with db.session() as session:  # None: derive it again
        set_key_time(
            session,
            session.get_one(Incident, incident_id),
            KeyTime.IMPACT_STARTED,
            None,
            by=BOB,
            now=minutes(51),
        )
    assert times(db, incident_id)[KeyTime.IMPACT_STARTED] == (
        minutes(0),
        "assumed: when it was detected",
    )


def test_the_modal_saves_all_or_nothing_with_errors_per_field(db: Database) -> None:
    incident_id = declare(db)
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        errors = save_key_times(
            session,
            incident,
            {KeyTime.IMPACT_STARTED: minutes(-10), KeyTime.MITIGATED: minutes(5)},
            by=CAROL,
            now=minutes(10),
        )
        assert (
            set(errors) == {KeyTime.MITIGATED}
            and "isn't mitigated yet" in errors[KeyTime.MITIGATED]
        )
        errors = save_key_times(
            session,
            incident,
            {KeyTime.IMPACT_STARTED: minutes(5), KeyTime.DETECTED: minutes(2)},
            by=CAROL,
            now=minutes(10),
        )
        assert set(errors) == {KeyTime.DETECTED}  # the later of the two is out of place
        assert session.scalars(select(IncidentKeyTime)).all() == []
        assert (
            save_key_times(
                session,
                incident,
                {KeyTime.IMPACT_STARTED: minutes(-10), KeyTime.DETECTED: minutes(-2)},
                by=CAROL,
                now=minutes(10),
            )
            == {}
        )
    assert times(db, incident_id)[KeyTime.DETECTED] == (minutes(-2), "modal")


# --- timeline events that record key times ----------------------------------------------------


def test_moving_the_mitigated_event_moves_the_key_time(db: Database) -> None:
    incident_id = declare(db)
    status(db, incident_id, IncidentStatus.MITIGATED, minutes(60))
    event_id = event_with(db, incident_id, KeyTime.MITIGATED)
    with db.session() as session:
        event = session.get_one(TimelineEvent, event_id)
        edit_event(
            session,
            event,
            text=event.text,
            kind=event.kind,
            occurred_at=minutes(35),
            by=ALICE,
            now=minutes(70),
        )
    assert times(db, incident_id)[KeyTime.MITIGATED] == (minutes(35), "event_edit")
    with db.session() as session:
        assert session.get_one(Incident, incident_id).mitigated_at == minutes(35)
        event = session.get_one(TimelineEvent, event_id)
        with pytest.raises(UserError, match="stays a `status` event"):
            edit_event(
                session,
                event,
                text="x",
                kind=EventKind.NOTE,
                occurred_at=minutes(35),
                by=ALICE,
                now=minutes(70),
            )


def test_the_declaration_event_stays_and_stays_put(db: Database) -> None:
    incident_id = declare(db)
    declared = event_with(db, incident_id, KeyTime.DECLARED)
    with db.session() as session:
        event = session.get_one(TimelineEvent, declared)
        with pytest.raises(UserError, match="can't be deleted"):
            delete_event(session, event, by=ALICE)
        with pytest.raises(UserError, match="can't be deleted"):
            delete_event(session, event)  # not even without a person
        with pytest.raises(UserError, match="its time can't move"):
            edit_event(
                session,
                event,
                text=event.text,
                kind=event.kind,
                occurred_at=minutes(-30),
                by=ALICE,
                now=minutes(5),
            )
        edit_event(
            session,
            event,
            text="Declared after the pager",
            kind=event.kind,
            occurred_at=T0,
            by=ALICE,
            now=minutes(5),
        )
    with db.session() as session:
        assert session.get_one(TimelineEvent, declared).text == "Declared after the pager"


def test_only_the_author_the_commander_or_an_admin_edits_or_deletes(db: Database) -> None:
    incident_id = declare(db)  # Alice commands
    note = log(db, incident_id, EventKind.NOTE, minutes(3), by=BOB)
    with db.session() as session:
        event = session.get_one(TimelineEvent, note)
        with pytest.raises(UserError, match="Only whoever logged this event"):
            edit_event(
                session,
                event,
                text="x",
                kind=EventKind.NOTE,
                occurred_at=minutes(3),
                by=CAROL,
                now=minutes(9),
            )
        with pytest.raises(UserError, match="can delete it"):
            delete_event(session, event, by=CAROL)
        for who, admins in ((BOB, ()), (ALICE, ()), (CAROL, (CAROL,))):
            edit_event(
                session,
                event,
                text=f"by {who}",
                kind=EventKind.NOTE,
                occurred_at=minutes(3),
                by=who,
                now=minutes(9),
                admins=admins,
            )
        delete_event(session, event, by=CAROL, admins={CAROL})
    with db.session() as session:
        assert session.get(TimelineEvent, note) is None


# --- reopening ---------------------------------------------------------------------------------


def test_reopening_undoes_the_resolution_and_keeps_the_channel_rule(db: Database) -> None:
    incident_id = declare(db)
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        set_key_time(
            session, incident, KeyTime.IMPACT_STARTED, minutes(-10), by=BOB, now=minutes(1)
        )
        with pytest.raises(UserError, match="already active"):
            reopen_incident(session, incident, by=BOB, now=minutes(2))
    status(db, incident_id, IncidentStatus.RESOLVED, minutes(60), at=minutes(50))
    with db.session() as session:
        incident = session.get_one(Incident, incident_id)
        set_key_time(session, incident, KeyTime.IMPACT_ENDED, minutes(45), by=BOB, now=minutes(61))
        reopen_incident(session, incident, by=CAROL, now=minutes(80))
        assert incident.status is IncidentStatus.ACTIVE
        assert (incident.resolved_at, incident.mitigated_at) == (None, None)
        kinds = set(session.scalars(select(IncidentKeyTime.kind)))
        assert kinds == {KeyTime.IMPACT_STARTED}  # the start stays; the ending is undone
        texts = list(session.scalars(select(TimelineEvent.text).order_by(TimelineEvent.id)))
        assert texts[-1] == "Incident reopened (it was resolved at 2026-11-22 09:50 UTC)"
    found = times(db, incident_id)
    assert found[KeyTime.RESOLVED] == (None, "not yet") and found[KeyTime.IMPACT_ENDED][0] is None
    # reopened, it is the channel's open incident again: no second one can be declared
    with pytest.raises(UserError, match="already has an open incident"):
        declare(db)
    status(db, incident_id, IncidentStatus.RESOLVED, minutes(100))
    newer = declare(db)
    with db.session() as session:
        with pytest.raises(UserError, match="only the latest"):
            reopen_incident(
                session, session.get_one(Incident, incident_id), by=BOB, now=minutes(110)
            )
        assert session.get_one(Incident, newer).status is IncidentStatus.ACTIVE


# --- what people see ----------------------------------------------------------------------------


def _event(event_id: int, kind: EventKind, key_time: KeyTime | None) -> TimelineEvent:
    return TimelineEvent(
        id=event_id, kind=kind, key_time=key_time, occurred_at=T0, text="x", author_id=ALICE
    )


def test_the_declaration_has_no_delete_and_status_events_keep_their_kind() -> None:
    incident = Incident(id=1, number=4, title="t", commander_id=ALICE)
    events = [
        _event(1, EventKind.STATUS, KeyTime.DECLARED),
        _event(2, EventKind.NOTE, None),
        _event(3, EventKind.STATUS, KeyTime.MITIGATED),
    ]
    _, listed = timeline_blocks.timeline_list(incident, events, 3, now=T0)
    menus = {
        b["block_id"]: [o["value"] for o in b["accessory"]["options"]]
        for b in listed
        if "accessory" in b
    }
    assert menus == {
        "event-1": ["edit:1"],
        "event-2": ["edit:2", "delete:2"],
        "event-3": ["edit:3", "delete:3"],
    }
    view = timeline_blocks.event_edit_modal(events[2], channel_id="C1")
    [kinds] = [b for b in view["blocks"] if b.get("block_id") == "kind"]
    assert [o["value"] for o in kinds["element"]["options"]] == ["status"]
    assert "moving it moves that key time" in view["blocks"][0]["elements"][0]["text"]
    plain = timeline_blocks.event_edit_modal(events[1], channel_id="C1")
    assert plain["blocks"][0]["block_id"] == "time"  # no note on an ordinary event


def test_incident_status_can_show_key_times_and_metrics() -> None:
    incident = Incident(
        number=4, title="Checkout", status=IncidentStatus.MITIGATED, severity=Severity.SEV2,
        commander_id=ALICE, declared_at=T0, mitigated_at=minutes(30),
    )  # fmt: skip
    captured = Captured(T0, minutes(30), None, detections=(minutes(-5),), mitigations=())
    derived = derive(captured, {})
    _, without = incident_blocks.incident_summary(incident, now=minutes(40))
    _, shown = incident_blocks.incident_summary(
        incident, now=minutes(40), key_times=(derived, metrics(derived))
    )
    assert shown[: len(without)] == without
    text = shown[len(without)]["text"]["text"]
    assert "*Detected*: 2026-11-22 08:55 UTC, from the first detection event" in text
    assert "*Time to detect*: unknown (impact started → detected)" in text
    assert "*Time to mitigate*: 35m (impact started → mitigated)" in text
    assert "/incident times" in shown[-1]["elements"][0]["text"]


def test_messages_for_reopening_and_setting_a_key_time() -> None:
    incident = Incident(number=4, status=IncidentStatus.ACTIVE)
    text, _ = incident_blocks.incident_reopened(incident, by=BOB, was=IncidentStatus.RESOLVED)
    assert text.startswith(":red_circle: *INC-4* is *active* again: reopened by <@U0BOB>")
    assert "(it was resolved)" in text
    captured = Captured(T0, None, None, (), ())
    setting = {KeyTime.IMPACT_STARTED: SetKeyTime(minutes(-20), BOB, KeyTimeVia.COMMAND)}
    moment = derive(captured, setting).impact_started
    text, _ = incident_blocks.key_time_set(incident, moment, by=BOB)
    assert text == "INC-4: *impact started* is now 2026-11-22 08:40 UTC (set by <@U0BOB>)."
