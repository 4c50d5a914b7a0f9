"""`/followup` grammar and due dates: tables of real phrasings, and no input crashes a parser."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.dates import parse_due_date, warm_up
from bot.core.errors import UserError
from bot.followups.commands import (
    Assign,
    ChangeStatus,
    CreateFollowUp,
    FollowUpRef,
    Help,
    ListFollowUps,
    ListScope,
    MarkDone,
    SetDue,
    parse_followup,
    parse_ref,
    resolve,
    resolve_due,
)
from storage.models import FollowUpStatus, Priority

FRIDAY = date(2026, 11, 20)  # a Friday
MONDAY = date(2026, 11, 16)
ALICE = "<@U0ALICE|alice>"
P1, P2, P3, P4 = Priority.P1, Priority.P2, Priority.P3, Priority.P4


def create(
    title: str, owner: str | None = None, due: str | None = None, priority: Priority | None = None
) -> CreateFollowUp:
    return CreateFollowUp(title=title, owner_id=owner, due_text=due, priority=priority)


COMMANDS = [
    ("Add alerting on queue depth", create("Add alerting on queue depth")),
    (
        f"Add alerting on queue depth {ALICE} due friday p2",
        create("Add alerting on queue depth", "U0ALICE", "friday", P2),
    ),
    (
        f"Rotate the leaked API key {ALICE} due 2026-12-01",
        create("Rotate the leaked API key", "U0ALICE", "2026-12-01"),
    ),
    (
        "Write runbook for failover due in 3 days",
        create("Write runbook for failover", None, "in 3 days"),
    ),
    (
        "Backfill missing orders due next week p1",
        create("Backfill missing orders", None, "next week", P1),
    ),
    (
        f"Fix retry storm in webhook client p1 {ALICE}",
        create("Fix retry storm in webhook client", "U0ALICE", None, P1),
    ),
    (
        f"{ALICE} review the on-call escalation policy",
        create("review the on-call escalation policy", "U0ALICE"),
    ),
    ("p2 Add a canary stage to deploys", create("Add a canary stage to deploys", None, None, P2)),
    (
        f"Add rate limiting to /login {ALICE} p3 due end of month",
        create("Add rate limiting to /login", "U0ALICE", "end of month", P3),
    ),
    (
        f"Add rate limiting to /login due eow {ALICE} P4",
        create("Add rate limiting to /login", "U0ALICE", "eow", P4),
    ),
    ("Upgrade postgres to 16 due: dec 1", create("Upgrade postgres to 16", None, "dec 1")),
    ("Document what is due", create("Document what is due")),
    ("Fix the due date bug", create("Fix the", None, "date bug")),  # quoting is the way out
    (
        '"Fix the due date bug" due friday <@U0BOB>',
        create("Fix the due date bug", "U0BOB", "friday"),
    ),
    (
        "\u201cRemove the due-date cron\u201d p2 due tomorrow",
        create("Remove the due-date cron", None, "tomorrow", P2),
    ),
    (
        "Ask <@U0CAROL|carol> about DB limits due monday",
        create("Ask <@U0CAROL|carol> about DB limits", None, "monday"),
    ),
    ("<!channel> please check dashboards", create("<!channel> please check dashboards")),
    ("Remove &lt;script&gt; from status page", create("Remove &lt;script&gt; from status page")),
    ("  Add   alerting   ", create("Add alerting")),
    (
        "[p1] Page the DBA team on replication lag",
        create("Page the DBA team on replication lag", None, None, P1),
    ),
    ("help me write the timeline", create("help me write the timeline")),
    ("", Help()),
    ("help", Help()),
    ("HELP", Help()),
    ("list", ListFollowUps(None)),
    ("list mine", ListFollowUps(ListScope.MINE)),
    ("list Overdue", ListFollowUps(ListScope.OVERDUE)),
    ("ls all", ListFollowUps(ListScope.ALL)),
    ("done INC-42-F3", MarkDone(FollowUpRef(3, 42))),
    ("done inc-42-f3", MarkDone(FollowUpRef(3, 42))),
    ("done F3", MarkDone(FollowUpRef(3, None))),
    ("done 3", MarkDone(FollowUpRef(3, None))),
    ("done #3", MarkDone(FollowUpRef(3, None))),
]


@pytest.mark.parametrize(("text", "expected"), COMMANDS, ids=[c[0][:40] for c in COMMANDS])
def test_command_grammar(text: str, expected: object) -> None:
    assert parse_followup(text) == expected


JUNK = [
    (f"{ALICE} due friday", "Say what needs doing"),
    ("p1", "Say what needs doing"),
    (f"Fix it <@U0BOB> {ALICE}", "one owner"),
    ("Fix it p1 p2", "one priority"),
    ("list everything", "`list mine`, `list overdue` or `list all`"),
    ("list incident", "`list mine`, `list overdue` or `list all`"),
    ("done", "Which one?"),
    ("done the migration", "isn't a follow-up id"),
    ("done INC-4-G2", "isn't a follow-up id"),
    ('"quoted title" and more words', "only an owner"),
    ("x" * 300, "keep it under 250"),
]


@pytest.mark.parametrize(("text", "message"), JUNK, ids=[j[0][:30] for j in JUNK])
def test_junk_is_explained(text: str, message: str) -> None:
    with pytest.raises(UserError, match=None) as raised:
        parse_followup(text)
    assert message in raised.value.message


def test_refs_print_back_as_typed() -> None:
    assert parse_ref("INC-7-F12").label == "INC-7-F12"
    assert parse_ref(" f12 ").label == "F12"


# Due dates from Friday Nov 20, 2026 (and Monday Nov 16 where the weekday matters).
DATES = [
    ("2026-12-01", FRIDAY, date(2026, 12, 1)),
    ("2027/01/15", FRIDAY, date(2027, 1, 15)),
    ("today", FRIDAY, FRIDAY),
    ("eod", FRIDAY, FRIDAY),
    ("tomorrow", FRIDAY, date(2026, 11, 21)),
    ("Tomorrow.", FRIDAY, date(2026, 11, 21)),
    ("tmrw", FRIDAY, date(2026, 11, 21)),
    ("day after tomorrow", FRIDAY, date(2026, 11, 22)),
    ("friday", FRIDAY, date(2026, 11, 27)),  # the coming Friday, never today
    ("fri", MONDAY, date(2026, 11, 20)),
    ("next friday", MONDAY, date(2026, 11, 20)),  # the coming Friday
    ("next friday", FRIDAY, date(2026, 11, 27)),
    ("this friday", FRIDAY, FRIDAY),
    ("friday next week", MONDAY, date(2026, 11, 27)),
    ("next week friday", MONDAY, date(2026, 11, 27)),
    ("monday", FRIDAY, date(2026, 11, 23)),
    ("next tuesday", FRIDAY, date(2026, 11, 24)),
    ("wed", FRIDAY, date(2026, 11, 25)),
    ("by friday", MONDAY, date(2026, 11, 20)),
    ("friday evening", FRIDAY, date(2026, 11, 27)),
    ("monday 9am", FRIDAY, date(2026, 11, 23)),
    ("in 3 days", FRIDAY, date(2026, 11, 23)),
    ("3 days", FRIDAY, date(2026, 11, 23)),
    ("3d", FRIDAY, date(2026, 11, 23)),
    ("+3d", FRIDAY, date(2026, 11, 23)),
    ("in 3 days time", FRIDAY, date(2026, 11, 23)),
    ("in two weeks", FRIDAY, date(2026, 12, 4)),
    ("2w", FRIDAY, date(2026, 12, 4)),
    ("in a fortnight", FRIDAY, date(2026, 12, 4)),
    ("a week from today", FRIDAY, date(2026, 11, 27)),  # dateparser says Nov 13
    ("1 week from now", FRIDAY, date(2026, 11, 27)),
    ("in 6 months", FRIDAY, date(2027, 5, 20)),
    ("in 3 business days", FRIDAY, date(2026, 11, 25)),
    ("5 working days", MONDAY, date(2026, 11, 23)),
    ("next week", FRIDAY, date(2026, 11, 23)),  # Monday of next week (dateparser: +7 days)
    ("next week", MONDAY, date(2026, 11, 23)),
    ("end of week", MONDAY, date(2026, 11, 20)),
    ("EOW", FRIDAY, FRIDAY),
    ("end of next week", FRIDAY, date(2026, 11, 27)),
    ("end of month", FRIDAY, date(2026, 11, 30)),
    ("eom", FRIDAY, date(2026, 11, 30)),
    ("next month", FRIDAY, date(2026, 12, 1)),
    ("end of quarter", FRIDAY, date(2026, 12, 31)),
    ("dec 1", FRIDAY, date(2026, 12, 1)),
    ("Dec 1st", FRIDAY, date(2026, 12, 1)),
    ("1 dec", FRIDAY, date(2026, 12, 1)),
    ("1st of December", FRIDAY, date(2026, 12, 1)),
    ("december 1, 2027", FRIDAY, date(2027, 12, 1)),
    ("nov 20", FRIDAY, FRIDAY),  # dateparser jumps to 2027
    ("jan 5", FRIDAY, date(2027, 1, 5)),
    ("jul 4", FRIDAY, date(2027, 7, 4)),  # long gone this year: next year
    ("feb 29", FRIDAY, date(2028, 2, 29)),
    ("25/12", FRIDAY, date(2026, 12, 25)),
    ("12/25", FRIDAY, date(2026, 12, 25)),
    ("12/12", FRIDAY, date(2026, 12, 12)),
    ("15.01.2027", FRIDAY, date(2027, 1, 15)),
]


@pytest.mark.parametrize(("text", "today", "expected"), DATES, ids=[d[0] for d in DATES])
def test_due_dates(text: str, today: date, expected: date) -> None:
    assert parse_due_date(text, today=today) == expected


REFUSED = [
    ("yesterday", "in the past"),
    ("last friday", "in the past"),
    ("nov 19", "in the past"),  # a slip, not next November
    ("sept 30", "in the past"),
    ("2026-11-01", "in the past"),
    ("3 days ago", "in the past"),
    ("in 3 years", "more than 2 years away"),
    ("2030-01-01", "more than 2 years away"),
    ("12/01", "could be December 1 or January 12"),
    ("03/04", "could be March 4 or April 3"),
    ("14", "alone isn't a date"),
    ("dec", "Which day in December?"),
    ("2027-02-29", "no such date"),
    ("13/13", "no such date"),
    ("tomorow", "Couldn't read the due date `tomorow`"),
    ("asap-ish", "Couldn't read the due date"),
    ("before friday", "Couldn't read the due date"),
    ("", "Give a due date"),
    ("x" * 100, "too long"),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[r[0][:20] for r in REFUSED])
def test_bad_due_dates_are_explained_with_examples(text: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_due_date(text, today=FRIDAY)
    assert message in raised.value.message
    assert "`" in raised.value.message  # shows how to write it


def test_due_dates_are_read_in_the_users_time_zone() -> None:
    # 02:00 UTC on Saturday Nov 21 is 18:00 on Friday Nov 20 in Los Angeles
    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    la = "America/Los_Angeles"
    assert parse_due_date("today", today=now, tz_name=la) == date(2026, 11, 20)
    assert parse_due_date("tomorrow", today=now, tz_name=la) == date(2026, 11, 21)
    assert parse_due_date("eow", today=now, tz_name=la) == date(2026, 11, 20)
    assert parse_due_date("today", today=now, tz_name=None) == date(2026, 11, 21)
    assert parse_due_date("eow", today=now, tz_name="UTC") == date(2026, 11, 27)
    # Saturday UTC but still Friday in LA: Friday itself is not in the past there
    assert parse_due_date("nov 20", today=now, tz_name=la) == date(2026, 11, 20)
    with pytest.raises(UserError, match="in the past"):
        parse_due_date("nov 20", today=now, tz_name="Europe/Paris")


def test_resolve_applies_defaults_in_the_users_zone() -> None:
    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)  # Friday evening in LA
    new = resolve(create("Fix it"), now=now, tz_name="America/Los_Angeles", default_days=14)
    assert (new.due_date, new.priority, new.owner_id) == (date(2026, 12, 4), P3, None)
    with pytest.raises(UserError, match='quote the title: `/followup "Fix the due date bug"'):
        resolve(create("Fix the", due="date bug"), now=now, tz_name=None, default_days=14)


def test_parsing_is_fast_after_warm_up() -> None:
    warm_up()
    phrases = [text for text, _, _ in DATES] + ["friday", "next tuesday", "monday 9am"] * 5
    started = time.perf_counter()
    slowest = 0.0
    for text in phrases:
        one = time.perf_counter()
        parse_due_date(text, today=FRIDAY)
        slowest = max(slowest, time.perf_counter() - one)
    mean = (time.perf_counter() - started) / len(phrases)
    assert mean < 0.02, f"mean {mean * 1000:.1f} ms per date"
    assert slowest < 0.1, f"slowest {slowest * 1000:.1f} ms"


_words = st.sampled_from(
    ["due", "due:", "p1", "p9", "list", "done", "mine", "F3", "INC-1-F2", ALICE, "<@U0BOB>", '"']
)
_texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(_words, st.text(max_size=8)), max_size=12).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_no_command_text_crashes_the_parser(text: str) -> None:
    try:
        parse_followup(text)
    except UserError:
        pass


_date_words = st.sampled_from(
    ["in", "next", "friday", "3", "days", "weeks", "dec", "1st", "of", "eow", "/", "-", "2026"]
)
_phrases = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(_date_words, st.from_regex(r"\d{1,6}", fullmatch=True)), max_size=6).map(
        " ".join
    ),
    st.from_regex(r"\d{1,5}[/.-]\d{1,5}([/.-]\d{1,5})?", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(_phrases, st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_no_phrase_crashes_the_date_parser(text: str, today: date) -> None:
    try:
        due = parse_due_date(text, today=today, tz_name="America/Los_Angeles")
    except UserError:
        return
    assert today <= due <= date(today.year + 2, 12, 31)


# --- subcommands with the buttons' powers; titles that would have been junk -----------------

SUBCOMMAND_CASES = [
    ("start F2", ChangeStatus(FollowUpRef(2, None), FollowUpStatus.IN_PROGRESS)),
    ("wontdo INC-4-F1", ChangeStatus(FollowUpRef(1, 4), FollowUpStatus.WONT_DO)),
    ("won't-do 3", ChangeStatus(FollowUpRef(3, None), FollowUpStatus.WONT_DO)),
    ("reopen F1", ChangeStatus(FollowUpRef(1, None), FollowUpStatus.OPEN)),
    ("Reopen: F1", ChangeStatus(FollowUpRef(1, None), FollowUpStatus.OPEN)),
    ("assign F2 <@U0BOB|bob>", Assign(FollowUpRef(2, None), "U0BOB")),
    ("assign INC-4-F2 nobody", Assign(FollowUpRef(2, 4), None)),
    ("due F2 friday", SetDue(FollowUpRef(2, None), "friday")),
    ("due INC-4-F2 in 3 days", SetDue(FollowUpRef(2, 4), "in 3 days")),
    ('"Reopen the firewall port" due friday', create("Reopen the firewall port", None, "friday")),
    ('"Assign owners to alerts" p2', create("Assign owners to alerts", None, None, P2)),
    ('"Fix p0 paging" p1', create("Fix p0 paging", None, None, P1)),
    ("Page on sev1 only", create("Page on sev1 only")),  # severities are words in a follow-up
    ("Help support with refunds", create("Help support with refunds")),
]


@pytest.mark.parametrize(
    ("text", "expected"), SUBCOMMAND_CASES, ids=[c[0][:40] for c in SUBCOMMAND_CASES]
)
def test_subcommands_parse(text: str, expected: object) -> None:
    assert parse_followup(text) == expected


STRICT = [
    ("reopen the firewall port", "isn't a follow-up id"),
    ("reopen the firewall port", 'quote it: `/followup "Reopen the firewall port"'),
    ("start", "Which one? `/followup start INC-42-F3`"),
    ("assign F2", "Say which follow-up and who"),
    ("assign F2 bob", "Mention the new owner"),
    ("assign the runbook to SRE", "Say which follow-up and who"),
    ("due F2", "Say which follow-up and when"),
    ("due dates are wrong in reports", "isn't a follow-up id"),
    (f"{ALICE} reopen the port", "is a `/followup` command"),
    ("p2 done: write the docs", "is a `/followup` command"),
    ("Fix it p0", "`p0` isn't a priority. Use p1 (most urgent) to p4 (p1, p2, p3, p4)"),
    ("Fix it p5", "isn't a priority"),
    ("p9 Fix it", "isn't a priority"),
    ("Fix it (P0)", "isn't a priority"),
    ("Fix p2 replica lag", "Put the priority first or last"),
    ("Fix p7 replica lag", "isn't a priority"),
    ('"Fix it" p0', "isn't a priority"),
]


@pytest.mark.parametrize(("text", "message"), STRICT, ids=[j[0][:30] for j in STRICT])
def test_strict_grammar_explains(text: str, message: str) -> None:
    with pytest.raises(UserError) as raised:
        parse_followup(text)
    assert message in raised.value.message


def test_due_subcommand_dates_are_read_in_the_users_zone() -> None:
    late_friday_utc = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # Friday evening in LA
    command = SetDue(FollowUpRef(2, None), "tomorrow")
    assert resolve_due(command, now=late_friday_utc, tz_name="America/Los_Angeles") == date(
        2026, 11, 21
    )
    with pytest.raises(UserError, match="2026-12-01"):
        resolve_due(SetDue(FollowUpRef(2, None), "someday"), now=late_friday_utc, tz_name=None)
