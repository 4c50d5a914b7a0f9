"""Issue 16, "The postmortem tells the truth and keeps people's writing", over signed HTTP: each
finding of the issue, through the real bot and the Slack fake.

The clock is the bot's (a test moves it), so key times and metrics are exact numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.incidents.blocks import KEY_TIMES_VIEW_CALLBACK
from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    EventKind,
    FollowUp,
    FollowUpChange,
    FollowUpStatus,
    Incident,
    IncidentKeyTime,
    IncidentStatus,
    KeyTime,
    KeyTimeVia,
    OutboxJob,
    Postmortem,
    PostmortemStatus,
    TimelineEvent,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, QUIET_CHANNEL, Bench, running_bench

# 07:00 UTC on Monday Nov 23: 08:00 for Alice (Paris, the commander), 23:00 Sunday for Bob.
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
DAVE = "U0DAVE"  # in POSTMORTEM_ADMINS
STATUS_CHANNEL = "C0STATUS"  # STATUS_UPDATES_CHANNEL
NOBODY = "U0NOBODY"  # a mention of someone this workspace does not have


class Clock:
    """The bot's clock; a test moves it forward."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: int) -> None:
        self.now = NOW + timedelta(minutes=minutes)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def bench(slack: FakeSlack, db: Database, clock: Clock) -> Iterator[Bench]:
    slack.add_user(DAVE, "dave", real_name="Dave Admin", tz="UTC")
    slack.add_channel("status-updates", members=[ALICE, BOB], channel_id=STATUS_CHANNEL)
    with running_bench(
        slack,
        db,
        clock=clock,
        postmortem_admins=DAVE,
        status_updates_channel=STATUS_CHANNEL,
    ) as running:
        yield running


# -- helpers ------------------------------------------------------------------------------------


def answer(bench: Bench, command: str, text: str, **kwargs: Any) -> str:
    """The private answer in the ack of a command (it must come in the ack itself: a change
    is committed before Slack is answered, and the answer needs only the database)."""
    reply, _ = bench.command(command, text, **kwargs)
    assert reply.status == 200, reply.body
    assert reply.body, f"{command} {text}: no private answer in the ack"
    payload = reply.json()
    assert payload["response_type"] == "ephemeral"
    return str(payload["text"])


def posts(bench: Bench, channel: str = INCIDENT_CHANNEL) -> list[str]:
    return [str(m.get("text", "")) for m in bench.slack.messages(channel) if m.get("bot_id")]


def wait_post(bench: Bench, needle: str, channel: str = INCIDENT_CHANNEL) -> str:
    return eventually(
        lambda: next((p for p in posts(bench, channel) if needle in p), None), what=needle
    )


def declare(bench: Bench, text: str = "declare Checkout returns 500s sev2") -> None:
    bench.command("/incident", text)
    wait_post(bench, "INC-1")
    bench.wait_for_backfill()


def incident(bench: Bench) -> Incident:
    with bench.db.session() as session:
        [found] = session.scalars(select(Incident))
        return found


def followups(bench: Bench) -> list[FollowUp]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.number)))


def postmortem(bench: Bench) -> Postmortem | None:
    with bench.db.read_session() as session:
        return session.scalar(select(Postmortem))


def count(bench: Bench, model: Any) -> int:
    with bench.db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def jobs_named(bench: Bench, name: str) -> int:
    with bench.db.read_session() as session:
        return int(session.scalar(select(func.count()).where(OutboxJob.kind == name)) or 0)


def response_texts(bench: Bench, url: str) -> list[str]:
    return [str(p.get("text", "")) for p in bench.slack.response_posts(url)]


def wait_response(bench: Bench, url: str, needle: str) -> str:
    return eventually(
        lambda: next((t for t in response_texts(bench, url) if needle in t), None),
        what=f"{needle!r} at the response_url",
    )


def thread_texts(bench: Bench, item: FollowUp) -> list[str]:
    replies = bench.slack.replies(INCIDENT_CHANNEL, item.announcement_ts or "")[1:]
    return [str(r["text"]) for r in replies]


def new_followups(bench: Bench, *titles: str) -> list[FollowUp]:
    for title in titles:
        reply, _ = bench.command("/followup", title, user=BOB)
        assert reply.status == 200 and not reply.body, reply.body
    return eventually(
        lambda: (
            (found := followups(bench))
            and len(found) == len(titles)
            and all(f.announcement_ts for f in found)
            and found
        ),
        what="the follow-ups' announcements",
    )


# -- /followup subcommands -------------------------------------------------------------------


