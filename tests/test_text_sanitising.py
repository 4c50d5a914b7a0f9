"""Issue 13, part 1, finding 5: control characters in what people type.

PostgreSQL refuses NUL in text (psycopg raises DataError), so `/timeline db\\x00down` crashed
the listener and the user got the generic apology. Every string of a request is cleaned once,
before any listener runs: NUL and the other C0 controls a database or a log refuses are
dropped; tab, newline and carriage return are kept.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from bot.core.sanitise import clean_strings, clean_text
from bot.followups.modal import MODAL_CALLBACK
from handlers.errors import APOLOGY
from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import CapturedMessage, FollowUp, TimelineEvent
from tests.bench import ALICE, INCIDENT_CHANNEL, running_bench


def modal_values(title: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The follow-up modal's state as Slack submits it."""
    due = (date.today() + timedelta(days=7)).isoformat()
    return {
        "title": {"value": {"type": "plain_text_input", "value": title}},
        "due": {"value": {"type": "datepicker", "selected_date": due}},
        "priority": {"value": {"type": "static_select", "selected_option": {"value": "p2"}}},
    }


def test_nul_bytes_in_commands_are_dropped_and_the_text_is_stored(
    slack: FakeSlack, db: Database
) -> None:
    with running_bench(slack, db) as bench:
        bench.command("/incident", "declare Checkout is down")
        slack.wait_for("chat.postMessage")
        timeline, timeline_url = bench.command("/timeline", "db\x00down")
        followup, followup_url = bench.command("/followup", "Fix\x00 it\x07 now")
        assert (timeline.status, followup.status) == (200, 200)
        slack.wait_for("chat.postMessage", count=3)  # the declaration, the echo, the follow-up
    said = slack.response_posts(timeline_url) + slack.response_posts(followup_url)
    assert all(APOLOGY not in post.get("text", "") for post in said), said
    with db.session() as session:
        texts = list(session.scalars(select(TimelineEvent.text)))
        titles = list(session.scalars(select(FollowUp.title)))
    assert "dbdown" in texts
    assert titles == ["Fix it now"]
    assert not any("\x00" in t or "\x07" in t for t in texts + titles)


def test_clean_text_drops_refused_controls_and_keeps_tab_newline_return() -> None:
    assert clean_text("a\x00b\x01c\x08d\x0be\x0cf\x1bg\x1fh") == "abcdefgh"
    assert clean_text("line one\r\nline\ttwo\x7f") == "line one\r\nline\ttwo\x7f"
    assert clean_text("emoji 😀 stays, é too") == "emoji 😀 stays, é too"


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    text = json.loads('"db \\ud800 down"')  # JSON can spell what UTF-8 cannot encode
    cleaned = clean_text(text)
    assert cleaned == "db \ufffd down"
    cleaned.encode("utf-8")  # would raise UnicodeEncodeError before cleaning


def test_every_string_of_a_nested_body_is_cleaned_in_place() -> None:
    view_values = {"title\x00": {"input": {"type": "plain_text_input", "value": "Fix\x00 it"}}}
    body: dict[str, Any] = {
        "type": "view_submission",
        "view": {"state": {"values": view_values}, "private_metadata": "x\x01y"},
        "list": ["a\x00", {"deep": [["b\x02"]]}, 3, None, True],
    }
    held = body["view"]["state"]["values"]  # what Bolt's `view` argument already points at
    assert clean_strings(body) is body
    assert held == {"title": {"input": {"type": "plain_text_input", "value": "Fix it"}}}
    assert body["view"]["private_metadata"] == "xy"
    assert body["list"] == ["a", {"deep": [["b"]]}, 3, None, True]


def test_deep_nesting_is_no_problem_for_the_cleaner() -> None:
    body: list[Any] = ["x\x00"]
    for _ in range(10_000):
        body = [body]
    clean_strings(body)
    inner = body
    while isinstance(inner[0], list):
        inner = inner[0]
    assert inner == ["x"]


def test_events_and_modals_are_cleaned_too(slack: FakeSlack, db: Database) -> None:
    """A captured channel message and a follow-up modal, with NUL, through real HTTP."""
    with running_bench(slack, db) as bench:
        bench.command("/incident", "declare Checkout is down")
        slack.wait_for("chat.postMessage")
        message = slack.post_as_user(INCIDENT_CHANNEL, ALICE, "disk full")
        event = {**message, "text": "disk\x00 full", "channel": INCIDENT_CHANNEL}
        event.update(event_ts=message["ts"], channel_type="channel")
        assert bench.requests.event(event).status == 200
        metadata = json.dumps({"channel_id": INCIDENT_CHANNEL})
        modal = {"type": "modal", "callback_id": MODAL_CALLBACK, "private_metadata": metadata}
        values = modal_values("Rotate\x00 keys")
        assert bench.requests.view_submission(modal, values, user_id=ALICE).status == 200

        def stored() -> bool:
            with db.session() as session:
                texts = set(session.scalars(select(CapturedMessage.text)))
                titles = set(session.scalars(select(FollowUp.title)))
            return "disk full" in texts and "Rotate keys" in titles

        wait_until(stored, what="the captured message and the follow-up")
    with db.session() as session:
        rows = list(session.scalars(select(CapturedMessage.text)))
    assert not any("\x00" in text for text in rows)
