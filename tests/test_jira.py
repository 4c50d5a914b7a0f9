"""Jira export and two-way sync, end to end: the real bot over signed HTTP, the real `jira`
client (max_retries=0) against a stateful fake of Jira's REST API on 127.0.0.1."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.jira.flows import JiraSync
from bot.slack.workspaces import SingleWorkspace
from sandbox.harness import sandbox_settings
from sandbox.jira.fake import FakeJira
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import FollowUp, FollowUpStatus, JiraExportState, JiraLink
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, Bench, running_bench
from tests.test_followups import (
    NOW,
    Clock,
    actions_block,
    announcement_of,
    changes,
    click,
    current,
    declare,
    followup,
    posted,
    thread_notes,
)

SECRET = "jira-webhook-secret"
JIRA_EMAIL, JIRA_TOKEN = "bot@acme.test", "jira-api-token"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(email=JIRA_EMAIL, api_token=JIRA_TOKEN, project_key="OPS") as fake:
        fake.add_user("acc-alice", "alice@example.com", "Alice Ops")
        fake.add_user("acc-carol", "carol@example.com", "Carol SRE")
        yield fake  # Bob has no Jira account


def jira_settings(jira: FakeJira, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "jira_url": jira.url,
        "jira_email": JIRA_EMAIL,
        "jira_api_token": JIRA_TOKEN,
        "jira_project": "OPS",
        "jira_webhook_secret": SECRET,
        "jira_max_retries": 0,
        "jira_timeout_seconds": 5,
    }
    values.update(overrides)
    return values


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def jbench(slack: FakeSlack, db: Database, jira: FakeJira, clock: Clock) -> Iterator[Bench]:
    with running_bench(slack, db, clock=clock, **jira_settings(jira)) as bench:
        yield bench


def sync_service(bench: Bench, jira: FakeJira, clock: Clock) -> JiraSync:
    """The scheduler's Jira job, built from the same production parts as the running bot."""
    settings = sandbox_settings(bench.slack, bench.db.url, **jira_settings(jira))
    client = WebClient(token=bench.slack.bot_token, base_url=bench.slack.api_url)
    return JiraSync(settings, bench.db, SingleWorkspace(client), clock)


def link_of(bench: Bench, item: FollowUp) -> JiraLink:
    with bench.db.session() as session:
        link = session.scalars(select(JiraLink).where(JiraLink.follow_up_id == item.id)).one()
        session.expunge(link)
        return link


def export(bench: Bench, text: str, user: str = ALICE) -> str:
    """`/followup export ...`: the ack says the export started (Jira is never called before the
    ack); the result comes privately through the response_url once Jira has answered."""
    reply, response_url = bench.command("/followup", f"export {text}", user=user)
    started = reply.json()
    assert reply.status == 200 and started.get("response_type") == "ephemeral"
    if not str(started["text"]).startswith("Exporting"):
        return str(started["text"])  # nothing to export: answered at once
    answer = bench.ephemeral_reply(response_url, timeout=10)
    assert answer.get("response_type") == "ephemeral"
    return str(answer["text"])


