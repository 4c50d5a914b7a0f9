"""Canvas sections in the fake Slack (``canvases.sections.lookup``, every ``canvases.edit``
operation, ``canvases.getContent``), driven through the real slack_sdk WebClient and compared
with the request/response shapes recorded in ../shared/slack-fixtures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack.fake import FakeSlack
from tests.conftest import shared_file
from tests.slack_fake.support import TOKEN, error_of, post

DOC = """# INC-7 postmortem

Intro paragraph
that spans two lines.

## Timeline

- **14:00** paged
- 14:05 rolled back
  - a nested note

## Root cause

> ✏️ What must change?

```
$ kubectl rollout undo
```

---

| key | value |
| --- | --- |
| a | b |
"""
SECTION_ID_SHAPE = re.compile(r"^temp:C:[A-Za-z0-9]{28}$")


def fixture(name: str) -> Any:
    return json.loads(shared_file(f"slack-fixtures/{name}").read_text())


def create(client: WebClient, markdown: str = DOC) -> str:
    document = {"type": "markdown", "markdown": markdown}
    return str(client.canvases_create(title="INC-7", document_content=document)["canvas_id"])


def lookup(client: WebClient, canvas_id: str, **criteria: Any) -> list[str]:
    found = client.canvases_sections_lookup(canvas_id=canvas_id, criteria=criteria)
    return [section["id"] for section in found["sections"]]


def edit(client: WebClient, canvas_id: str, **change: Any) -> None:
    if isinstance(change.get("markdown"), str):
        change["document_content"] = {"type": "markdown", "markdown": change.pop("markdown")}
    client.canvases_edit(canvas_id=canvas_id, changes=[change])


def texts(fake: FakeSlack, canvas_id: str) -> list[tuple[str, str]]:
    return [(s["type"], s["text"]) for s in fake.canvas_sections(canvas_id)]


def only(client: WebClient, canvas_id: str, **criteria: Any) -> str:
    [section_id] = lookup(client, canvas_id, **criteria)
    return section_id


# --- the section model --------------------------------------------------------------------


def test_every_block_is_a_section_with_a_slack_shaped_id(
    fake: FakeSlack, client: WebClient
) -> None:
    canvas_id = create(client)
    assert texts(fake, canvas_id) == [
        ("h1", "INC-7 postmortem"),
        ("paragraph", "Intro paragraph that spans two lines."),
        ("h2", "Timeline"),
        ("bullet", "14:00 paged"),
        ("bullet", "14:05 rolled back"),
        ("bullet", "a nested note"),
        ("h2", "Root cause"),
        ("quote", "✏️ What must change?"),
        ("code", "$ kubectl rollout undo"),
        ("divider", ""),
        ("table", "key value a b"),
    ]
    ids = [s["id"] for s in fake.canvas_sections(canvas_id)]
    assert all(SECTION_ID_SHAPE.match(i) for i in ids) and len(set(ids)) == len(ids)
    assert client.canvases_getContent(canvas_id=canvas_id)["content"] == fake.canvas_markdown(
        canvas_id
    )
    assert fake.canvas_markdown(canvas_id).startswith("# INC-7 postmortem\n\nIntro paragraph\n")
    assert "- **14:00** paged\n- 14:05 rolled back\n  - a nested note\n\n## Root" in (
        fake.canvas_markdown(canvas_id)
    )
    html = client.canvases_getContent(canvas_id=canvas_id, content_type="html")["content"]
    assert html.startswith("<h1>INC-7 postmortem</h1><p>Intro paragraph")


def test_lookup_by_header_type_and_text(fake: FakeSlack, client: WebClient) -> None:
    canvas_id = create(client)
    by_id = {s["id"]: s["text"] for s in fake.canvas_sections(canvas_id)}
    assert [by_id[i] for i in lookup(client, canvas_id, section_types=["h2"])] == [
        "Timeline",
        "Root cause",
    ]
    assert [by_id[i] for i in lookup(client, canvas_id, section_types=["any_header"])] == [
        "INC-7 postmortem",
        "Timeline",
        "Root cause",
    ]
    assert [by_id[i] for i in lookup(client, canvas_id, section_types=["h1", "h2"])] == [
        "INC-7 postmortem",
        "Timeline",
        "Root cause",
    ]
    # contains_text is a case-insensitive substring of the section's text, marks removed
    assert lookup(client, canvas_id, section_types=["h2"], contains_text="root CAUSE") == [
        only(client, canvas_id, section_types=["h2"], contains_text="Root cause")
    ]
    assert lookup(client, canvas_id, section_types=["h3"]) == []
    # without a section type, other sections are found too ("you may discover these")
    assert [by_id[i] for i in lookup(client, canvas_id, contains_text="14:0")] == [
        "14:00 paged",
        "14:05 rolled back",
    ]
    assert [by_id[i] for i in lookup(client, canvas_id, contains_text="paged")] == ["14:00 paged"]


def test_lookup_criteria_must_follow_the_documented_shape(client: WebClient) -> None:
    canvas_id = create(client)
    for criteria in (
        {},
        {"section_types": []},
        {"section_types": ["h1", "h2", "h3", "any_header"]},  # at most 3
        {"section_types": ["h4"]},
        {"section_types": ["paragraph"]},  # not a type one can filter on
        {"contains_text": ""},
    ):
        with pytest.raises(SlackApiError) as refused:
            client.canvases_sections_lookup(canvas_id=canvas_id, criteria=criteria)
        assert refused.value.response["error"] == "invalid_arguments", criteria
        assert refused.value.response["response_metadata"]["messages"][0].startswith("[ERROR]")


def test_lookup_accepts_json_bodies_too(fake: FakeSlack, client: WebClient) -> None:
    """slack_sdk sends a form body with criteria as a JSON string; a JSON body works too."""
    canvas_id = create(client)
    status, _, body = post(
        f"{fake.api_url}canvases.sections.lookup",
        json.dumps({"canvas_id": canvas_id, "criteria": {"section_types": ["h1"]}}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 200 and len(json.loads(body)["sections"]) == 1
    [call] = fake.calls_to("canvases.sections.lookup")
    assert call.params["criteria"] == {"section_types": ["h1"]}


# --- canvases.edit: every operation -------------------------------------------------------


def test_replacing_a_header_section_replaces_the_heading_line_only(
    fake: FakeSlack, client: WebClient
) -> None:
    """Slack's documented example: look up an h2, replace it with "## After". The text under
    the heading is its own sections and stays."""
    canvas_id = create(client)
    timeline = only(client, canvas_id, section_types=["h2"], contains_text="Timeline")
    edit(client, canvas_id, operation="replace", section_id=timeline, markdown="## After")
    assert texts(fake, canvas_id)[2:5] == [
        ("h2", "After"),
        ("bullet", "14:00 paged"),
        ("bullet", "14:05 rolled back"),
    ]
    assert timeline not in [s["id"] for s in fake.canvas_sections(canvas_id)]  # a new section


def test_inserts_relative_to_a_section_and_at_either_end(
    fake: FakeSlack, client: WebClient
) -> None:
    canvas_id = create(client, "## A\n\npara\n\n## B\n")
    a = only(client, canvas_id, section_types=["h2"], contains_text="A")
    b = only(client, canvas_id, section_types=["h2"], contains_text="B")
    edit(client, canvas_id, operation="insert_after", section_id=a, markdown="- one\n- two")
    edit(client, canvas_id, operation="insert_before", section_id=b, markdown="last of A")
    edit(client, canvas_id, operation="insert_at_start", markdown="# Title")
    edit(client, canvas_id, operation="insert_at_end", markdown="## C\n\nend")
    assert texts(fake, canvas_id) == [
        ("h1", "Title"),
        ("h2", "A"),
        ("bullet", "one"),
        ("bullet", "two"),
        ("paragraph", "para"),
        ("paragraph", "last of A"),
        ("h2", "B"),
        ("h2", "C"),
        ("paragraph", "end"),
    ]
    # ids of untouched sections are stable across edits
    assert only(client, canvas_id, section_types=["h2"], contains_text="A") == a


def test_replace_a_section_replace_everything_and_delete(
    fake: FakeSlack, client: WebClient
) -> None:
    canvas_id = create(client, "## A\n\n- old line\n\n## B\n")
    old = only(client, canvas_id, contains_text="old line")
    edit(client, canvas_id, operation="replace", section_id=old, markdown="- new 1\n- new 2")
    assert texts(fake, canvas_id) == [
        ("h2", "A"),
        ("bullet", "new 1"),
        ("bullet", "new 2"),
        ("h2", "B"),
    ]
    edit(
        client,
        canvas_id,
        operation="delete",
        section_id=only(client, canvas_id, contains_text="new 1"),
    )
    assert texts(fake, canvas_id) == [("h2", "A"), ("bullet", "new 2"), ("h2", "B")]
    edit(client, canvas_id, operation="replace", markdown="just this")  # the whole canvas
    assert texts(fake, canvas_id) == [("paragraph", "just this")]
    edits = [e["operation"] for e in fake.canvases()[canvas_id]["edits"]]
    assert edits == ["replace", "delete", "replace"]


def test_each_operation_needs_its_documented_fields(client: WebClient) -> None:
    canvas_id = create(client, "## A\n")
    a = only(client, canvas_id, section_types=["h2"])
    content = {"type": "markdown", "markdown": "x"}
    for change in (
        {"operation": "insert_after", "document_content": content},  # no section_id
        {"operation": "insert_before", "document_content": content},
        {"operation": "insert_after", "section_id": a},  # no content
        {"operation": "insert_at_start"},
        {"operation": "insert_at_end", "section_id": a, "document_content": content},
        {"operation": "replace", "section_id": a},
        {"operation": "delete"},
        {"operation": "replace", "document_content": {"type": "html", "markdown": "x"}},
        {"operation": "append", "document_content": content},
        {"operation": "rename"},
    ):
        with pytest.raises(SlackApiError) as refused:
            client.canvases_edit(canvas_id=canvas_id, changes=[change])
        assert refused.value.response["error"] == "invalid_arguments", change
    two = [{"operation": "insert_at_end", "document_content": content}] * 2
    assert error_of(lambda: client.canvases_edit(canvas_id=canvas_id, changes=two)) == (
        "invalid_arguments"
    )
    assert error_of(lambda: client.canvases_edit(canvas_id=canvas_id, changes=[])) == (
        "invalid_arguments"
    )


def test_unknown_and_malformed_section_ids_fail_the_edit(client: WebClient) -> None:
    canvas_id = create(client, "## A\n")
    for section_id in ("temp:C:AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "A", "temp:C:short"):
        with pytest.raises(SlackApiError) as refused:
            edit(client, canvas_id, operation="delete", section_id=section_id)
        assert refused.value.response["error"] == "canvas_editing_failed"
        assert refused.value.response["detail"]
    gone = only(client, canvas_id, section_types=["h2"])
    edit(client, canvas_id, operation="delete", section_id=gone)
    with pytest.raises(SlackApiError) as again:
        edit(client, canvas_id, operation="insert_after", section_id=gone, markdown="x")
    assert again.value.response["error"] == "canvas_editing_failed"


def test_content_canvases_refuse_and_size_limit(fake: FakeSlack, client: WebClient) -> None:
    canvas_id = create(client, "## A\n")
    with pytest.raises(SlackApiError) as refused:
        edit(client, canvas_id, operation="insert_at_end", markdown="ok\n\n> quote\n> - a list")
    assert refused.value.response.data == {
        "ok": False,
        "error": "canvas_editing_failed",
        "detail": "'content' error: line 4: Unsupported block type (List) within block quote",
    }
    huge = "x" * (1024 * 1024 + 1)
    assert error_of(lambda: edit(client, canvas_id, operation="insert_at_end", markdown=huge)) == (
        "canvas_too_large"
    )
    assert texts(fake, canvas_id) == [("h2", "A")]  # a refused edit changes nothing


def test_missing_and_deleted_canvases(client: WebClient) -> None:
    canvas_id = create(client, "## A\n")
    criteria = {"section_types": ["h2"]}
    assert (
        error_of(lambda: client.canvases_sections_lookup(canvas_id="F404", criteria=criteria))
        == "canvas_not_found"
    )
    assert error_of(lambda: client.canvases_getContent(canvas_id="F404")) == "canvas_not_found"
    client.canvases_delete(canvas_id=canvas_id)
    assert (
        error_of(lambda: client.canvases_sections_lookup(canvas_id=canvas_id, criteria=criteria))
        == "canvas_deleted"
    )
    assert (
        error_of(lambda: edit(client, canvas_id, operation="insert_at_end", markdown="x"))
        == "canvas_not_found"
    )


# --- a person typing, for tests ------------------------------------------------------------


def test_a_person_edits_a_section_and_renames_a_heading(fake: FakeSlack, client: WebClient) -> None:
    canvas_id = create(client)
    heading_id = only(client, canvas_id, section_types=["h2"], contains_text="Root cause")
    fake.edit_canvas_as_person(canvas_id, "Root cause", "The pool was too small.\n\n- and why")
    assert texts(fake, canvas_id)[6:9] == [
        ("h2", "Root cause"),
        ("paragraph", "The pool was too small."),
        ("bullet", "and why"),
    ]
    assert ("quote", "✏️ What must change?") not in texts(fake, canvas_id)
    fake.rename_canvas_heading_as_person(canvas_id, "Root cause", "Why it broke")
    assert only(client, canvas_id, section_types=["h2"], contains_text="Why it broke") == heading_id
    assert fake.calls_to("canvases.edit") == []  # people are not API calls
    with pytest.raises(ValueError):
        fake.edit_canvas_as_person(canvas_id, "Nope", "x")


# --- the recorded shapes (../shared/slack-fixtures) -----------------------------------------


def test_lookup_matches_the_recorded_request_and_response(
    fake: FakeSlack, client: WebClient
) -> None:
    request = fixture("canvases.sections.lookup.request.json")
    canvas_id = create(client, "# Grocery List\n\n## Grocery List for Monday\n\n## Other\n")
    response = client.canvases_sections_lookup(canvas_id=canvas_id, criteria=request["criteria"])
    [call] = fake.calls_to("canvases.sections.lookup")
    assert call.params["criteria"] == request["criteria"]  # sent as slack_sdk sends it
    recorded = fixture("canvases.sections.lookup.response.json")
    sample = fixture("canvases.sections.lookup.response.java-sdk-sample.json")
    assert set(response.data) == set(recorded) and len(response["sections"]) == 2
    for section in [*response["sections"], *recorded["sections"], *sample["sections"]]:
        assert set(section) == {"id"} and SECTION_ID_SHAPE.match(section["id"])
    assert (
        error_of(
            lambda: client.canvases_sections_lookup(canvas_id="F404", criteria=request["criteria"])
        )
        == fixture("canvases.sections.lookup.error.json")["error"]
    )
    with pytest.raises(SlackApiError) as missing:
        client.canvases_sections_lookup(canvas_id="F404", criteria=request["criteria"])
    assert missing.value.response.data == fixture("canvases.sections.lookup.error.json")


@pytest.mark.parametrize(
    "name",
    ["insert_after", "insert_before", "replace_section", "replace_whole_canvas", "delete"],
)
def test_edit_accepts_each_recorded_request(fake: FakeSlack, client: WebClient, name: str) -> None:
    request = fixture(f"canvases.edit.request.{name}.json")
    canvas_id = create(client, "## Before\n\nkept text\n")
    [change] = request["changes"]
    if "section_id" in change:
        change["section_id"] = only(client, canvas_id, section_types=["h2"])
    response = client.canvases_edit(canvas_id=canvas_id, changes=[change])
    assert response.data == fixture("canvases.edit.response.json")
    [call] = fake.calls_to("canvases.edit")
    assert call.params["changes"] == [change]  # a JSON body, as slack_sdk sends it
    expected = {
        "insert_after": [
            ("h2", "Before"),
            ("paragraph", "Example content"),
            ("paragraph", "kept text"),
        ],
        "insert_before": [
            ("paragraph", "Example content"),
            ("h2", "Before"),
            ("paragraph", "kept text"),
        ],
        "replace_section": [("h2", "After"), ("paragraph", "kept text")],
        "replace_whole_canvas": [("h2", "After")],
        "delete": [("paragraph", "kept text")],
    }[name]
    assert texts(fake, canvas_id) == expected


def test_edit_errors_have_the_recorded_shape(client: WebClient) -> None:
    recorded = fixture("canvases.edit.error.json")
    canvas_id = create(client, "## A\n")
    quoted_list = "\n" * 27 + "> - a list in a quote"
    with pytest.raises(SlackApiError) as failed:
        edit(client, canvas_id, operation="insert_at_end", markdown=quoted_list)
    assert failed.value.response.data == recorded  # line 28, as recorded
    documented = fixture("canvases_openid.documented_errors.json")
    for error in ("canvas_not_found", "canvas_editing_failed", "canvas_too_large"):
        assert error in documented["canvases.edit"]["method_specific"]
    for error in ("canvas_not_found", "canvas_deleted"):
        assert error in documented["canvases.sections.lookup"]["method_specific"]