def test_followup_subcommands_change_the_followup_and_create_nothing(bench: Bench) -> None:
    declare(bench)
    first, second = new_followups(bench, "Add a canary stage", "Rotate the leaked key")
    assert answer(bench, "/followup", "done F1") == "Marked INC-1-F1 done."
    assert answer(bench, "/followup", "reopen F1") == "Marked INC-1-F1 open."
    assigned = answer(bench, "/followup", "assign F2 <@U0BOB|bob>")
    assert assigned == "INC-1-F2 is now owned by <@U0BOB>."
    again = answer(bench, "/followup", "assign F2 <@U0BOB|bob>")
    assert again == "INC-1-F2 is already owned by <@U0BOB>; nothing changed."
    assert answer(bench, "/followup", "start INC-1-F2") == "Marked INC-1-F2 in progress."
    due = answer(bench, "/followup", "due F2 2026-12-04", user=CAROL)
    assert due == "INC-1-F2 is now due Fri Dec 4, 2026."
    refused = answer(bench, "/followup", "due F2 2026-11-01")
    assert "in the past" in refused

    # the follow-ups changed; no follow-up titled "reopen F1" or "assign F2 @bob" appeared
    one, two = followups(bench)
    assert [f.title for f in followups(bench)] == ["Add a canary stage", "Rotate the leaked key"]
    assert one.status is FollowUpStatus.OPEN
    assert (two.owner_id, two.status, two.due_date) == (
        BOB,
        FollowUpStatus.IN_PROGRESS,
        date(2026, 12, 4),
    )
    # as the buttons do: the announcement's thread says who changed what
    notes = eventually(lambda: len(thread_texts(bench, one)) >= 2 and thread_texts(bench, one))
    assert notes == [
        "<@U0ALICE> changed the status of *INC-1-F1*: open → *done*",
        "<@U0ALICE> changed the status of *INC-1-F1*: done → *open*",
    ]
    notes = eventually(lambda: len(thread_texts(bench, two)) >= 3 and thread_texts(bench, two))
    assert notes[0] == "<@U0ALICE> reassigned *INC-1-F2*: unassigned → <@U0BOB>"
    assert notes[2] == (
        "<@U0CAROL> moved the due date of *INC-1-F2*: Sun Dec 6, 2026 → *Fri Dec 4, 2026*"
    )


def test_assigning_someone_slack_does_not_know_is_refused_before_anything_is_saved(
    bench: Bench,
) -> None:
    declare(bench)
    [item] = new_followups(bench, "Add a canary stage")
    refused = answer(bench, "/followup", f"assign F1 <@{NOBODY}>")
    assert f"I can't find <@{NOBODY}> (`{NOBODY}`) in this workspace" in refused
    assert followups(bench)[0].owner_id is None
    with bench.db.session() as session:
        kept = session.scalars(
            select(FollowUpChange.field).where(FollowUpChange.follow_up_id == item.id)
        )
        assert [field.value for field in kept] == ["created"]


def test_the_announcements_buttons_confirm_privately(bench: Bench) -> None:
    declare(bench)
    [item] = new_followups(bench, "Add a canary stage")
    message = next(
        m for m in bench.slack.messages(INCIDENT_CHANNEL) if m["ts"] == item.announcement_ts
    )
    url = bench.slack.new_response_url()
    bench.requests.block_action(
        "followup_status:in_progress",
        f"{item.id}:in_progress",
        user_id=CAROL,
        channel_id=INCIDENT_CHANNEL,
        message=message,
        block_id=next(b for b in message["blocks"] if b["type"] == "actions")["block_id"],
        response_url=url,
    )
    assert wait_response(bench, url, "Marked") == "Marked INC-1-F1 in progress."
    assert followups(bench)[0].status is FollowUpStatus.IN_PROGRESS


# -- strict grammar ----------------------------------------------------------------------------


def test_unknown_severities_and_priorities_are_refused_and_create_nothing(bench: Bench) -> None:
    for text in ("declare X sev9", "declare X sev0"):
        refused = answer(bench, "/incident", text)
        assert "isn't a severity. Use sev1 (worst) to sev5" in refused, refused
    assert count(bench, Incident) == 0
    declare(bench)
    refused = answer(bench, "/followup", "Fix it p0")
    assert "isn't a priority. Use p1 (most urgent) to p4" in refused
    assert count(bench, FollowUp) == 0


