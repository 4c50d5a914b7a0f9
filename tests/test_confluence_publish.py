"""Postmortems published to Confluence, end to end: signed requests → the real bot over HTTP
(POSTMORTEM_DESTINATION=confluence) → the fake Slack and the stateful fake Confluence."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import select

from sandbox.confluence import FakeConfluence, Page, validate_storage
from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    FollowUp,
    JiraExportState,
    JiraLink,
    Postmortem,
    PostmortemVersion,
    TimelineEvent,
)
from tests.bench import ALICE, BOB, INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench, running_bench
from tests.test_postmortem_render import STANDARD_SECTIONS

JIRA_URL = "https://jira.example.test"


@pytest.fixture
def confluence() -> Iterator[FakeConfluence]:
    with FakeConfluence() as fake:
        yield fake


def confluence_settings(fake: FakeConfluence, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "postmortem_destination": "confluence",
        "confluence_url": fake.site_url,
        "confluence_space": "OPS",
        "confluence_email": fake.bot.email,
        "confluence_api_token": fake.bot.api_token,
        "confluence_timeout_seconds": 2,
        "jira_url": JIRA_URL,  # links to its issues become Jira macros (Jira sync stays off)
    }
    values.update(overrides)
    return values


@pytest.fixture
def bench(slack: FakeSlack, db: Database, confluence: FakeConfluence) -> Iterator[Bench]:
    with running_bench(
        slack, db, deliver_events=True, **confluence_settings(confluence)
    ) as running:
        yield running


def versions(bench: Bench) -> list[int]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(PostmortemVersion.version).order_by("version")))


def postmortem(bench: Bench) -> Postmortem:
    with bench.db.session() as session:
        found = session.scalar(select(Postmortem))
        assert found is not None
        return found


def declare(bench: Bench, text: str = "Checkout returns 500s sev2", **kwargs: Any) -> None:
    before = len(bench.slack.calls_to("chat.postMessage"))
    bench.command("/incident", f"declare {text}", **kwargs)
    eventually(lambda: len(bench.slack.calls_to("chat.postMessage")) > before)
    bench.wait_for_backfill()


def generate(bench: Bench, *, count: int = 1, **kwargs: Any) -> str:
    """Run `/postmortem generate`; the command's response_url (its private replies)."""
    _, response_url = bench.command("/postmortem", "generate", **kwargs)
    eventually(lambda: len(versions(bench)) >= count, what="the version")
    return response_url


def logged(bench: Bench, text: str) -> None:
    """Wait until the timeline holds an event containing `text`."""

    def found() -> bool:
        with bench.db.session() as session:
            events = session.scalars(select(TimelineEvent.text)).all()
            return any(text in event for event in events)

    eventually(found, what=f"the timeline event {text!r}")


def followups(bench: Bench) -> list[int]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(FollowUp.id)))


def postmortem_pages(fake: FakeConfluence) -> list[Page]:
    return [p for p in fake.pages_in_space("OPS") if "postmortem" in p.labels]


def the_page(fake: FakeConfluence, *, version: int = 1) -> Page:
    def found() -> Page | None:
        pages = postmortem_pages(fake)
        return pages[0] if pages and pages[0].version >= version else None

    return eventually(found, what=f"a postmortem page at version {version}")


def published_as(bench: Bench, version: int) -> Postmortem:
    return eventually(
        lambda: (p := postmortem(bench)).confluence_version == version and p,
        what=f"version {version} recorded as published",
    )


def section(body: str, heading: str) -> str:
    """The storage between `<h2>heading</h2>` and the next h2."""
    start = body.index(f"<h2>{heading}</h2>")
    end = body.find("<h2>", start + 1)
    return body[start : end if end != -1 else len(body)]


