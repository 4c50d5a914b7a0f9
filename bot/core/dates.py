"""Reading due dates people type (`friday`, `in 3 days`, `2026-12-01`) in their own time zone.

`parse_due_date` is pure and raises UserError with examples. The forms where dateparser is
ambiguous or wrong are read here explicitly (see the tests for the whole table):
- ISO `2026-12-01`; `dec 1`, `1st of december`, `dec 1 2027` (today's date stays today: dateparser
  jumps a year ahead); numeric `25/12`, `12/25` only when unambiguous (`03/04` is refused);
- `today`/`eod`, `tomorrow`/`tmrw`, `in 3 days`, `2 weeks`, `a week from today` (dateparser goes
  backwards), `in 3 business days`; `next week` (Monday of next week), `friday next week`,
  `end of week`/`eow` (the coming Friday), `end of next week`, `end of month`/`eom`,
  `next month` (its 1st), `end of quarter`, `end of year`;
- a bare number (`14`) and a month alone (`dec`) are refused as ambiguous.
Everything else (weekdays: `friday` is the coming Friday, never today; `next friday` is the same;
`this friday` may be today) goes to dateparser, with English only (language detection on a failed
parse costs seconds), dates preferred from the future, relative to the user's local now.
The result must be between today and two years from now.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from dateparser.date import DateDataParser

from bot.core.errors import UserError
from bot.core.timeparse import zone
from bot.slack.mrkdwn import quote

log = logging.getLogger("postmortem_bot.dates")

MAX_YEARS_AHEAD = 2
MAX_LENGTH = 60
RECENT_PAST_DAYS = 90  # `nov 19` typed on Nov 20 is a slip, not next year
EXAMPLES = "Try `2026-12-01`, `friday`, `in 3 days`, `next week`, `end of month` or `dec 1`."

_WEEKDAYS = {
    **dict.fromkeys(("mon", "monday"), 0),
    **dict.fromkeys(("tue", "tues", "tuesday"), 1),
    **dict.fromkeys(("wed", "weds", "wednesday"), 2),
    **dict.fromkeys(("thu", "thur", "thurs", "thursday"), 3),
    **dict.fromkeys(("fri", "friday"), 4),
    **dict.fromkeys(("sat", "saturday"), 5),
    **dict.fromkeys(("sun", "sunday"), 6),
}
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_NUMBERS |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_UNITS = {
    **dict.fromkeys(("d", "day", "days"), "day"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "week"),
    **dict.fromkeys(("mo", "mos", "month", "months"), "month"),
}

_WD = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
# A count: digits (`3d`, `3 days`) or a word followed by a space (`a week`, `two days`).
_NUM = r"(\d{1,4})\s*|(" + "|".join(_NUMBERS) + r")\s+"
_ORD = r"(?:st|nd|rd|th)?"

_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC = re.compile(r"(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{4}|\d{2}))?")
_MONTH_DAY = re.compile(rf"({_MON})\.?\s+(\d{{1,2}}){_ORD}(?:,?\s+(\d{{4}}))?")
_DAY_MONTH = re.compile(rf"(?:the\s+)?(\d{{1,2}}){_ORD}(?:\s+of)?\s+({_MON})\.?(?:,?\s+(\d{{4}}))?")
_MONTH_ONLY = re.compile(rf"({_MON})\.?(?:\s+\d{{4}})?")
_RELATIVE = re.compile(
    rf"(?:in\s+)?(?:{_NUM})(d|days?|w|wks?|weeks?|mos?|months?)"
    r"(?:\s+(?:from\s+(?:now|today)|time|later))?"
)
_BUSINESS = re.compile(rf"(?:in\s+)?(?:{_NUM})(?:business|working|work)\s+days?")
_WEEKDAY_NEXT_WEEK = re.compile(rf"(?:({_WD})\s+next\s+week|next\s+week\s+({_WD}))")

_TODAY = {"today", "tod", "eod", "end of day", "end of today", "tonight", "end of the day"}
_TOMORROW = {"tomorrow", "tmrw", "tmr", "tmw", "tomorrow eod", "end of tomorrow"}
_END_OF_WEEK = {"end of week", "end of the week", "eow", "this week", "end of this week"}
_END_OF_NEXT_WEEK = {"end of next week", "eonw", "next week eow"}
_NEXT_WEEK = {"next week", "next wk", "nw", "start of next week", "beginning of next week"}
_END_OF_MONTH = {"end of month", "end of the month", "eom", "this month", "end of this month"}


class UnreadableDate(UserError):
    """The text is no date at all (as opposed to a date in the past or too far away)."""


def local_today(now: datetime, tz_name: str | None) -> date:
    """The date it is now for someone in `tz_name` (UTC when unknown)."""
    return now.astimezone(zone(tz_name)).date()


def format_date(day: date) -> str:
    """`Tue Dec 1, 2026`: unambiguous for every reader, whatever their locale."""
    return f"{day:%a} {day:%b} {day.day}, {day.year}"


def parse_due_date(text: str, *, today: date, tz_name: str | None = None) -> date:
    """The due date `text` names, for a user whose local date is `today`.

    `today` may also be an aware datetime (the clock's now): it is then read in `tz_name`, so
    "today" typed on Friday evening in Los Angeles is Friday although UTC is already Saturday.
    Raises UserError for anything unreadable, in the past, or over two years away.
    """
    if isinstance(today, datetime):
        base = today.astimezone(zone(tz_name)).replace(tzinfo=None)
    else:
        base = datetime.combine(today, time(12, 0))
    day = base.date()
    phrase = _normalise(text)
    if not phrase:
        raise UserError("Give a due date after `due`. " + EXAMPLES)
    if len(phrase) > MAX_LENGTH:
        raise UserError(f"{quote(text)} is too long to be a due date. " + EXAMPLES)
    due = _explicit(phrase, day)
    if due is None:
        due = _with_dateparser(phrase, base)
    if due is None:
        raise UnreadableDate(f"Couldn't read the due date {quote(text)}. " + EXAMPLES)
    return check_due_date(due, today=day, shown=text)


def check_due_date(due: date, *, today: date, shown: str | None = None) -> date:
    """Refuse a due date in the past or absurdly far away (also for date pickers)."""
    what = f"{quote(shown)} is {format_date(due)}" if shown else f"{format_date(due)} is"
    if due < today:
        raise UserError(
            f"{what}, which is in the past. Pick a date from today "
            f"({format_date(today)}) on. " + EXAMPLES
        )
    if due > _add_months(today, 12 * MAX_YEARS_AHEAD):
        raise UserError(
            f"{what}, more than {MAX_YEARS_AHEAD} years away. Pick a nearer date; it can be "
            "moved later with the date picker on the follow-up."
        )
    return due


def warm_up() -> None:
    """dateparser's first call loads its data (~0.3 s): pay it at start-up, not on a request."""
    _with_dateparser("friday", datetime(2026, 1, 1, 12, 0))


def _normalise(text: str) -> str:
    phrase = " ".join(text.lower().split()).strip(" .,;!")
    for filler in ("by ", "on ", "due "):
        if phrase.startswith(filler):
            phrase = phrase[len(filler) :]
    return phrase


def _number(word: str) -> int:
    return _NUMBERS[word] if word in _NUMBERS else int(word)


def _explicit(phrase: str, today: date) -> date | None:
    for rule in _RULES:
        due = rule(phrase, today)
        if due is not None:
            return due
    return None


def _keywords(phrase: str, today: date) -> date | None:
    if phrase in _TODAY:
        return today
    if phrase in _TOMORROW:
        return today + timedelta(days=1)
    if phrase == "day after tomorrow":
        return today + timedelta(days=2)
    if phrase in _END_OF_WEEK:
        return today + timedelta(days=(4 - today.weekday()) % 7)
    if phrase in _END_OF_NEXT_WEEK:
        return _next_monday(today) + timedelta(days=4)
    if phrase in _NEXT_WEEK:
        return _next_monday(today)
    if phrase in _END_OF_MONTH:
        return _month_end(today)
    if phrase == "end of next month":
        return _month_end(_add_months(today.replace(day=1), 1))
    if phrase in ("next month", "start of next month", "beginning of next month"):
        return _add_months(today.replace(day=1), 1)
    if phrase in ("end of quarter", "end of the quarter", "eoq", "this quarter"):
        return _month_end(date(today.year, (today.month - 1) // 3 * 3 + 3, 1))
    if phrase in ("end of year", "end of the year", "eoy", "this year"):
        return date(today.year, 12, 31)
    return None


def _iso(phrase: str, today: date) -> date | None:
    match = _ISO.fullmatch(phrase)
    if match is None:
        return None
    return _date(int(match[1]), int(match[2]), int(match[3]), phrase)


def _numeric(phrase: str, today: date) -> date | None:
    match = _NUMERIC.fullmatch(phrase)
    if match is None:
        return None
    first, second = int(match[1]), int(match[2])
    if 1 <= first <= 12 and 1 <= second <= 12 and first != second:
        one, other = _month_day_name(first, second), _month_day_name(second, first)
        raise UserError(
            f"{quote(phrase)} could be {one} or {other}. Write the month as a word "
            f"(`{one[:3].lower()} {second}` or `{other[:3].lower()} {first}`), "
            "or the ISO date (`2026-12-01`)."
        )
    month, day = (first, second) if second > 12 else (second, first)
    year = match[3]
    if year is None:
        return _upcoming(month, day, today, phrase)
    return _date(int(year) + (2000 if len(year) == 2 else 0), month, day, phrase)


def _month_day(phrase: str, today: date) -> date | None:
    if match := _MONTH_DAY.fullmatch(phrase):
        month, day, year = _MONTHS[match[1]], int(match[2]), match[3]
    elif match := _DAY_MONTH.fullmatch(phrase):
        month, day, year = _MONTHS[match[2]], int(match[1]), match[3]
    else:
        return None
    if year is None:
        return _upcoming(month, day, today, phrase)
    return _date(int(year), month, day, phrase)


def _relative(phrase: str, today: date) -> date | None:
    if match := _BUSINESS.fullmatch(phrase):
        weeks, left = divmod(_number(match[1] or match[2]), 5)
        if weeks and not left:
            weeks, left = weeks - 1, 5
        due = today + timedelta(weeks=weeks)
        while left > 0:
            due += timedelta(days=1)
            left -= due.weekday() < 5
        return due
    match = _RELATIVE.fullmatch(phrase)
    if match is None:
        return None
    count, unit = _number(match[1] or match[2]), _UNITS[match[3]]
    if unit == "month":
        return _add_months(today, count)
    return today + timedelta(days=count * (7 if unit == "week" else 1))


def _weekday_next_week(phrase: str, today: date) -> date | None:
    match = _WEEKDAY_NEXT_WEEK.fullmatch(phrase)
    if match is None:
        return None
    return _next_monday(today) + timedelta(days=_WEEKDAYS[match[1] or match[2]])


def _refused(phrase: str, today: date) -> date | None:
    if phrase.isdigit():
        raise UserError(
            f"{quote(phrase)} alone isn't a date: for days from now write `in {phrase[:4]} days`; "
            f"for a day of the month, name the month (`dec {phrase[:2]}`)."
        )
    if match := _MONTH_ONLY.fullmatch(phrase):
        name = calendar.month_name[_MONTHS[match[1]]]
        raise UserError(
            f"Which day in {name}? Write `{name[:3].lower()} 1`, `end of month` or a date "
            "like `2026-12-01`."
        )
    return None


_RULES: tuple[Callable[[str, date], date | None], ...] = (
    _keywords,
    _iso,
    _numeric,
    _month_day,
    _relative,
    _weekday_next_week,
    _refused,
)


def _with_dateparser(phrase: str, base: datetime) -> date | None:
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": base,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    try:
        parsed = DateDataParser(languages=["en"], settings=settings).get_date_data(phrase)
    except Exception:  # dateparser's own bugs must not become the user's problem
        log.debug("dateparser failed on %r", phrase, exc_info=True)
        return None
    moment = parsed.date_obj
    return moment.date() if isinstance(moment, datetime) else None


def _date(year: int, month: int, day: int, shown: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise UserError(f"There is no such date as {quote(shown)}. " + EXAMPLES) from None


def _upcoming(month: int, day: int, today: date, shown: str) -> date:
    """`month`/`day` without a year: this year's, unless it is long gone (then next year's).

    A date a few weeks back is more likely a slip than a due date a year away, so it is
    returned as it is and refused as past. Feb 29 moves to the next leap year.
    """
    for year in range(today.year, today.year + 5):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today or (today - candidate).days <= RECENT_PAST_DAYS:
            return candidate
    raise UserError(f"There is no such date as {quote(shown)}. " + EXAMPLES)


def _month_day_name(month: int, day: int) -> str:
    return f"{calendar.month_name[month]} {day}"


def _next_monday(today: date) -> date:
    return today + timedelta(days=7 - today.weekday())


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
