"""Issue 13, part 1, finding 4: what a request can make the bot log.

Bolt logged every unsigned request's body at INFO ("Invalid request signature detected … body:
…"): anyone could write into the operator's logs, a 5 MiB body became one log line, and a raw
newline in a body started a forged line in text format.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import pytest

from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import sign
from storage.db import Database
from tests.bench import ALICE, INCIDENT_CHANNEL, SIGNING_SECRET, running_bench
from tests.logcapture import captured_logs

FORM = "application/x-www-form-urlencoded"
FORGED_LINE = "2026-01-01 00:00:00,000 ERROR postmortem_bot.forged: the database was dropped"
LONGEST_LINE = 1000  # a log line is a sentence, never a request body


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_unsigned_bodies_are_not_logged_above_debug(
    slack: FakeSlack, db: Database, log_format: str
) -> None:
    marker = "Wombat-7f3a"
    body = urlencode({"command": "/incident", "text": f"declare {marker}"}).encode()
    with captured_logs("INFO", log_format) as logs:
        with running_bench(slack, db) as bench:
            assert bench.requests.post(body, FORM, signed=False).status == 401
            stale = int(time.time()) - 3600
            signature = sign(SIGNING_SECRET, str(stale), body)
            assert (
                bench.requests.post(body, FORM, timestamp=stale, signature=signature).status == 401
            )
    assert marker not in logs.text()


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_huge_unsigned_body_is_not_one_huge_log_line(
    slack: FakeSlack, db: Database, level: str
) -> None:
    body = b"text=" + b"A" * (5 * 1024 * 1024 - 4096)  # just under HTTP_MAX_REQUEST_BYTES
    with captured_logs(level) as logs:
        with running_bench(slack, db) as bench:
            assert bench.requests.post(body, FORM, signed=False).status == 401
    assert max(map(len, logs.lines()), default=0) <= LONGEST_LINE


def test_a_newline_in_a_body_cannot_forge_a_log_line(slack: FakeSlack, db: Database) -> None:
    unsigned = b"text=hello\n" + FORGED_LINE.encode()
    # Signed too (what Slack itself would relay): Bolt warns about a command it has no listener
    # for, quoting the command's name.
    command = urlencode(
        {
            "command": f"/nope\n{FORGED_LINE}",
            "text": "x",
            "team_id": "T0001",
            "channel_id": INCIDENT_CHANNEL,
            "user_id": ALICE,
        }
    ).encode()
    with captured_logs("INFO") as logs:
        with running_bench(slack, db) as bench:
            assert bench.requests.post(unsigned, FORM, signed=False).status == 401
            assert bench.requests.post(command, FORM).status < 500
    assert not [line for line in logs.lines() if line.startswith(FORGED_LINE[:30])]


def test_the_text_format_escapes_line_breaks_in_messages_and_arguments() -> None:
    with captured_logs("INFO", "text") as logs:
        logging.getLogger("postmortem_bot.test").warning(
            "user said %s\r\n%s", "one\ntwo", FORGED_LINE
        )
    [line] = logs.lines()
    assert "user said one\\ntwo\\r\\n" + FORGED_LINE in line


def test_an_exception_keeps_its_traceback_lines() -> None:
    """Escaping is for what users write; a traceback from our own code stays readable."""
    with captured_logs("INFO", "text") as logs:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("postmortem_bot.test").exception("failed on %s", "a\nb")
    lines = logs.lines()
    assert lines[0].endswith("failed on a\\nb")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: boom"


def test_a_long_message_is_capped() -> None:
    with captured_logs("DEBUG", "json") as logs:
        logging.getLogger("postmortem_bot.test").debug("body: %s", "A" * 100_000)
    [line] = logs.lines()
    assert len(line) < 1000 and "more characters]" in line