def deliver(bench: Bench, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        bench.url + "/jira/webhook",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def signed(body: bytes, identifier: str) -> dict[str, str]:
    return {
        "X-Hub-Signature": FakeJira.sign(body, SECRET),
        "X-Atlassian-Webhook-Identifier": identifier,
    }


def wait_for(check: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- export ----------------------------------------------------------------------------------


def test_export_creates_the_issue_and_links_it_everywhere(jbench: Bench, jira: FakeJira) -> None:
    bench = jbench
    declare(bench)
    # Slack escapes &, < and > in command text
    item = followup(bench, "Add alerting on &lt;queue&gt; depth <@U0ALICE|alice> due 2026-12-01 p2")
    # The announcement offers the export while the follow-up has no Jira issue.
    first = bench.slack.calls_to("chat.postMessage")[-1]
    assert "Export to Jira" in json.dumps(first.params["blocks"])

    answer = export(bench, "F1")
    assert f"Exported INC-1-F1 to Jira: <{jira.url}/browse/OPS-1|OPS-1>" in answer
    [issue] = jira.issues()
    fields = issue["fields"]
    assert fields["summary"] == "Add alerting on <queue> depth"
    assert {"incident", "INC-1"} <= set(fields["labels"])
    assert fields["duedate"] == "2026-12-01"
    assert fields["priority"]["name"] == "High"
    assert fields["assignee"]["accountId"] == "acc-alice"
    assert item.announcement_permalink and item.announcement_permalink in fields["description"]
    assert "INC-1" in fields["description"] and "Checkout is down" in fields["description"]

    link = link_of(bench, item)
    assert (link.state, link.issue_key, link.status_name) == (
        JiraExportState.EXPORTED,
        "OPS-1",
        "To Do",
    )
    # The announcement shows the link (and no more export button); the thread says so.
    update = wait_for(lambda: bench.slack.calls_to("chat.update"), "announcement refresh")[-1]
    assert "OPS-1" in posted(update) and "Export to Jira" not in posted(update)
    assert any("Exported to Jira" in n for n in thread_notes(bench, item, 1))
    # `/followup list` shows it too
    listing = bench.reply_to("/followup", "list")
    assert "OPS-1" in json.dumps(listing)


def test_repeated_and_retried_exports_never_make_a_second_issue(
    jbench: Bench, jira: FakeJira
) -> None:
    bench = jbench
    declare(bench)
    followup(bench, "Rotate the leaked key <@U0CAROL|carol>")
    # Jira creates the issue, but the bot never learns the key (the read after create fails,
    # as when an answer is lost): the export is marked failed.
    jira.fail("GET", r"/rest/api/2/issue/OPS-1$", 503)
    answer = export(bench, "INC-1-F1")
    assert "was not exported" in answer and "retried automatically" in answer
    assert len(jira.issues()) == 1
    # The retry finds the issue by its marker label instead of creating another.
    answer = export(bench, "F1")
    assert "Exported INC-1-F1 to Jira" in answer and "OPS-1" in answer
    assert export(bench, "F1").startswith("INC-1-F1 is already in Jira")
    assert "already in Jira" in export(bench, "all")
    assert [i["key"] for i in jira.issues()] == ["OPS-1"]
    assert len(jira.calls_to("POST", r"/rest/api/2/issue$")) == 1


def test_owner_without_a_jira_account_leaves_it_unassigned_with_a_note(
    jbench: Bench, jira: FakeJira
) -> None:
    bench = jbench
    declare(bench)
    followup(bench, "Document the failover <@U0BOB|bob>")
    followup(bench, "Nobody owns this yet")
    answer = export(bench, "all")
    assert "bob@example.com" in answer and "no Jira account" in answer
    assert "No owner in Slack yet" in answer
    first, second = jira.issues()
    assert first["fields"].get("assignee") is None and second["fields"].get("assignee") is None
    assert "no Jira account" in first["fields"]["description"]


def test_export_button_and_auto_export(
    slack: FakeSlack, db: Database, jira: FakeJira, clock: Clock
) -> None:
    with running_bench(slack, db, clock=clock, **jira_settings(jira)) as bench:
        declare(bench)
        item = followup(bench, "Add a runbook link <@U0ALICE|alice>")
        message = announcement_of(bench, item)
        [button] = [
            e for e in actions_block(message)["elements"] if e.get("action_id") == "followup_export"
        ]
        url = slack.new_response_url()
        click(bench, item, "followup_export", button["value"], response_url=url)
        reply = bench.ephemeral_reply(url)
        assert "Exported INC-1-F1 to Jira" in reply["text"]
    assert [i["key"] for i in jira.issues()] == ["OPS-1"]

    with running_bench(slack, db, clock=clock, **jira_settings(jira, jira_auto_export=True)) as b:
        later = followup(b, "Load-test the new pool <@U0CAROL|carol>")
        wait_for(lambda: len(jira.issues()) == 2, "the automatic export")
        assert wait_for(
            lambda: link_of(b, later).state is JiraExportState.EXPORTED, "the stored link"
        )
        assert jira.issue("OPS-2")["fields"]["assignee"]["accountId"] == "acc-carol"


def test_without_jira_the_export_command_explains_how_to_set_it_up(bench: Bench) -> None:
    declare(bench)
    followup(bench, "Something to track")
    answer = bench.reply_to("/followup", "export F1")
    assert "Jira isn't set up" in answer["text"] and "JIRA_URL" in answer["text"]
    message = bench.slack.messages(INCIDENT_CHANNEL)[-1]
    assert "Export to Jira" not in json.dumps(message.get("blocks", []))


# -- failures --------------------------------------------------------------------------------


def test_outage_then_recovery_loses_nothing(jbench: Bench, jira: FakeJira, clock: Clock) -> None:
    bench = jbench
    declare(bench)
    item = followup(bench, "Add a circuit breaker <@U0ALICE|alice>")
    jira.go_down()
    answer = export(bench, "F1")
    assert "could not be reached" in answer and "retried automatically" in answer
    link = link_of(bench, item)
    assert link.state is JiraExportState.FAILED and link.attempts == 1
    assert link.next_attempt_at == NOW + timedelta(minutes=1)
    update = wait_for(lambda: bench.slack.calls_to("chat.update"), "the failure shown")[-1]
    assert "export failed" in posted(update) and "Retry Jira export" in posted(update)
    assert current(bench, item).status is FollowUpStatus.OPEN  # the follow-up is intact

    sync = sync_service(bench, jira, clock)
    clock.now = NOW + timedelta(minutes=2)
    report = sync.sync_now()  # still down: a second failure, a longer wait
    assert report.export_failures == ["INC-1-F1"]
    assert link_of(bench, item).next_attempt_at == clock.now + timedelta(minutes=2)

    jira.come_back()
    clock.now += timedelta(minutes=1)
    assert sync.sync_now().export_failures == []  # not due yet: nothing was tried
    clock.now += timedelta(minutes=2)
    report = sync.sync_now()
    assert report.exported == ["INC-1-F1"]
    assert [i["key"] for i in jira.issues()] == ["OPS-1"]
    assert link_of(bench, item).state is JiraExportState.EXPORTED


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, None, "refused the bot's credentials (401)"),
        (429, None, "rate-limiting"),
        (500, None, "internal error (500)"),
        (
            400,
            {"errorMessages": [], "errors": {"duedate": "Due date is required for Task."}},
            "duedate: Due date is required for Task.",
        ),
    ],
)
def test_jira_errors_are_explained_and_retried(
    jbench: Bench, jira: FakeJira, status: int, body: dict[str, Any] | None, expected: str
) -> None:
    bench = jbench
    declare(bench)
    item = followup(bench, "Cap the retry storm")
    jira.fail("POST", r"/rest/api/2/issue$", status, body=body)
    answer = export(bench, "F1")
    assert expected in answer and "retried automatically" in answer
    link = link_of(bench, item)
    assert link.state is JiraExportState.FAILED and expected in (link.last_error or "")
    assert jira.issues() == []
    assert "Exported INC-1-F1" in export(bench, "F1")  # Jira is fine again


