"""Regenerating a postmortem into an existing canvas keeps people's writing: only the bot's own,
untouched lines of `{bot}` sections change (bot.postmortem.publish against the fake Slack)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from slack_sdk import WebClient

from bot.postmortem.context import Event, FollowUpItem, Message, PostmortemContext
from bot.postmortem.document import Document
from bot.postmortem.publish import Published, publish
from bot.postmortem.render import environment, render_document
from bot.postmortem.sample import sample_context
from sandbox.slack.fake import FakeSlack

CHANNEL = "inc-7"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user("U0ALICE", "alice")
        server.add_channel(CHANNEL, members=["U0ALICE"])
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url)


def rendered(context: PostmortemContext, template: str = "standard") -> Document:
    return render_document(environment(), template, context.as_template_vars())


def later(context: PostmortemContext) -> PostmortemContext:
    """The same incident a day on: a new timeline event, a new follow-up, version 2."""
    bob = context.timeline[0].author
    at = context.timeline[-1].at + timedelta(minutes=5)
    return replace(
        context,
        timeline=[*context.timeline, Event(at, "note", bob, "Added a canary stage", None, False)],
        followups=[
            *context.followups,
            FollowUpItem("INC-7-F2", "Alert on 5xx rate", bob, None, "P1", "open", None),
        ],
        postmortem=replace(context.postmortem, version=2),
    )


def send(
    client: WebClient,
    fake: FakeSlack,
    document: Document,
    previous: Document | None,
    canvas_id: str | None,
    *,
    file_id: str | None = None,
) -> Published:
    channel_id = str(fake.channel(CHANNEL)["id"])
    return publish(
        client,
        team_id=fake.team_id,
        channel_id=channel_id,
        title="INC-7 postmortem",
        filename="INC-7-postmortem-v2.md",
        document=document,
        previous=previous,
        canvas_id=canvas_id,
        file_id=file_id,
    )


def section_of(markdown: str, heading: str) -> str:
    start = markdown.index(heading + "\n")
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end > 0 else len(markdown)]


def test_regenerating_keeps_peoples_writing_and_refreshes_the_bots(
    fake: FakeSlack, client: WebClient
) -> None:
    first = rendered(sample_context())
    created = send(client, fake, first, None, None)
    assert created.kind == "canvas"
    assert fake.canvas_markdown(created.id) == first.markdown.rstrip("\n")
    fake.edit_canvas_as_person(
        created.id, "Root cause", "The pool was sized for last year's traffic.\n\n- and no alert"
    )
    fake.edit_canvas_as_person(created.id, "Lessons learned", "Canaries would have caught it.")
    fake.reset_calls()

    second = rendered(later(sample_context()))
    published = send(client, fake, second, first, created.id)

    canvas = fake.canvas_markdown(created.id)
    root_cause = section_of(canvas, "## Root cause")
    assert "The pool was sized for last year's traffic.\n\n- and no alert" in root_cause
    assert "✏️ The thing that must change" not in root_cause  # their text, not the prompt
    assert "Canaries would have caught it." in section_of(canvas, "## Lessons learned")
    # the bot's sections now say what the second rendering says
    for heading in ("## Timeline", "## Corrective actions", "## Key facts"):
        assert section_of(canvas, heading) == section_of(second.markdown, heading), heading
    assert "version 2" in canvas and "version 1" not in canvas
    # every edit addressed one section; nothing replaced the whole canvas, no heading changed
    edits = [call.params["changes"][0] for call in fake.calls_to("canvases.edit")]
    assert all("section_id" in e for e in edits)
    # one edit per change: the version line replaced, one new timeline line, one new action
    assert [e["operation"] for e in edits] == ["replace", "insert_after", "insert_after"]
    headings = [s["text"] for s in fake.canvas_sections(created.id) if s["type"][0] == "h"]
    assert headings == [s.heading for s in second.sections]
    assert published.refresh is not None
    assert published.refresh.refreshed == [
        "INC-7: Checkout returns 500s",  # the version in the line under the title
        "Timeline",
        "Corrective actions",
    ]
    assert published.refresh.left_alone == [] and published.refresh.kept_lines == {}
    assert published.notes[0] == (
        "Refreshed *INC-7: Checkout returns 500s*, *Timeline*, *Corrective actions* in the "
        "canvas. The sections the team writes were not touched."
    )
    # and once more with nothing new: no edit at all
    fake.reset_calls()
    again = send(client, fake, second, second, created.id)
    assert fake.calls_to("canvases.edit") == []
    assert again.notes == ("The canvas was already up to date; nothing in it changed.",)


def test_lines_people_changed_or_added_inside_a_bot_section_stay(
    fake: FakeSlack, client: WebClient
) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    timeline = section_of(first.markdown, "## Timeline").split("\n\n", 1)[1]
    edited = timeline.replace(
        "Roll back 4812", "Roll back 4812 (Carol disagreed, see thread)"
    ).replace("All times are UTC.", "All times are UTC.\n\nNote from Alice: times are approximate.")
    fake.edit_canvas_as_person(canvas_id, "Timeline", edited)

    published = send(client, fake, rendered(later(sample_context())), first, canvas_id)
    canvas = section_of(fake.canvas_markdown(canvas_id), "## Timeline")
    assert "Roll back 4812 (Carol disagreed, see thread)" in canvas
    assert "Note from Alice: times are approximate." in canvas
    assert "Added a canary stage" in canvas  # the bot's new line still arrived
    assert canvas.count("Roll back 4812") == 1  # the bot did not put its old line back
    assert published.refresh is not None and published.refresh.kept_lines == {"Timeline": 1}
    assert "*Timeline*: 1 line I wrote earlier were changed or removed" in "\n".join(
        published.notes
    )


def test_a_renamed_or_doubled_heading_is_left_alone_and_reported(
    fake: FakeSlack, client: WebClient
) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    fake.rename_canvas_heading_as_person(canvas_id, "Timeline", "What happened when")
    before = section_of(fake.canvas_markdown(canvas_id), "## What happened when")

    published = send(client, fake, rendered(later(sample_context())), first, canvas_id)
    canvas = fake.canvas_markdown(canvas_id)
    assert section_of(canvas, "## What happened when") == before  # not overwritten
    assert "Added a canary stage" not in canvas.split("## What happened when")[1].split("## ")[0]
    assert "INC-7-F2" in section_of(canvas, "## Corrective actions")  # the rest refreshed
    assert published.refresh is not None
    [(heading, why)] = published.refresh.left_alone
    assert heading == "Timeline" and "couldn't find its heading “Timeline”" in why

    fake.rename_canvas_heading_as_person(canvas_id, "What happened when", "Timeline")
    fake.edit_canvas_as_person(canvas_id, "Lessons learned", "## Timeline\n\nmy own copy")
    third = send(client, fake, rendered(later(sample_context())), first, canvas_id)
    assert third.refresh is not None
    assert third.refresh.left_alone[0][1].startswith("the canvas has 2 headings “Timeline”")


def test_a_section_new_to_the_template_is_inserted_where_it_belongs(
    fake: FakeSlack, client: WebClient
) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    without = "## Participants"
    trimmed = Document(
        tuple(s for s in first.sections if s.key != "h2:participants"), first.markdown
    )
    # pretend the canvas was made by a template without Participants
    section = next(s for s in fake.canvas_sections(canvas_id) if s["text"] == "Participants")
    client.canvases_edit(
        canvas_id=canvas_id, changes=[{"operation": "delete", "section_id": section["id"]}]
    )
    for line in section_of(first.markdown, without).split("\n")[2:]:
        if line.strip():
            [found] = client.canvases_sections_lookup(
                canvas_id=canvas_id, criteria={"contains_text": line.lstrip("- ")[:40]}
            )["sections"]
            client.canvases_edit(
                canvas_id=canvas_id, changes=[{"operation": "delete", "section_id": found["id"]}]
            )
    assert without not in fake.canvas_markdown(canvas_id)

    published = send(client, fake, rendered(sample_context()), trimmed, canvas_id)
    canvas = fake.canvas_markdown(canvas_id)
    assert canvas.index("## Corrective actions") < canvas.index(without)
    assert canvas.index(without) < canvas.index("## Appendix: channel log")
    assert section_of(canvas, without) == section_of(first.markdown, without)
    assert published.refresh is not None and published.refresh.inserted == ["Participants"]


def test_without_a_record_of_the_last_version_nothing_is_touched(
    fake: FakeSlack, client: WebClient
) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    fake.reset_calls()
    published = send(client, fake, rendered(later(sample_context())), None, canvas_id)
    assert fake.calls_to("canvases.edit") == []
    assert published.refresh is not None
    assert {h for h, _ in published.refresh.left_alone} == {s.heading for s in first.bot_sections}


def test_a_deleted_canvas_is_made_again_and_said_so(fake: FakeSlack, client: WebClient) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    client.canvases_delete(canvas_id=canvas_id)
    published = send(client, fake, rendered(later(sample_context())), first, canvas_id)
    assert published.kind == "canvas" and published.id != canvas_id
    assert published.notes == ("The earlier canvas was deleted, so this version is a new canvas.",)


def test_a_markdown_file_is_never_overwritten(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("canvases.create", "free_teams_cannot_create_non_tabbed_canvases", times=2)
    first = rendered(sample_context())
    v1 = send(client, fake, first, None, None)
    assert v1.kind == "file" and v1.notes == ()
    v2 = send(client, fake, rendered(later(sample_context())), first, None, file_id=v1.id)
    assert v2.kind == "file" and v2.id != v1.id
    assert "is a new file next to the earlier version" in v2.notes[0]
    files = fake.files()
    assert set(files) == {v1.id, v2.id}
    assert files[v1.id]["content"] == first.markdown.encode()  # the old one, untouched


def test_a_long_run_of_new_lines_is_sent_in_chunks_and_stays_in_order(
    fake: FakeSlack, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = rendered(sample_context())
    canvas_id = send(client, fake, first, None, None).id
    context = sample_context()
    start = context.messages[-1].at
    author = context.messages[0].author
    context.messages += [
        Message(start + timedelta(minutes=n), author, f"message number {n:03}", False, [])
        for n in range(1, 41)
    ]
    monkeypatch.setattr("bot.postmortem.publish.MAX_CHANGE_BYTES", 600)
    fake.reset_calls()
    send(client, fake, rendered(context), first, canvas_id)
    inserts = [
        c for c in fake.calls_to("canvases.edit") if "insert" in c.params["changes"][0]["operation"]
    ]
    assert len(inserts) > 3  # several chunks...
    log = section_of(fake.canvas_markdown(canvas_id), "## Appendix: channel log")
    numbers = [line.split("message number ")[1] for line in log.splitlines() if "number" in line]
    assert numbers == [f"{n:03}" for n in range(1, 41)]  # ...in the right order


def test_line_changes_are_found_around_long_common_ends() -> None:
    """The refresh compares only what lies between the lines two versions share at their ends
    (a 50,000-line log that grew by a few lines); what it finds must still turn the old lines
    into the new ones, and pair only equal lines, in order."""
    import random

    from bot.postmortem.publish import _changes, _matching_lines

    rng = random.Random(7)
    for _ in range(300):
        old = [f"line {rng.randrange(8)}" for _ in range(rng.randrange(0, 12))]
        new = list(old)
        for _ in range(rng.randrange(0, 4)):
            at = rng.randrange(len(new) + 1)
            if new and rng.random() < 0.5:
                del new[min(at, len(new) - 1)]
            else:
                new.insert(at, f"line {rng.randrange(8)}")
        rebuilt, last = [], 0
        for i1, i2, j1, j2 in _changes(old, new):
            rebuilt += old[last:i1] + new[j1:j2]
            last = i2
        assert rebuilt + old[last:] == new
        pairs = sorted(_matching_lines(old, new).items())
        assert all(old[i] == new[j] for i, j in pairs)
        assert [j for _, j in pairs] == sorted({j for _, j in pairs})
