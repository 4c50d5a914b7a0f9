"""Slack's request signature, checked on the raw bytes before anything parses them
(bot.web.verify), with the clock injected."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from bot.web.verify import TOLERANCE_SECONDS, Verdict, expected_signature, verify
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import sign
from storage.db import Database
from tests.bench import ALICE, INCIDENT_CHANNEL, SIGNING_SECRET, running_bench
from tests.conftest import shared_file

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = b"command=%2Fincident&text=status"
NOW = 1_800_000_000


def test_slacks_documented_example_verifies() -> None:
    vector = json.loads(shared_file("slack-fixtures/signature_test_vector.json").read_text())
    body = vector["raw_body"].encode()
    timestamp, signature = vector["x_slack_request_timestamp"], vector["x_slack_signature"]
    assert expected_signature(vector["signing_secret"], timestamp, body) == signature
    now = int(timestamp) + 10
    assert verify(vector["signing_secret"], timestamp, signature, body, now) is Verdict.VERIFIED
    assert verify("another-secret", timestamp, signature, body, now) is Verdict.MISMATCH
    assert verify(vector["signing_secret"], timestamp, signature, body + b"&x=1", now) is (
        Verdict.MISMATCH
    )


def test_the_window_is_five_minutes_either_way() -> None:
    ts = str(NOW)
    signature = expected_signature(SECRET, ts, BODY)
    for now in (NOW - TOLERANCE_SECONDS, NOW, NOW + TOLERANCE_SECONDS):
        assert verify(SECRET, ts, signature, BODY, now) is Verdict.VERIFIED
    for now in (NOW - TOLERANCE_SECONDS - 1, NOW + TOLERANCE_SECONDS + 1):
        assert verify(SECRET, ts, signature, BODY, now) is Verdict.STALE


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "1.7e9",
        "1800000000.5",
        "-1800000000",
        "+1800000000",
        " 1800000000",
        "1800000000\n",
        "１８００００００００",
        "0x6b49d200",
        "9" * 13,
        "9" * 5000,
    ],
)
def test_a_timestamp_that_is_not_plain_digits_is_malformed(timestamp: str) -> None:
    signature = "v0=" + "0" * 64
    assert verify(SECRET, timestamp, signature, BODY, NOW) is Verdict.MALFORMED


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "v0=",
        "v1=" + "0" * 64,
        "v0=" + "0" * 63,
        "v0=" + "0" * 65,
        "v0=" + "G" * 64,
        "V0=" + "0" * 64,
        "sha256=" + "0" * 64,
    ],
)
def test_a_signature_that_is_not_v0_hex_is_refused(signature: str) -> None:
    assert verify(SECRET, str(NOW), signature, BODY, NOW) in (Verdict.MISSING, Verdict.MALFORMED)


def test_uppercase_hex_is_not_slacks_and_is_refused() -> None:
    signature = expected_signature(SECRET, str(NOW), BODY)
    assert verify(SECRET, str(NOW), signature.upper().replace("V0=", "v0="), BODY, NOW) is (
        Verdict.MALFORMED
    )


def test_missing_headers_and_an_empty_secret_never_verify() -> None:
    signature = expected_signature(SECRET, str(NOW), BODY)
    assert verify(SECRET, None, signature, BODY, NOW) is Verdict.MISSING
    assert verify(SECRET, str(NOW), None, BODY, NOW) is Verdict.MISSING
    # an HMAC keyed with nothing is something anyone can compute
    empty_key = expected_signature("", str(NOW), BODY)
    assert verify("", str(NOW), empty_key, BODY, NOW) is Verdict.MISMATCH
    assert verify(None, str(NOW), empty_key, BODY, NOW) is Verdict.MISMATCH


def test_the_bot_checks_timestamps_against_its_injected_clock(
    slack: FakeSlack, db: Database
) -> None:
    """Over HTTP: a request signed at T is taken at T+300 and refused at T+301."""
    signed_at = int(time.time()) - 3600  # an hour ago: only the injected clock makes it fresh
    now = [float(signed_at + TOLERANCE_SECONDS)]
    form = {
        "command": "/incident",
        "text": "help",
        "team_id": slack.team_id,
        "channel_id": INCIDENT_CHANNEL,
        "user_id": ALICE,
        "response_url": "",
    }
    with running_bench(slack, db, signature_clock=lambda: now[0]) as bench:

        def send(text: str) -> int:
            body = urlencode({**form, "text": text}).encode()
            signature = sign(SIGNING_SECRET, str(signed_at), body)
            reply = bench.requests.post(
                body, "application/x-www-form-urlencoded", timestamp=signed_at, signature=signature
            )
            return reply.status

        assert send("help") == 200
        now[0] += 1
        assert send("help me") == 401