def test_generate_writes_one_page_with_sections_properties_labels_and_jira_macros(
    bench: Bench, confluence: FakeConfluence
) -> None:
    declare(bench)
    bench.command("/timeline", "detection Pager fired for checkout", user=BOB)
    logged(bench, "Pager fired")
    reply, _ = bench.command("/followup", "Add a canary stage <@U0BOB|bob>")
    assert reply.status == 200 and not reply.body, reply.body
    eventually(lambda: followups(bench), what="the follow-up")
    with bench.db.session() as session:  # exported to Jira, as bot.jira.export records it
        followup = session.scalars(select(FollowUp)).one()
        session.add(
            JiraLink(
                team_id=followup.team_id,
                follow_up_id=followup.id,
                marker="postmortem-bot-test-1",
                state=JiraExportState.EXPORTED,
                requested_by=ALICE,
                requested_at=datetime.now(UTC),
                attempts=1,
                issue_key="OPS-12",
                issue_url=f"{JIRA_URL}/browse/OPS-12",
            )
        )

    generate(bench)
    page = the_page(confluence)
    assert page.title == "INC-1: Checkout returns 500s — postmortem"
    assert {"postmortem", "incident", "inc-1", "sev2"} <= set(page.labels)
    assert [p.id for p in postmortem_pages(confluence)] == [page.id]
    validate_storage(page.body)  # what Confluence would accept
    body = page.body
    headings = re.findall(r"<h([23])>(.*?)</h\1>", body)
    for expected in STANDARD_SECTIONS[1:]:
        level, text = len(expected.split(" ")[0]), expected.split(" ", 1)[1]
        assert (str(level), text) in headings, expected
    assert "<h1>" not in body  # the page title says it
    properties = body[: body.index("</ac:structured-macro>")]
    assert 'ac:name="details"' in properties
    for label, value in [
        ("Severity", "SEV2"),
        ("Postmortem status", "Draft"),
        ("Owner", "Alice Ops"),
        ("Incident commander", "Alice Ops"),
        ("Incident status", "active"),
    ]:
        assert f"<th><p>{label}</p></th><td><p>{value}</p></td>" in properties
    assert "<th><p>Declared</p></th>" in properties and "<th><p>Detected</p></th>" in properties
    assert f"/archives/{INCIDENT_CHANNEL}" in properties  # the incident channel, linked
    actions = section(body, "Corrective actions")
    assert '<ac:structured-macro ac:name="jira"' in actions
    assert '<ac:parameter ac:name="key">OPS-12</ac:parameter>' in actions
    assert "Pager fired for checkout" in section(body, "Timeline")

    saved = published_as(bench, 1)
    assert saved.confluence_page_id == page.id
    assert saved.document_url and saved.document_url.startswith(confluence.site_url)
    assert f"/pages/{page.id}" in saved.document_url
    eventually(
        lambda: any(
            "Confluence page" in str(c.params)
            for c in bench.slack.calls_to("chat.postMessage") + bench.slack.calls_to("chat.update")
        ),
        what="the channel message linking the page",
    )


def test_regenerating_keeps_what_people_wrote_and_refreshes_the_bot_sections(
    bench: Bench, confluence: FakeConfluence
) -> None:
    declare(bench)
    generate(bench)
    first = the_page(confluence)
    published_as(bench, 1)
    root = section(first.body, "Root cause")
    human = "<h2>Root cause</h2>\n<p>The deploy skipped the canary &amp; nobody noticed.</p>\n"
    edited = confluence.edit_as_person(first.id, first.body.replace(root, human))
    assert edited.version == 2

    bench.command("/timeline", "mitigation Rolled back deploy 4812", user=BOB)
    logged(bench, "Rolled back deploy 4812")
    generate(bench, count=2)
    page = the_page(confluence, version=3)
    assert page.version == edited.version + 1  # one new version, on top of theirs
    assert "The deploy skipped the canary &amp; nobody noticed." in page.body  # kept
    assert "Rolled back deploy 4812" in section(page.body, "Timeline")  # refreshed
    assert section(page.body, "Lessons learned") == section(first.body, "Lessons learned")
    assert [p.id for p in postmortem_pages(confluence)] == [first.id]  # still one page
    assert page.last_updated_by == confluence.bot.account_id
    validate_storage(page.body)
    published_as(bench, 2)


def test_hostile_text_makes_a_valid_page(bench: Bench, confluence: FakeConfluence) -> None:
    title = "Cart <script> & ]]> 💥 totals"
    declare(bench, '"Cart &lt;script&gt; &amp; ]]&gt; 💥 totals" sev1')
    # what Slack sends for what was typed: <, > and & escaped
    typed = "a &lt; b &amp;&amp; c ]]&gt; d &lt;![CDATA[ x ]]&gt; 🎉 `]]&gt;` done"
    bench.command("/timeline", f"note {typed}", user=BOB)
    logged(bench, "CDATA")
    generate(bench)
    page = the_page(confluence)
    validate_storage(page.body)
    assert page.title == f"INC-1: {title} — postmortem"
    assert "sev1" in page.labels
    timeline = section(page.body, "Timeline")
    assert "a &lt; b &amp;&amp; c ]]&gt; d &lt;![CDATA[ x ]]&gt; 🎉" in timeline
    assert "<code>]]&gt;</code>" in timeline
    assert "<script>" not in page.body and "Cart &lt;script&gt; &amp; ]]&gt; 💥" in page.body


