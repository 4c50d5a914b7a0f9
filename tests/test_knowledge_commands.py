"""`/incident list`, `/incident search` and the tag commands end to end: signed HTTP → the real
Bolt app → the Slack fake (users.conversations for who is in which private channel)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.incidents.service import Workspace, change_status, declare_incident
from bot.knowledge.access import forget_memberships
from bot.knowledge.blocks import PAGE_NEXT, PAGE_PREVIOUS
from bot.timeline.service import record_event
from storage.models import EventKind, Incident, IncidentStatus, IncidentTag, TimelineEvent
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench, record_members

NOW = datetime.now(UTC)
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_memberships() -> Iterator[None]:
    forget_memberships()
    yield
    forget_memberships()


def seed(
    bench: Bench,
    title: str,
    notes: list[str],
    *,
    channel: str | None = None,
    days_ago: int = 10,
    private: bool = False,
    resolved: bool = True,
) -> str:
    """An incident as earlier work left it (declared, noted, resolved), in its own channel."""
    if channel is None:
        channel = bench.slack.add_channel(f"inc-{next(_names)}")["id"]
    at = NOW - timedelta(days=days_ago)
    with bench.db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(bench.slack.team_id),
            channel_id=channel,
            channel_private=private,
            commander_id=BOB,
            title=title,
            severity=None,
            now=at,
        )
        for note in notes:
            record_event(
                session,
                incident,
                kind=EventKind.NOTE,
                text=note,
                author_id=BOB,
                occurred_at=at,
                now=at,
            )
        if resolved:
            change_status(session, incident, IncidentStatus.RESOLVED, by=BOB, now=at)
        key = incident.key
    if private:
        record_members(bench.db, bench.slack, [channel])
    return key


def declare(bench: Bench, text: str) -> None:
    reply, _ = bench.command("/incident", f"declare {text}")
    assert reply.status == 200
    bench.slack.wait_for("chat.postMessage")


def answer(bench: Bench, text: str, **kwargs: Any) -> dict[str, Any]:
    """The private answer (how fast it comes is bench/search.py's to measure, not a test's)."""
    return bench.reply_to("/incident", text, **kwargs)


def shown(message: dict[str, Any]) -> str:
    return message.get("text", "") + json.dumps(message.get("blocks", []))


def keys_in(message: dict[str, Any]) -> list[str]:
    keys = []
    for block in message.get("blocks", []):
        text = (block.get("text") or {}).get("text", "")
        if text.startswith("*INC-"):
            keys.append(text[1:].split("*", 1)[0])
    return keys


def pager(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for block in message.get("blocks", []):
        if block["type"] == "actions" and block.get("block_id") == "knowledge_pager":
            return {e["action_id"]: e for e in block["elements"]}
    return {}


def click(bench: Bench, button: dict[str, Any], *, user: str = ALICE) -> dict[str, Any]:
    url = bench.slack.new_response_url()
    reply = bench.requests.block_action(
        button["action_id"],
        button["value"],
        user_id=user,
        channel_id=INCIDENT_CHANNEL,
        message={"ts": "1700000000.000100", "blocks": []},
        block_id="knowledge_pager",
        response_url=url,
    )
    assert reply.status == 200
    return bench.ephemeral_reply(url)


def test_search_ranks_best_match_first_and_pages_with_buttons(bench: Bench) -> None:
    for n in range(7):
        seed(bench, f"Checkout slow {n}", [f"redis latency seen once in run {n}"], days_ago=20 + n)
    best = seed(
        bench,
        "Redis failover broke sessions",
        ["redis primary failed over", "redis sentinel flapped", "redis latency"],
        days_ago=40,
    )
    seed(bench, "Unrelated DNS outage", ["dns resolver down"], days_ago=5)

    first = answer(bench, "search redis latency")
    assert first["response_type"] == "ephemeral"
    assert "8 incidents" in first["text"] and "1–5 of 8" in first["text"]
    keys = keys_in(first)
    assert keys[0] == best and len(keys) == 5
    assert "*redis*" in shown(first).lower()  # the matched word, bolded in a snippet
    buttons = pager(first)
    assert set(buttons) == {PAGE_NEXT}

    second = click(bench, buttons[PAGE_NEXT])
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert "6–8 of 8" in second["text"]
    rest = keys_in(second)
    assert len(rest) == 3 and not set(rest) & set(keys)
    assert set(pager(second)) == {PAGE_PREVIOUS}
    back = click(bench, pager(second)[PAGE_PREVIOUS])
    assert keys_in(back) == keys


def test_each_hit_links_its_channel_and_says_if_there_is_a_postmortem(bench: Bench) -> None:
    channel = bench.slack.add_channel("inc-payments")["id"]
    key = seed(bench, "Payments webhook backlog", ["stripe webhooks queued"], channel=channel)
    found = answer(bench, "search webhook")
    assert keys_in(found) == [key]
    assert f"<#{channel}>" in shown(found) and "no postmortem yet" in shown(found)


def test_private_incidents_are_shown_only_to_their_members(bench: Bench) -> None:
    secret = seed(
        bench,
        "Credentials leaked in logs",
        ["rotated credentials"],
        channel=PRIVATE_CHANNEL,
        private=True,
    )
    public = seed(bench, "Credentials page slow", ["credentials cache cold"])
    # Carol is not in the private channel: neither search nor list nor tagging shows it.
    assert keys_in(answer(bench, "search credentials", user=CAROL)) == [public]
    assert secret not in keys_in(answer(bench, "list", user=CAROL))
    refused = answer(bench, f"tag {secret} leak", user=CAROL)
    assert f"can't find {secret}" in refused["text"]
    assert "Credentials leaked" not in shown(refused)
    # Alice is a member (Slack's users.conversations says so): she sees both.
    assert set(keys_in(answer(bench, "search credentials", user=ALICE))) == {secret, public}
    assert secret in keys_in(answer(bench, "list resolved", user=BOB))
    with bench.db.session() as session:
        assert session.scalars(select(IncidentTag)).all() == []


def test_list_filters_open_mine_severity_and_tag(bench: Bench) -> None:
    old = seed(bench, "Old resolved thing", [], days_ago=60)
    live = seed(bench, "Live thing", [], days_ago=1, resolved=False)
    assert keys_in(answer(bench, "list open")) == [live]
    assert keys_in(answer(bench, "list recent")) == [live]
    assert keys_in(answer(bench, "list")) == [live, old]
    assert keys_in(answer(bench, "list mine", user=BOB)) == [live, old]  # Bob commanded both
    assert keys_in(answer(bench, "list mine", user=CAROL)) == []
    assert keys_in(answer(bench, "list sev1")) == []
    assert keys_in(answer(bench, "list sev3 resolved")) == [old]
    answer(bench, f"tag {old} Database,#payments")
    assert keys_in(answer(bench, "list tag:database")) == [old]


def test_tagging_confirms_writes_the_timeline_and_feeds_search(bench: Bench) -> None:
    declare(bench, "Checkout errors sev2")
    confirmed = answer(bench, "tag Database, payments")
    assert "Tagged INC-1 `database`, `payments`" in confirmed["text"]
    again = answer(bench, "tag database")
    assert "already had `database`" in again["text"]
    assert "`database`, `payments`" in answer(bench, "tag")["text"]
    assert "`database` (1)" in answer(bench, "tags")["text"]
    found = answer(bench, "search checkout tag:payments")
    assert keys_in(found) == ["INC-1"]
    removed = answer(bench, "untag payments")
    assert "Removed `payments` from INC-1" in removed["text"]
    assert keys_in(answer(bench, "search checkout tag:payments")) == []
    with bench.db.session() as session:
        texts = session.scalars(select(TimelineEvent.text).order_by(TimelineEvent.id)).all()
        assert "Tagged database, payments" in texts and "Untagged payments" in texts


def test_bad_input_is_refused_clearly_and_saves_nothing(bench: Bench) -> None:
    declare(bench, "Checkout errors")
    assert "isn't a tag" in answer(bench, "tag <!channel>")["text"]
    assert "isn't a tag" in answer(bench, "tag " + "x" * 41)["text"]
    assert "can't list by `nonsense`" in answer(bench, "list nonsense")["text"]
    assert "What should I search for?" in answer(bench, "search")["text"]
    assert "words to search for" in answer(bench, "search ***")["text"]
    assert "keep it under" in answer(bench, "search " + "a " * 300)["text"]
    assert "no incident" in answer(bench, "tag db", channel=PRIVATE_CHANNEL)["text"]
    with bench.db.session() as session:
        assert session.scalars(select(IncidentTag)).all() == []
        assert session.scalar(select(Incident).where(Incident.number == 1)) is not None


def test_snippets_cannot_ping_or_break_formatting(bench: Bench) -> None:
    seed(bench, "Pager storm <!channel>", ["<!here> *bold* `code` <!channel> redis is down"])
    found = answer(bench, "search redis")
    text = shown(found)
    assert "<!channel>" not in text and "<!here>" not in text
    for block in found["blocks"]:
        mrkdwn = (block.get("text") or {}).get("text", "")
        assert "@channel" not in mrkdwn and "@here" not in mrkdwn
        assert "`code`" not in mrkdwn


def test_a_forged_page_button_is_refused_and_still_filtered(bench: Bench) -> None:
    seed(bench, "Secret thing", ["hidden words"], channel=PRIVATE_CHANNEL, private=True)
    forged = {"action_id": PAGE_NEXT, "value": json.dumps({"k": "s", "t": "hidden", "o": -5})}
    assert "No incident you can see" in click(bench, forged, user=CAROL)["text"]
    garbage = {"action_id": PAGE_NEXT, "value": "not json"}
    assert "out of date" in click(bench, garbage)["text"]


def test_what_was_just_logged_is_found_at_once(bench: Bench) -> None:
    declare(bench, "Checkout errors")
    assert keys_in(answer(bench, "search flamingo")) == []  # indexed now, without the word
    reply, _ = bench.command("/timeline", "flamingo deploy rolled back")
    assert reply.status == 200
    assert keys_in(answer(bench, "search flamingo")) == ["INC-1"]
    with bench.db.session() as session:
        event = session.scalars(
            select(TimelineEvent).where(TimelineEvent.text.contains("flamingo"))
        ).one()
        event.text, event.edited_at = "pelican deploy rolled back", datetime.now(UTC)
    assert keys_in(answer(bench, "search pelican")) == ["INC-1"]
    assert keys_in(answer(bench, "search flamingo")) == []


def test_when_slack_does_not_say_the_recorded_members_decide_at_once(bench: Bench) -> None:
    secret = seed(
        bench, "Vault sealed", ["vault unseal keys"], channel=PRIVATE_CHANNEL, private=True
    )
    # Slack's 429 asks to wait 30 s: the answer can't wait, so it comes at once, and the
    # members the bot recorded from the channel's events decide.
    bench.slack.rate_limit("users.conversations", retry_after=30)
    started = time.monotonic()
    assert keys_in(answer(bench, "search vault", user=ALICE)) == [secret]
    assert time.monotonic() - started < 20  # not Slack's 30 s Retry-After
    bench.slack.rate_limit("users.conversations", retry_after=30)
    assert keys_in(answer(bench, "search vault", user=CAROL)) == []  # not a member