def test_wrong_credentials_are_reported_and_the_bot_keeps_working(
    slack: FakeSlack, db: Database, jira: FakeJira, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = jira_settings(jira, jira_api_token="wrong-token")
    settings = sandbox_settings(slack, db.url, **overrides)
    sync = JiraSync(settings, db, SingleWorkspace(WebClient()), clock)
    with caplog.at_level("ERROR", logger="postmortem_bot.jira"):
        problem = sync.startup_check()
    assert problem is not None and "401" in problem and "JIRA_API_TOKEN" in problem
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "wrong-token" not in caplog.text
    with running_bench(slack, db, clock=clock, **overrides) as bench:
        declare(bench)
        item = followup(bench, "Still works without Jira")
        assert item.number == 1
        assert "refused the bot's credentials" in export(bench, "F1")


# -- Jira → Slack ----------------------------------------------------------------------------


def exported(bench: Bench, text: str) -> FollowUp:
    item = followup(bench, text)
    assert "Exported" in export(bench, f"F{item.number}")
    bench.slack.reset_calls()
    return item


def test_webhook_verifies_signatures_and_applies_each_delivery_once(
    jbench: Bench, jira: FakeJira
) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Add a canary stage <@U0ALICE|alice>")
    jira.set_status_in_jira("OPS-1", "Done")
    body = jira.webhook_delivery("OPS-1")

    assert deliver(bench, body, {})[0] == 401  # unsigned
    bad = {"X-Hub-Signature": FakeJira.sign(body, "not-the-secret")}
    assert deliver(bench, body, bad)[0] == 401
    tampered = body.replace(b"Done", b"Dune")
    assert deliver(bench, tampered, signed(body, "id-0"))[0] == 401
    assert current(bench, item).status is FollowUpStatus.OPEN

    status, answer = deliver(bench, body, signed(body, "delivery-1"))
    assert (status, answer.get("applied")) == (200, True)
    assert current(bench, item).status is FollowUpStatus.DONE
    notes = thread_notes(bench, item, 2)
    assert any("Jira changed the status of *INC-1-F1*: open → *done*" in n for n in notes)
    # Jira retries the same delivery: answered, not applied again.
    status, answer = deliver(bench, body, signed(body, "delivery-1"))
    assert (status, answer.get("duplicate")) == (200, True)
    history = [c for c in changes(bench, item.id) if c.field.value == "status"]
    assert len(history) == 1


def test_webhook_applies_due_date_and_assignee_and_ignores_stale_deliveries(
    jbench: Bench, jira: FakeJira
) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Shorten the DNS TTL <@U0ALICE|alice> due 2026-12-01")
    jira.set_status_in_jira("OPS-1", "In Progress")
    older = jira.webhook_delivery("OPS-1")
    time.sleep(1.1)  # Jira's `updated` has millisecond precision; make the order unambiguous
    jira.set_fields_in_jira("OPS-1", duedate="2026-12-15", assignee="acc-carol")
    newer = jira.webhook_delivery("OPS-1")
    assert deliver(bench, newer, signed(newer, "d-2"))[0] == 200
    fresh = current(bench, item)
    assert (fresh.status, fresh.owner_id, fresh.due_date.isoformat()) == (
        FollowUpStatus.IN_PROGRESS,
        CAROL,
        "2026-12-15",
    )
    # The older delivery, retried late by Jira, changes nothing.
    assert deliver(bench, older, signed(older, "d-1"))[0] == 200
    assert current(bench, item).due_date.isoformat() == "2026-12-15"
    # Assigned in Jira to someone with no Slack account: said, owner kept.
    jira.add_user("acc-dora", "dora@elsewhere.test", "Dora Contractor")
    jira.set_fields_in_jira("OPS-1", assignee="acc-dora")
    body = jira.webhook_delivery("OPS-1")
    assert deliver(bench, body, signed(body, "d-3"))[0] == 200
    assert current(bench, item).owner_id == CAROL
    assert any("Dora Contractor" in n for n in thread_notes(bench, item, 4))


def test_polling_catches_what_webhooks_missed(jbench: Bench, jira: FakeJira, clock: Clock) -> None:
    bench = jbench
    declare(bench)
    items = [exported(bench, f"Fix number {n} <@U0ALICE|alice>") for n in range(1, 6)]
    jira.search_page_size = 2  # five issues: three pages
    jira.set_status_in_jira("OPS-2", "Done")
    jira.set_status_in_jira("OPS-4", "In Progress")
    jira.set_fields_in_jira("OPS-5", duedate="2027-01-10")
    jira.reset_calls()

    sync = sync_service(bench, jira, clock)
    report = sync.run_scheduled()
    assert report.polled == 5 and sorted(report.changed) == ["INC-1-F2", "INC-1-F4", "INC-1-F5"]
    assert len(jira.calls_to("GET", r"/rest/api/2/search/jql")) == 3
    statuses = [current(bench, i).status for i in items]
    assert statuses == [
        FollowUpStatus.OPEN,
        FollowUpStatus.DONE,
        FollowUpStatus.OPEN,
        FollowUpStatus.IN_PROGRESS,
        FollowUpStatus.OPEN,
    ]
    assert current(bench, items[4]).due_date.isoformat() == "2027-01-10"
    # Same slot again (another replica, or a second tick): skipped; a later slot: nothing new.
    assert sync.run_scheduled().skipped
    clock.now += timedelta(minutes=10)
    again = sync.run_scheduled()
    assert not again.skipped and again.changed == []


def test_a_due_date_changed_in_slack_is_not_reverted_by_polling(
    jbench: Bench, jira: FakeJira, clock: Clock
) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Tune the autoscaler <@U0ALICE|alice> due 2026-12-01")
    click(bench, item, "followup_due", "2026-12-20", action_type="datepicker")
    wait_for(lambda: current(bench, item).due_date.isoformat() == "2026-12-20", "the new date")
    sync_service(bench, jira, clock).sync_now()
    assert current(bench, item).due_date.isoformat() == "2026-12-20"


# -- Slack → Jira ----------------------------------------------------------------------------


def test_done_in_slack_moves_the_issue_and_reopen_moves_it_back(
    jbench: Bench, jira: FakeJira
) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Add a canary stage <@U0ALICE|alice>")
    click(bench, item, "followup_status:done", f"{item.id}:done")
    wait_for(lambda: jira.issue("OPS-1")["fields"]["status"]["name"] == "Done", "the transition")
    category = jira.issue("OPS-1")["fields"]["status"]["statusCategory"]["key"]
    assert category == "done"
    assert any("Moved OPS-1 to *Done* in Jira" in n for n in thread_notes(bench, item, 3))
    # The webhook Jira sends back for our own transition changes nothing.
    body = jira.webhook_delivery("OPS-1")
    assert deliver(bench, body, signed(body, "echo"))[0] == 200
    assert current(bench, item).status is FollowUpStatus.DONE

    click(bench, item, "followup_status:open", f"{item.id}:open")
    wait_for(
        lambda: jira.issue("OPS-1")["fields"]["status"]["statusCategory"]["key"] == "new",
        "the reopening",
    )


def test_reopen_without_a_transition_back_says_so(jbench: Bench, jira: FakeJira) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Archive the old dashboards <@U0ALICE|alice>")
    jira.remove_transitions_to("To Do")
    jira.remove_transitions_to("In Progress")
    bench.reply_to("/followup", "done F1", user=BOB)
    wait_for(lambda: jira.issue("OPS-1")["fields"]["status"]["name"] == "Done", "done in Jira")
    click(bench, item, "followup_status:open", f"{item.id}:open")
    notes = wait_for(
        lambda: [n for n in thread_notes(bench, item, 3) if "no transition" in n], "the note"
    )
    assert "change it in Jira" in notes[0]
    assert jira.issue("OPS-1")["fields"]["status"]["name"] == "Done"
    assert current(bench, item).status is FollowUpStatus.OPEN


def test_a_status_change_jira_could_not_take_is_retried(
    jbench: Bench, jira: FakeJira, clock: Clock
) -> None:
    bench = jbench
    declare(bench)
    item = exported(bench, "Add a canary stage <@U0ALICE|alice>")
    jira.fail("GET", r"/rest/api/2/issue/OPS-1/transitions$", 503)
    click(bench, item, "followup_status:done", f"{item.id}:done")
    wait_for(lambda: link_of(bench, item).push_error, "the failed push")
    assert jira.issue("OPS-1")["fields"]["status"]["name"] == "To Do"
    sync = sync_service(bench, jira, clock)
    # Polling meanwhile does not undo Slack's change...
    report = sync.sync_now()
    assert report.pushed == ["INC-1-F1"]
    assert jira.issue("OPS-1")["fields"]["status"]["name"] == "Done"
    assert current(bench, item).status is FollowUpStatus.DONE
    assert link_of(bench, item).push_status is None


def test_server_with_a_personal_access_token(slack: FakeSlack, db: Database, clock: Clock) -> None:
    """Jira Server / Data Center: Bearer token, username assignees, /search paged by startAt."""
    with FakeJira(personal_access_token="pat-123", deployment="Server") as server:
        server.add_user("alice", "alice@example.com", "Alice Ops")
        overrides = jira_settings(
            server, jira_email=None, jira_api_token=None, jira_personal_access_token="pat-123"
        )
        with running_bench(slack, db, clock=clock, **overrides) as bench:
            declare(bench)
            items = [exported(bench, f"Fix {n} <@U0ALICE|alice>") for n in range(1, 4)]
            assert server.issue("OPS-1")["fields"]["assignee"]["name"] == "alice"
            assert all(
                c.headers.get("Authorization") == "Bearer pat-123"
                for c in server.calls_to("POST", r"/rest/api/2/issue$")
            )
            server.search_page_size = 2
            server.set_status_in_jira("OPS-3", "Done")
            server.reset_calls()
            settings = sandbox_settings(slack, db.url, **overrides)
            client = WebClient(token=slack.bot_token, base_url=slack.api_url)
            report = JiraSync(settings, db, SingleWorkspace(client), clock).sync_now()
            assert report.polled == 3 and report.changed == ["INC-1-F3"]
            assert len(server.calls_to("GET", r"/rest/api/2/search$")) == 2
            assert current(bench, items[2]).status is FollowUpStatus.DONE


def test_jira_calls_are_counted_in_metrics(jbench: Bench, jira: FakeJira) -> None:
    def count(name: str, path: str) -> float:
        with urllib.request.urlopen(jbench.url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") and 'service="jira"' in line and path in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    before = count("postmortem_bot_api_calls_total", 'method="POST /rest/api/2/issue"')
    declare(jbench)
    exported(jbench, "Count me")
    after = count("postmortem_bot_api_calls_total", 'method="POST /rest/api/2/issue"')
    assert after - before == 1
