"""Every surface that renders incident content, rendered for someone not in a private
incident's channel: its title, timeline text and follow-ups appear on none of them (issue 13).

A private incident is seeded with marker words in its title, timeline, follow-up and update;
its follow-up and postmortem are owned by Carol, who is NOT in the channel (the case where a
surface for one person is most tempted to show everything). Then each surface is rendered:
App Home, `/followup list`, the reminder DM, the weekly digest, the stakeholder channel, the
status page (HTML and JSON), a public incident's postmortem (its Recurrence), the owner DM;
and, as a last net, every call the bot made to Slack whose audience is not the channel's
members. The same surfaces rendered for a member (or for Carol once invited) do show the
markers, so the test can fail.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk import WebClient

from bot.reminders.digest import send_digest
from bot.reminders.sweep import sweep
from bot.slack.client import make_web_client
from sandbox.harness import sandbox_settings
from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench, running_bench
from tests.test_privacy import declare, generate, home_of, members, timeline

# Monday Nov 23, 2026, 10:00 UTC: within working hours for Carol (UTC).
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STATUS_CHANNEL = "C0STATUS"
DIGEST_CHANNEL = "C0DIGEST"
TITLE, TIMELINE, FOLLOWUP, UPDATE = "zqtitlemark", "zqtimelinemark", "zqfollowupmark", "zqupdate"
MARKERS = (TITLE, TIMELINE, FOLLOWUP, UPDATE)


def leaked(text: str) -> list[str]:
    return [m for m in MARKERS if m in text.lower()]


@pytest.fixture
def bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    slack.add_channel("status-updates", members=[ALICE, BOB, CAROL], channel_id=STATUS_CHANNEL)
    slack.add_channel("weekly", members=[ALICE, BOB, CAROL], channel_id=DIGEST_CHANNEL)
    with running_bench(
        slack,
        db,
        clock=lambda: MON,
        deliver_events=True,
        status_updates_channel=STATUS_CHANNEL,
        reminder_digest_channel=DIGEST_CHANNEL,
    ) as running:
        yield running


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _answer(bench: Bench, command: str, text: str, user: str, channel: str) -> str:
    return json.dumps(bench.reply_to(command, text, user=user, channel=channel))


def test_a_private_incident_shows_on_no_surface_a_non_member_can_see(bench: Bench) -> None:
    slack = bench.slack
    # the private incident (Alice and Bob are in its channel; Carol is not)
    declare(bench, PRIVATE_CHANNEL, f"Vault keys breach {TITLE} sev1")
    timeline(bench, PRIVATE_CHANNEL, f"vault keys rotated after {TIMELINE}")
    bench.command(
        "/followup",
        f"Rotate vault keys {FOLLOWUP} <@{CAROL}|carol> due 2026-11-24",
        channel=PRIVATE_CHANNEL,
    )
    refused = _answer(bench, "/incident", f"update {UPDATE} vault --public", ALICE, PRIVATE_CHANNEL)
    assert "not shared" in refused or "private" in refused
    bench.command("/incident", "resolved", channel=PRIVATE_CHANNEL)
    private_doc = generate(bench, PRIVATE_CHANNEL)
    bench.command("/postmortem", f"owner <@{CAROL}|carol>", channel=PRIVATE_CHANNEL)
    # a public incident like it, with its own public update and postmortem
    declare(bench, INCIDENT_CHANNEL, "Vault keys breach again sev2")
    timeline(bench, INCIDENT_CHANNEL, "vault keys rotated again")
    bench.command("/incident", "update vault keys rotated --public", channel=INCIDENT_CHANNEL)
    public_doc = generate(bench, INCIDENT_CHANNEL)
    eventually(lambda: slack.dm_channel_id(CAROL), what="the owner DM")

    # In its own channel (members only) the postmortem has everything: the markers are real.
    assert {TITLE, TIMELINE, FOLLOWUP} <= set(leaked(private_doc))

    surfaces: dict[str, str] = {}
    surfaces["App Home"] = home_of(bench, CAROL)
    surfaces["/followup list mine"] = _answer(
        bench, "/followup", "list mine", CAROL, INCIDENT_CHANNEL
    )
    surfaces["/followup list all"] = _answer(bench, "/followup", "list all", CAROL, STATUS_CHANNEL)
    surfaces["/followup list overdue"] = _answer(
        bench, "/followup", "list overdue", CAROL, STATUS_CHANNEL
    )
    settings = sandbox_settings(slack, bench.db.url, reminder_digest_channel=DIGEST_CHANNEL)
    client: WebClient = make_web_client(settings)
    report = sweep(bench.db, client, settings, MON)
    assert CAROL in {d.recipient_id for d in report.sent}  # she was reminded...
    surfaces["reminder DM"] = json.dumps(slack.messages(str(slack.dm_channel_id(CAROL))))
    assert send_digest(bench.db, client, settings, MON)
    surfaces["weekly digest"] = json.dumps(slack.messages(DIGEST_CHANNEL))
    surfaces["stakeholder channel"] = json.dumps(slack.messages(STATUS_CHANNEL))
    surfaces["status page"] = _get(bench.url + "/status")
    surfaces["status.json"] = _get(bench.url + "/status.json")
    surfaces["public postmortem"] = public_doc

    for name, text in surfaces.items():
        assert leaked(text) == [], f"{name} shows a private incident to a non-member: {text}"
    assert "INC-1-F1" in surfaces["App Home"]  # ...about the follow-up, by its key only
    assert "INC-1-F1" in surfaces["reminder DM"] and "INC-1" in surfaces["/followup list mine"]
    assert "vault keys rotated" in surfaces["status.json"]  # the public update is there

    # The last net: every call the bot made to Slack, unless its audience is the channel's.
    dms = {slack.dm_channel_id(u) for u in (ALICE, BOB)} - {None}
    members_only = {PRIVATE_CHANNEL, ALICE, BOB, *dms}
    checked = 0
    for call in slack.calls:
        if call.method.startswith("canvases."):
            continue  # canvases are checked above, by the channel each is shared with
        audience = call.params.get("channel") or call.params.get("channel_id")
        audience = audience or call.params.get("user_id")
        if audience in members_only:
            continue
        checked += 1
        assert leaked(json.dumps(call.params)) == [], (call.method, call.params)
    print(f"\nprivacy: {len(surfaces)} surfaces and {checked} Slack calls checked, 0 leaks")

    # A member sees it all: Alice's team-wide list, and Carol once she is invited.
    alice_list = _answer(bench, "/followup", "list", ALICE, PRIVATE_CHANNEL)
    assert FOLLOWUP in alice_list.lower()
    slack.join_channel(PRIVATE_CHANNEL, CAROL, inviter=ALICE)
    eventually(lambda: CAROL in members(bench, PRIVATE_CHANNEL), what="Carol recorded")
    home = home_of(bench, CAROL).lower()
    assert TITLE in home and FOLLOWUP in home
    mine = _answer(bench, "/followup", "list mine", CAROL, INCIDENT_CHANNEL).lower()
    assert FOLLOWUP in mine