def test_a_private_incident_gets_a_page_only_its_people_can_read(
    bench: Bench, confluence: FakeConfluence
) -> None:
    alice = confluence.add_account(
        "712020:alice-0000", "alice@example.com", "Alice Ops", api_token="alice-token"
    )
    declare(bench, channel=PRIVATE_CHANNEL)
    generate(bench, channel=PRIVATE_CHANNEL)
    saved = published_as(bench, 1)
    assert saved.confluence_page_id is not None
    page = confluence.page(saved.confluence_page_id)
    [create] = confluence.calls_to("POST", r"/api/v2/pages$")
    assert create.query.get("private") == ["true"]  # private from its first moment
    assert set(page.restrictions.read_users) == {confluence.bot.account_id, alice.account_id}
    assert set(page.restrictions.update_users) == set(page.restrictions.read_users)

    def status_for(account: Any) -> int:
        url = f"{confluence.site_url}/api/v2/pages/{page.id}"
        return requests.get(url, headers=confluence.auth_headers(account), timeout=5).status_code

    assert status_for(alice) == 200
    assert status_for(confluence.person) == 404  # the rest of the space can't see it


def test_confluence_down_then_published_later_once(
    bench: Bench, confluence: FakeConfluence
) -> None:
    declare(bench)
    confluence.go_down()
    response_url = generate(bench)
    assert versions(bench) == [1]  # generated and saved while Confluence is away
    told = bench.ephemeral_reply(response_url, timeout=10)
    assert "not in Confluence yet" in told["text"] and "could not be reached" in told["text"]
    confluence.come_back()
    page = the_page(confluence)
    published_as(bench, 1)
    assert len(confluence.calls_to("POST", r"/api/v2/pages$")) == 1
    assert [p.id for p in postmortem_pages(confluence)] == [page.id]


def test_a_409_on_update_is_retried_on_the_fresh_version(
    bench: Bench, confluence: FakeConfluence
) -> None:
    declare(bench)
    generate(bench)
    first = the_page(confluence)
    published_as(bench, 1)
    confluence.reset_calls()
    confluence.fail_next(409, method="PUT", path=r"/api/v2/pages/\d+$")
    bench.command("/timeline", "decision Freeze deploys until Monday", user=BOB)
    logged(bench, "Freeze deploys until Monday")
    generate(bench, count=2)
    published_as(bench, 2)
    puts = confluence.calls_to("PUT", r"/api/v2/pages/\d+$")
    assert [c.status for c in puts] == [409, 200]
    reads = confluence.calls_to("GET", rf"/api/v2/pages/{first.id}$")
    assert len(reads) >= 2  # read again after the 409
    page = confluence.page(first.id)
    assert page.version == 2 and "Freeze deploys until Monday" in page.body


def test_a_429_with_retry_after_is_waited_out(bench: Bench, confluence: FakeConfluence) -> None:
    declare(bench)
    confluence.fail_next(429, method="POST", path=r"/api/v2/pages$", retry_after=1)
    generate(bench)
    the_page(confluence)
    assert [c.status for c in confluence.calls_to("POST", r"/api/v2/pages$")] == [429, 200]
    published_as(bench, 1)


def test_status_changes_update_the_page_properties(
    bench: Bench, confluence: FakeConfluence
) -> None:
    declare(bench)
    generate(bench)
    first = the_page(confluence)
    published_as(bench, 1)
    bench.command("/postmortem", "status in-review")
    page = the_page(confluence, version=2)
    assert "<th><p>Postmortem status</p></th><td><p>In Review</p></td>" in page.body
    assert section(page.body, "Timeline") == section(first.body, "Timeline")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("credentials", "refused the bot's credentials (401)"),
        ("permission", "add pages (and restrictions) in space OPS"),
        ("space", "no space NOPE"),
    ],
)
def test_what_is_wrong_with_confluence_is_said_and_nothing_is_lost(
    slack: FakeSlack,
    db: Database,
    confluence: FakeConfluence,
    breakage: str,
    reason: str,
) -> None:
    overrides: dict[str, Any] = {}
    if breakage == "credentials":
        overrides["confluence_api_token"] = "wrong"
    if breakage == "space":
        overrides["confluence_space"] = "NOPE"
    if breakage == "permission":
        confluence.set_space_permission("OPS", add_page=False)
    settings = confluence_settings(confluence, **overrides)
    with running_bench(slack, db, deliver_events=True, **settings) as bench:
        declare(bench)
        response_url = generate(bench)
        told = eventually(
            lambda: [
                p for p in bench.slack.response_posts(response_url) if reason in p.get("text", "")
            ],
            what=f"a private reply saying {reason!r}",
        )
        assert "generated and saved" in told[0]["text"]
        assert versions(bench) == [1]  # the postmortem is kept in the database
        assert postmortem_pages(confluence) == []
