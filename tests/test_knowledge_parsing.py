"""The `/incident list|search|tag|untag|tags` grammar (pure): what it reads, and what it refuses."""

from __future__ import annotations

import pytest

from bot.core.errors import UserError
from bot.incidents.commands import parse_incident
from bot.knowledge.blocks import safe_snippet
from bot.knowledge.commands import (
    ListIncidents,
    ListTags,
    SearchIncidents,
    TagIncident,
    UntagIncident,
)
from bot.knowledge.search import MARK_END, MARK_START
from storage.models import IncidentStatus, Severity


def test_list_words_combine() -> None:
    parsed = parse_incident("list open SEV1 sev-2 tag:#Database mine recent")
    assert isinstance(parsed, ListIncidents)
    assert parsed.statuses == (IncidentStatus.ACTIVE, IncidentStatus.MITIGATED)
    assert parsed.severities == (Severity.SEV1, Severity.SEV2)
    assert (parsed.tag, parsed.mine, parsed.recent) == ("database", True, True)
    assert parse_incident("list " + parsed.text) == parsed  # what the paging buttons run again


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("list sev0", "can't list by `sev0`"),
        ("list tag:", "right after `tag:`"),
        ("list tag:a tag:b", "one `tag:`"),
        ("search", "What should I search for?"),
        ("search tag:db", "list tag:db"),
        ("search !!! ???", "words to search for"),
        ("untag", "Name the tags to remove"),
        ("tag <!here>", "isn't a tag"),
        ("tag a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u", "at most 20"),
    ],
)
def test_refusals_say_how_to_write_it(text: str, error: str) -> None:
    with pytest.raises(UserError, match=error.replace("?", r"\?").replace("(", r"\(")):
        parse_incident(text)


def test_search_reads_words_phrases_and_a_tag() -> None:
    parsed = parse_incident('search Redis "connection pool" api-gateway tag:payments')
    assert isinstance(parsed, SearchIncidents)
    assert parsed.query.terms == (("redis",), ("connection", "pool"), ("api", "gateway"))
    assert parsed.tag == "payments"


def test_tag_commands() -> None:
    assert parse_incident("tag") == TagIncident(())
    assert parse_incident("tag INC-42 db, Payments") == TagIncident(("db", "payments"), 42)
    assert parse_incident("untag payments") == UntagIncident(("payments",))
    assert parse_incident("tags") == ListTags()
    assert parse_incident("tags db") == TagIncident(("db",))


def test_snippets_are_defused() -> None:
    raw = f"<!channel> @here *x* `y` _z_ <https://evil|ok> {MARK_START}redis{MARK_END} down"
    shown = safe_snippet(raw)
    assert "<" not in shown and "`" not in shown and "_" not in shown
    assert "@channel" not in shown and "@here" not in shown
    assert "*redis*" in shown and shown.count("*") == 2


def test_a_page_button_holds_the_longest_search_slack_allows() -> None:
    from datetime import UTC, datetime

    from bot.knowledge.blocks import search_results
    from bot.knowledge.search import MAX_QUERY_LENGTH, Hit, IncidentSummary, SearchPage, parse_query

    text = ("é" * 9 + " ") * (MAX_QUERY_LENGTH // 10)
    item = IncidentSummary(
        1,
        "INC-1",
        "Title",
        Severity.SEV2,
        IncidentStatus.RESOLVED,
        "C1",
        False,
        "U1",
        datetime(2026, 1, 1, tzinfo=UTC),
        None,
        (),
        None,
        None,
    )
    page = SearchPage(parse_query(text), [Hit(item, "", 1.0)], 5, 5, 20)
    _, blocks = search_results(page, text)
    [pager] = [b for b in blocks if b["type"] == "actions"]
    assert len(pager["elements"]) == 2  # Previous and Next
    for button in pager["elements"]:
        assert len(button["value"]) <= 2000  # Slack's limit for a button value
        assert text in button["value"]  # as typed, not \u-escaped six times longer
