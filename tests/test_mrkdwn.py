from __future__ import annotations

import pytest

from bot.core.formatting import format_duration
from bot.slack.mrkdwn import plain_text, quote, safe_mrkdwn


@pytest.mark.parametrize(
    ("slack_text", "expected"),
    [
        ("plain words", "plain words"),
        ("a &lt; b &amp;&amp; c &gt; d", "a &lt; b &amp;&amp; c &gt; d"),
        ("ping <@U123ABC|alice> now", "ping <@U123ABC> now"),
        ("see <#C999|incidents>", "see <#C999>"),
        (
            "docs <https://example.com/a?b=1|the runbook>",
            "docs <https://example.com/a?b=1|the runbook>",
        ),
        ("<!channel> db down", "@\u2060channel db down"),
        ("<!here|here> db down", "@\u2060here db down"),
        ("<!everyone>", "@\u2060everyone"),
        ("<!subteam^S123|@oncall> look", "@\u2060oncall look"),
        ("literal @channel typed", "literal @\u2060channel typed"),
        ("<script>", "&lt;script&gt;"),
        ("stray & ampersand", "stray &amp; ampersand"),
    ],
)
def test_safe_mrkdwn(slack_text: str, expected: str) -> None:
    assert safe_mrkdwn(slack_text) == expected


def test_safe_mrkdwn_never_leaves_a_broadcast_token() -> None:
    hostile = "<!channel> <!here> <!everyone> <!subteam^S1> <<!channel>> &lt;!channel&gt;"
    out = safe_mrkdwn(hostile)
    assert "<!" not in out


def test_plain_text() -> None:
    assert plain_text("a &lt;b&gt; <@U1|bob> <!channel> <https://x.io|site>") == (
        "a <b> @bob @channel site"
    )


def test_quote_truncates_and_defuses() -> None:
    quoted = quote("<!here> " + "y" * 100)
    assert quoted.startswith("`") and quoted.endswith("…`")
    assert "<!here>" not in quoted


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0m"), (59, "0m"), (65 * 60, "1h 5m"), (3600, "1h"), (26 * 3600 + 60, "1d 2h 1m")],
)
def test_format_duration(seconds: int, expected: str) -> None:
    from datetime import timedelta

    assert format_duration(timedelta(seconds=seconds)) == expected