def test_a_followups_creation_is_its_own_event_kind(bench: Bench) -> None:
    declare(bench)
    new_followups(bench, "Add a canary stage")
    with bench.db.session() as session:
        kinds = dict(
            session.execute(
                select(TimelineEvent.text, TimelineEvent.kind).where(
                    TimelineEvent.text.like("Follow-up%")
                )
            ).all()
        )
    assert kinds == {"Follow-up INC-1-F1 created: Add a canary stage": EventKind.FOLLOWUP}


# -- /postmortem ---------------------------------------------------------------------------------


def test_an_owner_slack_does_not_know_is_refused_and_nothing_is_saved(bench: Bench) -> None:
    declare(bench)
    answer(bench, "/postmortem", "attach https://wiki.example.com/inc-1")
    events = count(bench, TimelineEvent)
    refused = answer(bench, "/postmortem", f"owner <@{NOBODY}>")
    assert f"I can't find <@{NOBODY}>" in refused
    saved = postmortem(bench)
    assert saved is not None and saved.owner_id == ALICE
    assert count(bench, TimelineEvent) == events  # no "Postmortem owner" event
    assert jobs_named(bench, "postmortem.owner_dm") == 0


def test_owner_status_attach_and_remove_confirm_privately(bench: Bench) -> None:
    declare(bench)
    linked = answer(bench, "/postmortem", "attach <https://wiki.example.com/inc-1>")
    assert linked.startswith("Linked INC-1's postmortem to https://wiki.example.com/inc-1")
    reviewed = answer(bench, "/postmortem", "status in-review")
    assert reviewed == "INC-1's postmortem is now *In Review* (it was Draft)."
    owned = answer(bench, "/postmortem", "owner <@U0BOB|bob>")
    assert owned == "<@U0BOB> now owns INC-1's postmortem; I'm sending them a DM."
    removed = answer(bench, "/postmortem", "remove")
    assert "The document is untouched: https://wiki.example.com/inc-1" in removed
    assert "It is a Draft again (it was In Review)." in removed

    # the message's buttons confirm too (privately, at the click's response_url)
    pm = eventually(lambda: (p := postmortem(bench)) and p.message_ts and p)
    url = bench.slack.new_response_url()
    bench.requests.block_action(
        "postmortem_status_in_review",
        f"{pm.id}:in_review",
        user_id=CAROL,
        channel_id=INCIDENT_CHANNEL,
        message={"ts": pm.message_ts, "text": ""},
        response_url=url,
    )
    confirmed = wait_response(bench, url, "postmortem")
    assert confirmed == "INC-1's postmortem is now *In Review* (it was Draft)."


def test_removing_a_completed_postmortem_is_refused(bench: Bench) -> None:
    declare(bench)
    answer(bench, "/postmortem", "attach https://wiki.example.com/inc-1")
    answer(bench, "/postmortem", "status completed")  # Alice owns it
    refused = answer(bench, "/postmortem", "remove")
    assert "INC-1's postmortem is Completed, so I won't unlink it" in refused
    assert "`/postmortem status in-review` first" in refused
    kept = postmortem(bench)
    assert kept is not None and kept.status is PostmortemStatus.COMPLETED
    assert kept.document_url == "https://wiki.example.com/inc-1"


def test_generate_and_show_outside_an_incident_channel_speak_of_postmortems(
    bench: Bench,
) -> None:
    for text in ("generate", "show", "status completed", "attach https://x.example.com/1"):
        refused = answer(bench, "/postmortem", text, channel=QUIET_CHANNEL)
        assert "no postmortem here" in refused, (text, refused)
        assert "timeline" not in refused, (text, refused)


def test_regenerating_tells_the_person_what_was_refreshed_and_what_was_left(
    bench: Bench,
) -> None:
    declare(bench)
    _, first = bench.command("/postmortem", "generate")
    wait_response(bench, first, "version 1")
    canvas_id = eventually(lambda: (p := postmortem(bench)) and p.canvas_id)
    bench.slack.edit_canvas_as_person(canvas_id, "Summary", "Pool exhaustion, written by us.")
    bench.command("/timeline", "Raised the pool size")
    wait_post(bench, "Raised the pool size")
    _, second = bench.command("/postmortem", "generate")
    told = wait_response(bench, second, "version 2")
    assert "is published as a canvas" in told
    assert "The sections the team writes were not touched." in told
    assert "*Timeline*" in told  # a refreshed section, named
    markdown = str(bench.slack.canvases()[canvas_id]["markdown"])
    assert "Pool exhaustion, written by us." in markdown and "Raised the pool size" in markdown


# -- /incident: key times, reopen ----------------------------------------------------------------


