"""Issue 13, part 1: nothing unverified acts. Each test sends real HTTP to the real bot.

Findings reproduced here: (1) a request whose timestamp header is not an integer made Bolt's
signature check raise, and the error handler then answered 200 and acted on the unsigned body
(an apology POSTed to any `response_url`, a blind SSRF, or `chat.postEphemeral`); (2) bodies
that are not what Slack sends crashed the WSGI app with a 500 before any signature check;
(3) one signed request replayed three times was processed three times.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote_from_bytes, urlencode

import pytest
from sqlalchemy import select

from handlers.errors import APOLOGY
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import SlackRequests, sign
from storage.db import Database
from storage.models import TimelineEvent
from tests.bench import ALICE, INCIDENT_CHANNEL, SIGNING_SECRET, Bench, running_bench
from tests.logcapture import captured_logs
from tests.recorder import recording

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
ANY_SIGNATURE = "v0=" + "0" * 64


def forged_block_action(response_url: str | None) -> bytes:
    """A button click in the shape Slack sends, as anyone on the internet can write it."""
    payload: dict[str, object] = {
        "type": "block_actions",
        "user": {"id": ALICE},
        "team": {"id": "T0001"},
        "channel": {"id": INCIDENT_CHANNEL},
        "actions": [{"action_id": "x", "block_id": "y", "type": "button"}],
    }
    if response_url is not None:
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)}).encode()


def forged_command(response_url: str) -> bytes:
    form = {
        "command": "/incident",
        "text": "declare forged",
        "team_id": "T0001",
        "channel_id": INCIDENT_CHANNEL,
        "user_id": ALICE,
        "response_url": response_url,
    }
    return urlencode(form).encode()


# -- finding 1: a malformed timestamp ---------------------------------------------------------

MALFORMED_TIMESTAMPS = {
    "letters": "abc",
    "exponent": "1.7e9",
    "empty": "",
    "hex": "0x6553f100",
    "padded": " 1700000000",
    "5000-digits": "9" * 5000,  # int() refuses more than 4300 digits
}


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS.values(), ids=MALFORMED_TIMESTAMPS)
def test_a_malformed_timestamp_gets_401_and_nothing_acts(
    slack: FakeSlack, db: Database, timestamp: str
) -> None:
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": ANY_SIGNATURE}
    with recording() as recorder, captured_logs() as logs:
        with running_bench(slack, db) as bench:
            slack.reset_calls()
            bodies = [
                forged_block_action(recorder.url + "/ssrf"),
                forged_block_action(None),  # the error handler's chat.postEphemeral route
                forged_command(recorder.url + "/ssrf"),
            ]
            replies = [bench.requests.post(b, FORM, signed=False, headers=headers) for b in bodies]
            assert [r.status for r in replies] == [401, 401, 401]
            assert all(APOLOGY not in r.body for r in replies)
        # the bot has stopped gracefully: whatever those requests started has finished
        assert recorder.hits() == []
        assert slack.calls == []
        assert "Traceback" not in logs.text()


# -- finding 2: bodies that are not what Slack sends -----------------------------------------

MALFORMED_BODIES = {
    "payload-not-json": (b"payload=not-json", FORM),
    "payload-json-array": (b"payload=%5B%5D", FORM),
    "json-array": (b"[]", JSON),
    "json-null": (b"null", JSON),
    "json-number": (b"123", JSON),
    "json-broken": (b"{bad", JSON),
    "json-without-type": (b'{"token": "x"}', JSON),
    "form-labelled-json": (b"command=%2Fincident&text=help", JSON),
    "json-labelled-form": (b'{"type": "url_verification", "challenge": "c"}', FORM),
    "invalid-utf8": (b"text=\xff", FORM),
    "form-without-payload-or-command": (b"text=hello&user_id=U1", FORM),
    "deeply-nested-json": (b'{"type": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON),
    "unknown-content-type": (b"command=%2Fincident&text=help", "text/plain"),
    # Bolt itself reads `workflow_step` of these before choosing a listener (found by the fuzz)
    # Bolt reads `view` whenever the key is there, even to log a request no listener wants
    "null-view": (
        b'{"type": "event_callback", "event_id": "Ev1", "view": null, "event": {"type": "x"}}',
        JSON,
    ),
    "workflow-step-without-step": (
        b"payload="
        + quote_from_bytes(b'{"type": "workflow_step_edit", "callback_id": "c"}').encode(),
        FORM,
    ),
}


@pytest.mark.parametrize(("body", "content_type"), MALFORMED_BODIES.values(), ids=MALFORMED_BODIES)
def test_a_malformed_body_gets_401_unsigned_and_400_signed_never_500(
    slack: FakeSlack, db: Database, body: bytes, content_type: str
) -> None:
    with captured_logs() as logs:
        with running_bench(slack, db) as bench:
            slack.reset_calls()
            unsigned = bench.requests.post(body, content_type, signed=False)
            signed = bench.requests.post(body, content_type)
        assert (unsigned.status, signed.status) == (401, 400)
        assert "Traceback" not in logs.text()
        assert slack.calls == []


# -- finding 3: replays ----------------------------------------------------------------------


def _timeline_texts(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.scalars(select(TimelineEvent.text).order_by(TimelineEvent.id)))


def _declare(bench: Bench) -> None:
    bench.command("/incident", "declare Checkout is down")
    bench.slack.wait_for("chat.postMessage")


def _same_command_again(bench: Bench, timestamp: int, text: str) -> tuple[int, str]:
    """The identical bytes, timestamp and signature every time: a captured request resent."""
    reply = bench.requests.slash_command(
        "/timeline",
        text,
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        response_url="",
        trigger_id="1.2.replayed",
        timestamp=timestamp,
    )
    return reply.status, reply.body


def test_a_replayed_signed_request_is_processed_once(slack: FakeSlack, db: Database) -> None:
    now = int(time.time())
    with running_bench(slack, db) as bench:
        _declare(bench)
        answers = [_same_command_again(bench, now, "replayed db failover") for _ in range(3)]
        bench.slack.wait_for("chat.postMessage", count=2)  # the declaration, then the echo
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[1][1] == "" and answers[2][1] == ""  # acknowledged, nothing more said
    assert [t for t in _timeline_texts(db) if "replayed" in t] == ["replayed db failover"]


def test_a_replay_sent_to_another_replica_is_processed_once(slack: FakeSlack, db: Database) -> None:
    """Replicas share the database, so the second one knows the first one saw the request."""
    now = int(time.time())
    with running_bench(slack, db) as first, running_bench(slack, db) as second:
        _declare(first)
        assert _same_command_again(first, now, "replica failover")[0] == 200
        assert _same_command_again(second, now, "replica failover") == (200, "")
        first.slack.wait_for("chat.postMessage", count=2)
    assert [t for t in _timeline_texts(db) if "replica" in t] == ["replica failover"]


def test_a_request_signed_again_is_not_a_replay(bench: Bench) -> None:
    """Slack's Events API retries carry a new timestamp and signature: not replays (the event
    id de-duplicates them further on)."""
    event = {"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"}
    first = bench.requests.event(event, event_id="Ev0RETRIED")
    retry = bench.requests.event(
        event, event_id="Ev0RETRIED", retry_num=1, timestamp=int(time.time()) + 1
    )
    assert (first.status, retry.status) == (200, 200)


def test_the_url_verification_handshake_still_answers_its_challenge(bench: Bench) -> None:
    body = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"}).encode()
    reply = bench.requests.post(body, JSON)
    assert reply.status == 200 and reply.json() == {"challenge": "c-123"}
    ts = str(int(time.time()))
    forged = bench.requests.post(body, JSON, timestamp=int(ts), signature=sign("x" * 32, ts, body))
    assert forged.status == 401


def test_a_command_mentioning_payload_is_not_lost(bench: Bench) -> None:
    """Bolt's own parser reads any form body containing the word "payload" as an empty
    request; the boundary parses it once and hands Bolt the result."""
    _declare(bench)
    reply, _ = bench.command("/timeline", "payload too large for the queue")
    assert reply.status == 200
    bench.slack.wait_for("chat.postMessage", count=2)
    assert "payload too large for the queue" in _timeline_texts(bench.db)


def test_an_event_retried_within_the_same_second_reaches_the_event_id_check(
    slack: FakeSlack, db: Database
) -> None:
    """Slack's retry of an event, sent in the same second as the attempt before it, has the
    same timestamp and body (so signature): its retry number lets it through to the event-id
    claim, which handles each event once, and lets a retry through after a failed attempt."""
    now = float(int(time.time()))
    event = {"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "home"}
    with running_bench(slack, db) as bench:
        frozen = SlackRequests(bench.url, SIGNING_SECRET, team_id=slack.team_id, clock=lambda: now)
        first = frozen.event(event, event_id="Ev0SAMESECOND")
        retry = frozen.event(event, event_id="Ev0SAMESECOND", retry_num=1)
        replayed = frozen.event(event, event_id="Ev0SAMESECOND", retry_num=1)
        assert (first.status, retry.status, replayed.status) == (200, 200, 200)
        assert replayed.body == ""
    # the bot has stopped, its work done: the retry was dispatched (App Home is re-rendered;
    # it claims no event id), the replay of the retry was not
    assert len(slack.calls_to("views.publish")) == 2
