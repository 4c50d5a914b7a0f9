"""`/incident` end to end: signed HTTP requests → the real Bolt app → the Slack fake."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from sandbox.slack.signed_requests import sign
from storage.models import EventKind, Incident, IncidentStatus, Severity, TimelineEvent
from tests.bench import (
    ALICE,
    BOB,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    QUIET_CHANNEL,
    SECRET_CHANNEL,
    SIGNING_SECRET,
    Bench,
)


def _posted_text(call_params: dict[str, Any]) -> str:
    return call_params.get("text", "") + json.dumps(call_params.get("blocks", []))


def _incidents(bench: Bench) -> list[Incident]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.number)))


def test_declare_posts_the_announcement_and_stores_the_incident(bench: Bench) -> None:
    reply, _ = bench.command("/incident", "declare Checkout returns 500s sev2")
    assert reply.status == 200
    [post] = bench.slack.wait_for("chat.postMessage")
    assert post.params["channel"] == INCIDENT_CHANNEL
    assert "INC-1" in post.params["text"] and "Checkout returns 500s" in post.params["text"]
    header = post.params["blocks"][0]
    assert header["type"] == "header" and header["text"]["text"].endswith(
        "INC-1: Checkout returns 500s"
    )
    assert f"<@{ALICE}>" in _posted_text(post.params)  # commander shown
    [incident] = _incidents(bench)
    assert (incident.key, incident.severity, incident.status) == (
        "INC-1",
        Severity.SEV2,
        IncidentStatus.ACTIVE,
    )
    assert incident.commander_id == ALICE and incident.channel_private is False
    assert incident.team_id == bench.slack.team_id
    # the announcement really is in the channel's history
    assert any("INC-1" in m.get("text", "") for m in bench.slack.messages(INCIDENT_CHANNEL))


def test_declaration_is_acknowledged_fast(bench: Bench) -> None:
    reply, _ = bench.command("/incident", "declare Latency spike")
    assert reply.status == 200
    assert reply.seconds < 2.5, f"ack took {reply.seconds:.2f}s; Slack gives up at 3s"


def test_unsigned_stale_and_forged_requests_get_401(bench: Bench) -> None:
    body = b"command=%2Fincident&text=declare+x&team_id=T0001&channel_id=C0INCIDENT&user_id=U0ALICE"
    form = "application/x-www-form-urlencoded"
    unsigned = bench.requests.post(body, form, signed=False)
    stale_ts = int(time.time()) - 600
    stale = bench.requests.post(
        body, form, timestamp=stale_ts, signature=sign(SIGNING_SECRET, str(stale_ts), body)
    )
    forged = bench.requests.post(
        body, form, signature=sign("not-the-secret", str(int(time.time())), body)
    )
    assert (unsigned.status, stale.status, forged.status) == (401, 401, 401)
    assert _incidents(bench) == []
    assert bench.slack.calls_to("chat.postMessage") == []


def test_help_and_empty_text_answer_with_usage(bench: Bench) -> None:
    for text in ("help", ""):
        reply = bench.reply_to("/incident", text)
        assert reply["response_type"] == "ephemeral"
        assert "/incident declare <title>" in reply["text"]


def test_mistakes_get_ephemeral_explanations(bench: Bench) -> None:
    cases = {
        "declare": "Give the incident a title",
        "severity sev7": "sev1 (worst) to sev5",
        "launch rockets": "I don't know `/incident launch`",
        "mitigated": "no open incident",
        "status": "no open incident",
    }
    for text, expected in cases.items():
        # 200 every time: a listener error right after ack() must not leave Bolt waiting
        reply = bench.reply_to("/incident", text)
        assert reply["response_type"] == "ephemeral", text
        assert expected in reply["text"], (text, reply["text"])
    assert bench.slack.calls_to("chat.postMessage") == []


def test_second_declare_in_the_same_channel_is_refused(bench: Bench) -> None:
    bench.command("/incident", "declare First problem")
    bench.slack.wait_for("chat.postMessage")
    reply = bench.reply_to("/incident", "declare Second problem", user=BOB)
    assert "already has an open incident: *INC-1*" in reply["text"]
    assert [i.title for i in _incidents(bench)] == ["First problem"]


def test_status_severity_mitigated_resolved_flow(bench: Bench) -> None:
    bench.command("/incident", "declare Queue backlog")
    bench.slack.wait_for("chat.postMessage")

    bench.command("/incident", "severity sev1", user=BOB)
    bench.slack.wait_for("chat.postMessage", 2)
    bench.command("/incident", "mitigated", user=BOB)
    bench.slack.wait_for("chat.postMessage", 3)
    summary = bench.reply_to("/incident", "status")
    assert summary["response_type"] == "ephemeral"
    assert "mitigated" in json.dumps(summary["blocks"]) and "SEV1" in json.dumps(summary["blocks"])
    bench.command("/incident", "resolved")
    posts = bench.slack.wait_for("chat.postMessage", 4)

    texts = [p.params["text"] for p in posts[1:]]
    assert "SEV3 to *SEV1*" in texts[0] and f"<@{BOB}>" in texts[0]
    assert "is now *mitigated*" in texts[1]
    assert "is now *resolved*" in texts[2]
    [incident] = _incidents(bench)
    assert incident.status is IncidentStatus.RESOLVED and incident.severity is Severity.SEV1
    with bench.db.session() as session:
        events = session.scalars(
            select(TimelineEvent).order_by(TimelineEvent.occurred_at, TimelineEvent.id)
        ).all()
        assert [e.kind for e in events] == [EventKind.STATUS] * 4
        assert [e.author_id for e in events] == [ALICE, BOB, BOB, ALICE]

    # after resolution, changes are refused and status still answers
    assert "already resolved" in bench.reply_to("/incident", "mitigated")["text"]


def test_user_text_with_channel_ping_is_echoed_without_pinging(bench: Bench) -> None:
    bench.command("/incident", "declare <!channel> db is on fire &lt;3 <!subteam^S1|@oncall>")
    [post] = bench.slack.wait_for("chat.postMessage")
    posted = _posted_text(post.params)
    assert "<!channel>" not in posted and "<!subteam" not in posted
    assert "db is on fire" in posted


def test_public_channel_without_the_bot_is_joined_first(bench: Bench) -> None:
    bench.command("/incident", "declare Search is down", channel=QUIET_CHANNEL)
    [post] = bench.slack.wait_for("chat.postMessage")
    assert post.params["channel"] == QUIET_CHANNEL
    assert [c.params["channel"] for c in bench.slack.calls_to("conversations.join")] == [
        QUIET_CHANNEL
    ]


def test_private_channels(bench: Bench) -> None:
    bench.command("/incident", "declare Leaked key", channel=PRIVATE_CHANNEL)
    bench.slack.wait_for("chat.postMessage")
    [incident] = _incidents(bench)
    assert incident.channel_private is True

    reply = bench.reply_to("/incident", "declare Payroll bug", channel=SECRET_CHANNEL)
    assert "/invite @postmortem-bot" in reply["text"]
    assert len(_incidents(bench)) == 1


def test_rate_limited_post_is_retried_after_retry_after(bench: Bench) -> None:
    bench.slack.rate_limit("chat.postMessage", retry_after=1, times=1)
    bench.command("/incident", "declare Slow API")
    calls = bench.slack.wait_for("chat.postMessage", 2, timeout=10)
    assert [c.status for c in calls] == [429, 200]
    assert len(bench.slack.messages(INCIDENT_CHANNEL)) == 1


def test_unexpected_slack_failure_gets_an_apology_not_a_hang(bench: Bench) -> None:
    bench.slack.fail("chat.postMessage", "fatal_error")
    reply, url = bench.command("/incident", "declare Disk full")
    assert reply.status == 200 and reply.seconds < 2.5
    message = bench.ephemeral_reply(url)
    assert message["response_type"] == "ephemeral"
    assert "`fatal_error`" in message["text"] and "try again" in message["text"]
    # what was saved is kept: the incident exists and status shows it
    assert "INC-1" in bench.reply_to("/incident", "status")["text"]


def test_declaring_in_a_direct_message_is_refused(bench: Bench) -> None:
    bot_client = WebClient(token=bench.slack.bot_token, base_url=bench.slack.api_url)
    dm = bot_client.conversations_open(users=ALICE)["channel"]["id"]
    reply = bench.reply_to("/incident", "declare Wrong place", channel=dm)
    assert "not direct messages" in reply["text"]
    assert _incidents(bench) == []