def test_mitigated_at_a_time_moves_the_key_time_and_the_metrics(bench: Bench, clock: Clock) -> None:
    declare(bench)  # 07:00 UTC
    clock.at(60)
    bench.command("/incident", "mitigated")
    wait_post(bench, "is now *mitigated*")
    # Alice is in Paris: 08:30 there is 07:30 UTC
    told = answer(bench, "/incident", "mitigated at 08:30")
    assert "*mitigated* is now 2026-11-23 07:30 UTC (08:30 in Europe/Paris" in told
    assert "*Time to mitigate*: 30m (impact started → mitigated)" in told
    wait_post(bench, "*mitigated* is now 2026-11-23 07:30 UTC (set by <@U0ALICE>)")
    with bench.db.session() as session:
        [row] = session.scalars(select(IncidentKeyTime))
        assert (row.kind, row.at, row.via) == (
            KeyTime.MITIGATED,
            datetime(2026, 11, 23, 7, 30, tzinfo=UTC),
            KeyTimeVia.COMMAND,
        )
    status = bench.reply_to("/incident", "status")
    shown = json.dumps(status["blocks"])
    assert "*Time to mitigate*: 30m" in shown and "/incident times" in shown

    clock.at(90)
    bench.command("/incident", "resolved")
    wait_post(bench, "is now *resolved*")
    corrected = answer(bench, "/incident", "resolved at 2026-11-23 08:20 UTC")
    assert "*Time to resolve*: 1h 20m" in corrected
    clock.at(120)
    _, url = bench.command("/postmortem", "generate")
    wait_response(bench, url, "version 1")
    markdown = str(next(iter(bench.slack.canvases().values()))["markdown"])
    assert "- **Mitigated:** 2026-11-23 07:30 UTC" in markdown
    assert "- **Time to mitigate:** 30m (impact started → mitigated)" in markdown
    assert "- **Time to resolve:** 1h 20m (impact started → resolved)" in markdown


def test_impact_started_sets_time_to_detect_and_contradictions_are_refused(
    bench: Bench, clock: Clock
) -> None:
    declare(bench)
    clock.at(10)
    told = answer(bench, "/incident", "impact started 06:40 UTC", user=CAROL)
    assert "*impact started* is now 2026-11-23 06:40 UTC." in told  # Carol is on UTC
    assert "*Time to detect*: 20m (impact started → detected)" in told
    refused = answer(bench, "/incident", "impact started 07:05 UTC")
    assert "Impact started can't be after detected" in refused
    refused = answer(bench, "/incident", "mitigated at 06:30 UTC")
    assert "Mitigated can't be before impact started" in refused
    assert incident(bench).status is IncidentStatus.ACTIVE  # nothing of it was saved


