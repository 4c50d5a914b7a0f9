"""What a request can make the bot log (issue 13, part 1, finding 4).

User text in a log line cannot start a new line in text format (JSON escapes it already), and
a log message is capped: a log line is a sentence about a request, never the request.
"""

from __future__ import annotations

import logging

from tests.logcapture import captured_logs

FORGED_LINE = "2026-01-01 00:00:00,000 ERROR postmortem_bot.forged: the database was dropped"


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
