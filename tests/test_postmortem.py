"""`/postmortem` end to end: signed HTTP requests → the real app → the Slack fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    CapturedMessage,
    EventKind,
    Postmortem,
    PostmortemStatus,
    PostmortemVersion,
    TimelineEvent,
)
from tests.bench import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    Bench,
    running_bench,
)
from tests.test_postmortem_render import STANDARD_SECTIONS


@pytest.fixture
def bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    """The bench with Slack's Events API on: what people say is captured live, as in a real
    workspace, and generation reads it from the database."""
    with running_bench(slack, db, deliver_events=True) as running:
        yield running


def postmortem(bench: Bench) -> Postmortem | None:
    with bench.db.read_session() as session:
        return session.scalar(select(Postmortem))


def versions(bench: Bench) -> list[int]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(PostmortemVersion.version).order_by("version")))


def canvas_markdown(bench: Bench) -> str:
    [canvas] = bench.slack.canvases().values()
    return str(canvas["markdown"])


def generate(
    bench: Bench,
    text: str = "generate",
    *,
    user: str = ALICE,
    count: int = 1,
    channel: str = INCIDENT_CHANNEL,
) -> None:
    bench.command("/postmortem", text, user=user, channel=channel)
    eventually(lambda: len(versions(bench)) >= count)


def declare(bench: Bench, channel: str = INCIDENT_CHANNEL) -> None:
    bench.command("/incident", "declare Checkout returns 500s sev2", channel=channel)
    eventually(lambda: bench.slack.calls_to("chat.postMessage"))
    bench.wait_for_backfill()


def test_generation_reads_the_channel_log_without_holding_the_write_lock(bench: Bench) -> None:
    """On SQLite a transaction that writes holds the one write lock until it ends: reading a
    long channel log (for the document, for the search index) inside one kept every command
    of every channel waiting for as long as the reading took."""
    if bench.db.dialect != "sqlite":
        pytest.skip("PostgreSQL's readers hold no lock a writer waits for")
    declare(bench)
    for n in range(5):
        bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, f"update {n}")
    eventually(lambda: len(captured_texts(bench)) >= 5)
    began: dict[int, str] = {}
    reads: list[str] = []

    def record(conn: Any, _cursor: object, statement: str, *_rest: object) -> None:
        key = id(conn.connection.dbapi_connection)
        if statement.startswith("BEGIN"):
            began[key] = statement
        elif statement.startswith("SELECT") and "FROM captured_messages" in statement:
            reads.append(began.get(key, "?"))

    event.listen(bench.db.engine, "before_cursor_execute", record)
    try:
        generate(bench)
    finally:
        event.remove(bench.db.engine, "before_cursor_execute", record)
    assert len(reads) >= 3  # the authors to name, the document's log, the search index's
    assert set(reads) == {"BEGIN"}  # never "BEGIN IMMEDIATE"


def captured_texts(bench: Bench) -> list[str]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(CapturedMessage.text)))


def test_generate_builds_the_whole_document_from_what_happened(bench: Bench) -> None:
    slack = bench.slack
    declare(bench)
    # the conversation: a thread, an edit, a deletion (captured live, as Slack delivers it)
    first = slack.post_as_user(INCIDENT_CHANNEL, BOB, "seeing 500s on checkout")
    slack.post_as_user(INCIDENT_CHANNEL, CAROL, "it's deploy 4812", thread_ts=first["ts"])
    graph = {"id": "F0GRAPH", "name": "error-rate.png", "mimetype": "image/png"}
    slack.post_as_user(INCIDENT_CHANNEL, BOB, "error rate", files=[graph])
    typo = slack.post_as_user(INCIDENT_CHANNEL, ALICE, "rolling bak now")
    slack.edit_as_user(INCIDENT_CHANNEL, typo["ts"], "rolling back now")
    oops = slack.post_as_user(INCIDENT_CHANNEL, BOB, "wrong channel, sorry")
    slack.delete_message(INCIDENT_CHANNEL, oops["ts"])
    # the timeline: one event at a time in Bob's zone (Los Angeles)
    at_la = (datetime.now(UTC) - timedelta(minutes=5)).astimezone(ZoneInfo("America/Los_Angeles"))
    bench.command("/timeline", f"at {at_la:%H:%M} detection Pager fired for checkout", user=BOB)
    bench.command("/timeline", "mitigation Rolled back 4812", user=CAROL)
    eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 3)
    bench.command("/incident", "resolved")
    eventually(lambda: len(slack.calls_to("chat.postMessage")) >= 4)

    history_before = len(slack.calls_to("conversations.history"))
    generate(bench)
    # Capture paid off: the channel was captured live, so generation fetched no history; the
    # only history call is the lead-up backfill after the declaration.
    assert history_before == len(slack.calls_to("conversations.history")) == 1
    assert slack.calls_to("conversations.replies") == []
    markdown = canvas_markdown(bench)
    positions = [markdown.index(section + "\n") for section in STANDARD_SECTIONS]
    assert positions == sorted(positions)
    expected_utc = at_la.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    timeline = markdown[markdown.index("## Timeline") : markdown.index("## Root cause ident")]
    assert f"**{expected_utc}** · detection · Bob Dev — Pager fired for checkout" in timeline
    stamps = [line[4:20] for line in timeline.splitlines() if line.startswith("- **")]
    assert len(stamps) == 4 and stamps == sorted(stamps)  # chronological
    appendix = markdown[markdown.index("## Appendix") :]
    assert "Bob Dev: seeing 500s on checkout" in appendix
    assert "\n  - **" in appendix and "Carol SRE: it's deploy 4812" in appendix  # nested reply
    assert "Bob Dev: error rate [files: error-rate.png]" in appendix
    assert "rolling back now" in appendix and "rolling bak" not in appendix
    assert "wrong channel" not in markdown
    assert "U0BOB" not in markdown and "U0CAROL" not in markdown  # names, not ids
    assert "Detected at" in markdown and "Pager fired for checkout" in markdown

    [access] = slack.calls_to("canvases.access.set")
    assert access.params["channel_ids"] in ([INCIDENT_CHANNEL], INCIDENT_CHANNEL)
    saved = eventually(lambda: (p := postmortem(bench)) and p.message_ts and p)
    assert saved.status is PostmortemStatus.DRAFT and saved.owner_id == ALICE
    assert saved.version == 1 and saved.canvas_id and saved.document_url
    link = [m for m in slack.messages(INCIDENT_CHANNEL) if m["ts"] == saved.message_ts][0]
    assert "INC-1 postmortem" in link["text"]
    with bench.db.session() as session:
        texts = session.scalars(
            select(TimelineEvent.text).where(TimelineEvent.kind == EventKind.STATUS)
        )
        assert "Postmortem generated (version 1, template standard)" in list(texts)


def test_regenerating_edits_the_canvas_and_completed_needs_force(bench: Bench) -> None:
    declare(bench)
    generate(bench, "generate concise")
    canvas_id = postmortem(bench).canvas_id  # type: ignore[union-attr]
    assert "## Action items" in canvas_markdown(bench)
    bench.slack.edit_canvas_as_person(canvas_id, "Root cause", "A pool sized for last year.")
    bench.command("/timeline", "Raised the pool size")
    eventually(lambda: len(bench.slack.calls_to("chat.postMessage")) >= 2)
    generate(bench, "generate", count=2)  # keeps the template it was generated with
    edits = bench.slack.calls_to("canvases.edit")
    assert edits and {e.params["canvas_id"] for e in edits} == {canvas_id}
    assert all("section_id" in e.params["changes"][0] for e in edits)  # never the whole canvas
    assert len(bench.slack.canvases()) == 1 and versions(bench) == [1, 2]
    markdown = canvas_markdown(bench)
    assert "## Action items" in markdown and "Raised the pool size" in markdown
    assert "A pool sized for last year." in markdown  # what people wrote is still there

    bench.command("/postmortem", "status completed")  # Alice owns it
    eventually(lambda: postmortem(bench).status is PostmortemStatus.COMPLETED)  # type: ignore[union-attr]
    refused = bench.reply_to("/postmortem", "generate")
    assert "is Completed, so I won't overwrite it" in refused["text"]
    assert versions(bench) == [1, 2]
    generate(bench, "generate --force", count=3)


def test_canvas_refused_falls_back_to_a_markdown_file(bench: Bench) -> None:
    declare(bench)
    bench.slack.fail("canvases.create", "free_teams_cannot_create_non_tabbed_canvases")
    _, url = bench.command("/postmortem", "generate")
    eventually(lambda: versions(bench))
    [uploaded] = bench.slack.files().values()
    assert uploaded["name"] == "INC-1-postmortem-v1.md"
    assert INCIDENT_CHANNEL in uploaded["channels"]
    assert b"## Corrective actions" in uploaded["content"]
    saved = postmortem(bench)
    assert saved is not None and saved.file_id and not saved.canvas_id
    notes = eventually(
        lambda: [p for p in bench.slack.response_posts(url) if "Markdown file" in p["text"]]
    )
    assert "free_teams_cannot_create_non_tabbed_canvases" in notes[0]["text"]


def test_status_owner_attach_remove_show(bench: Bench) -> None:
    declare(bench)
    assert "no postmortem yet" in bench.reply_to("/postmortem", "show")["text"]
    generate(bench)
    pm = eventually(lambda: (p := postmortem(bench)) and p.message_ts and p)

    # In Review by anyone; Completed only by owner / commander / admin
    bench.requests.block_action(
        "postmortem_status_in_review",
        f"{pm.id}:in_review",
        user_id=BOB,
        channel_id=INCIDENT_CHANNEL,
        message={"ts": pm.message_ts, "text": ""},
        response_url=bench.slack.new_response_url(),
    )
    eventually(lambda: postmortem(bench).status is PostmortemStatus.IN_REVIEW)  # type: ignore[union-attr]
    refused = bench.reply_to("/postmortem", "status completed", user=CAROL)
    assert "Only the postmortem owner" in refused["text"]

    # a new owner gets a DM, and then may complete it
    bench.command("/postmortem", "owner <@U0CAROL|carol>")
    eventually(lambda: postmortem(bench).owner_id == CAROL)  # type: ignore[union-attr]
    dm = eventually(lambda: bench.slack.dm_channel_id(CAROL))
    [note] = eventually(lambda: bench.slack.messages(dm))
    assert "made you the owner of the *INC-1* postmortem" in note["text"]
    bench.command("/postmortem", "status completed", user=CAROL)
    eventually(lambda: postmortem(bench).status is PostmortemStatus.COMPLETED)  # type: ignore[union-attr]
    assert "Completed" in bench.reply_to("/postmortem", "show")["text"]

    # attach: http(s) only; remove: unlink, never delete (a Completed one: moved back first)
    assert "starts with http" in bench.reply_to("/postmortem", "attach ftp://files/x")["text"]
    bench.command("/postmortem", "attach <https://wiki.example.com/inc-1>")
    eventually(lambda: postmortem(bench).document_url == "https://wiki.example.com/inc-1")  # type: ignore[union-attr]
    assert "is Completed, so I won't unlink it" in bench.reply_to("/postmortem", "remove")["text"]
    bench.command("/postmortem", "status in-review", user=CAROL)
    removed = bench.reply_to("/postmortem", "remove")
    assert "The document is untouched: https://wiki.example.com/inc-1" in removed["text"]
    assert postmortem(bench).document_url is None  # type: ignore[union-attr]
    assert len(bench.slack.canvases()) == 1  # the canvas was never deleted
    with bench.db.session() as session:
        texts = list(session.scalars(select(TimelineEvent.text)))
    for expected in (
        "Postmortem status: Draft → In Review",
        "Postmortem owner: <@U0ALICE> → <@U0CAROL>",
        "Postmortem attached: https://wiki.example.com/inc-1",
        "Postmortem unlinked from the incident",
        "Postmortem status: Completed → In Review",
    ):
        assert expected in texts


def test_private_incident_postmortem_stays_in_its_channel(bench: Bench) -> None:
    declare(bench, PRIVATE_CHANNEL)
    generate(bench, channel=PRIVATE_CHANNEL)
    pm = eventually(lambda: (p := postmortem(bench)) and p.message_ts and p)
    [access] = bench.slack.calls_to("canvases.access.set")
    assert access.params["channel_ids"] in ([PRIVATE_CHANNEL], PRIVATE_CHANNEL)
    assert "user_ids" not in access.params
    bench.command("/postmortem", f"owner <@{CAROL}|carol>", channel=PRIVATE_CHANNEL)
    dm = eventually(lambda: bench.slack.dm_channel_id(CAROL))
    [note] = eventually(lambda: bench.slack.messages(dm))
    assert "private incident" in note["text"] and "Checkout" not in note["text"]
    # nothing went to any other conversation
    posted_to = {c.params["channel"] for c in bench.slack.calls_to("chat.postMessage")}
    assert posted_to <= {PRIVATE_CHANNEL, dm}
    assert pm.canvas_id in bench.slack.canvases()


@pytest.fixture
def custom_bench(slack: FakeSlack, db: Database, tmp_path: Path) -> Iterator[Bench]:
    (tmp_path / "broken.md.j2").write_text("# {{ incident.key }}\n{% if %}\n")
    (tmp_path / "typo.md.j2").write_text("# {{ incident.key }}\n\n{{ incident.ownr }}\n")
    with running_bench(slack, db, postmortem_templates_dir=tmp_path) as running:
        yield running


def test_a_broken_custom_template_says_where_and_publishes_nothing(custom_bench: Bench) -> None:
    bench = custom_bench
    declare(bench)
    for name, line in (("broken", 2), ("typo", 3)):
        _, url = bench.command("/postmortem", f"generate {name}")
        error = eventually(
            lambda u=url: [p for p in bench.slack.response_posts(u) if "problem" in p["text"]]
        )
        assert f"`{name}.md.j2`, line {line}, has a problem" in error[0]["text"]
        assert "Nothing was published" in error[0]["text"]
    unknown = bench.reply_to("/postmortem", "generate nosuch")
    assert unknown["response_type"] == "ephemeral"
    time.sleep(0.3)  # the reply comes after the ack: let any stray work finish
    assert bench.slack.calls_to("canvases.create") == [] and bench.slack.files() == {}
    assert versions(bench) == []


def test_app_home_lists_the_postmortems_you_own(bench: Bench) -> None:
    declare(bench)
    generate(bench)
    bench.requests.event(
        {
            "type": "app_home_opened",
            "user": ALICE,
            "channel": "D0ALICE",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
    )
    [published] = bench.slack.wait_for("views.publish")
    assert published.params["user_id"] == ALICE
    text = str(published.params["view"])
    assert "Your postmortems" in text and "INC-1" in text and "Draft" in text