def test_the_edit_key_times_modal_saves_and_validates(bench: Bench, clock: Clock) -> None:
    declare(bench)
    clock.at(30)
    reply, _ = bench.command("/incident", "times")
    assert reply.status == 200 and not reply.body
    [opened] = bench.slack.wait_for("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == KEY_TIMES_VIEW_CALLBACK

    def values(**fields: str) -> dict[str, Any]:
        kinds = ("impact_started", "detected", "mitigated", "resolved", "impact_ended")
        return {
            kind: {"value": {"type": "plain_text_input", "value": fields.get(kind, "")}}
            for kind in kinds
        }

    def submit(**fields: str) -> dict[str, Any]:
        reply = bench.requests.view_submission(view, values(**fields), user_id=CAROL)
        assert reply.status == 200
        return reply.json() if reply.body else {}

    refused = submit(impact_started="soonish", mitigated="07:10")
    assert refused["response_action"] == "errors"
    assert set(refused["errors"]) == {"impact_started"}  # unreadable: read first
    refused = submit(impact_started="06:40", mitigated="07:10")
    assert refused["errors"] == {"mitigated": "It isn't mitigated yet: leave this empty for now."}
    refused = submit(impact_started="06:40", detected="06:30")
    assert set(refused["errors"]) == {"detected"}
    assert "Detected can't be before impact started" in refused["errors"]["detected"]
    assert count(bench, IncidentKeyTime) == 0  # all or nothing

    assert submit(impact_started="06:40", detected="06:50") == {}
    with bench.db.session() as session:
        stored = {
            row.kind: (row.at, row.via, row.set_by)
            for row in session.scalars(select(IncidentKeyTime))
        }
    assert stored == {
        KeyTime.IMPACT_STARTED: (
            datetime(2026, 11, 23, 6, 40, tzinfo=UTC),
            KeyTimeVia.MODAL,
            CAROL,
        ),
        KeyTime.DETECTED: (datetime(2026, 11, 23, 6, 50, tzinfo=UTC), KeyTimeVia.MODAL, CAROL),
    }
    wait_post(bench, "*impact started* is now 2026-11-23 06:40 UTC (set by <@U0CAROL>)")
    wait_post(bench, "*detected* is now 2026-11-23 06:50 UTC (set by <@U0CAROL>)")
    confirmed = eventually(lambda: bench.slack.ephemerals(INCIDENT_CHANNEL, CAROL))
    assert "Saved INC-1's key times" in confirmed[-1]["text"]
    assert "*Time to detect*: 10m" in confirmed[-1]["text"]

    # an empty field is worked out from the timeline again
    assert submit(impact_started="06:40") == {}
    wait_post(bench, "*detected* is worked out from the timeline again")
    with bench.db.session() as session:
        assert [row.kind for row in session.scalars(select(IncidentKeyTime))] == [
            KeyTime.IMPACT_STARTED
        ]


def test_reopen_makes_the_incident_active_and_tells_who_heard_it_was_resolved(
    bench: Bench, clock: Clock
) -> None:
    declare(bench)
    clock.at(30)
    bench.command("/incident", "resolved")
    wait_post(bench, "INC-1 resolved", STATUS_CHANNEL)
    clock.at(40)
    reply, _ = bench.command("/incident", "reopen", user=BOB)
    assert reply.status == 200, reply.body
    wait_post(bench, "is *active* again: reopened by <@U0BOB> (it was resolved)")
    wait_post(bench, "INC-1 reopened", STATUS_CHANNEL)
    reopened = incident(bench)
    assert reopened.status is IncidentStatus.ACTIVE and reopened.resolved_at is None
    # it can be mitigated and resolved again, at their new times
    clock.at(50)
    bench.command("/incident", "mitigated")
    eventually(lambda: incident(bench).status is IncidentStatus.MITIGATED)
    assert incident(bench).mitigated_at == NOW + timedelta(minutes=50)


# -- the timeline: who may edit or delete --------------------------------------------------------


def test_only_the_author_the_commander_or_an_admin_edit_or_delete_events(bench: Bench) -> None:
    declare(bench)  # Alice is the commander
    bench.command("/timeline", "Carol's note", user=CAROL)
    bench.command("/timeline", "Another note by Carol", user=CAROL)
    wait_post(bench, "Another note by Carol")
    with bench.db.session() as session:
        events = {e.text: e.id for e in session.scalars(select(TimelineEvent))}
    declared = next(i for text, i in events.items() if text.startswith("Incident declared"))
    carols, another = events["Carol's note"], events["Another note by Carol"]

    def menu(verb: str, event_id: int, user: str) -> str:
        url = bench.slack.new_response_url()
        bench.requests.block_action(
            "timeline_event_menu",
            f"{verb}:{event_id}",
            action_type="overflow",
            user_id=user,
            channel_id=INCIDENT_CHANNEL,
            message={"ts": "1.0", "text": ""},
            response_url=url,
            trigger_id=bench.slack.new_trigger_id(),
        )
        return url

    refused = bench.ephemeral_reply(menu("delete", carols, BOB))
    assert "Only whoever logged this event, the incident commander" in refused["text"]
    refused = bench.ephemeral_reply(menu("delete", declared, ALICE))
    assert "can't be deleted" in refused["text"]
    assert set(events.values()) <= {e.id for e in _events(bench)}

    # editing: Bob is refused next to the text; Dave (an admin) may
    menu("edit", carols, BOB)
    [opened] = bench.slack.wait_for("views.open")
    view = opened.params["view"]

    def edit(user: str, text: str) -> Any:
        return bench.requests.view_submission(
            view,
            {
                "time": {"value": {"type": "plain_text_input", "value": "2026-11-23 06:59"}},
                "kind": {"value": {"type": "static_select", "selected_option": {"value": "note"}}},
                "text": {"value": {"type": "plain_text_input", "value": text}},
            },
            user_id=user,
        )

    refused_edit = edit(BOB, "Bob's version")
    assert refused_edit.json()["response_action"] == "errors"
    assert "Only whoever logged this event" in refused_edit.json()["errors"]["text"]
    assert edit(DAVE, "Dave's correction").body == ""
    texts = {e.text for e in _events(bench)}
    assert "Dave's correction" in texts and "Bob's version" not in texts

    deleted = bench.ephemeral_reply(menu("delete", another, DAVE))
    assert "Deleted" in json.dumps(deleted["blocks"][-1])
    assert another not in {e.id for e in _events(bench)}


def _events(bench: Bench) -> list[TimelineEvent]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(TimelineEvent)))
