"""Parsing `/followup` command text into command values (pure; raises UserError).

    /followup <what needs doing> [@owner] [due <date>] [p1-p4]
    /followup "<title>" [@owner] [due <date>] [p1-p4]
    /followup list [mine|overdue|all]
    /followup start|done|wontdo|reopen <id>      (INC-42-F3, F3 or 3)
    /followup assign <id> @user|nobody
    /followup due <id> <date>
    /followup export <id>|all
    /followup help

The owner (a mention, `<@U123|alice>` as Slack delivers it with should_escape) and the priority
may come first or last; `due <date>` comes last (before a trailing owner or priority). The due
date is read later, in the user's time zone, by `bot.dates`.

Strict where a mistake would be silent: a title never begins with a subcommand (`/followup
reopen F1` reopens F1; if it fails to parse, it is an error, not a follow-up titled "reopen
F1"), and a word like a priority that isn't one (`p0`, `p5`), or one in the middle of a title,
is an error that lists p1-p4. Quoting the title says "this is all title".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.core.dates import UnreadableDate, local_today, parse_due_date
from bot.core.errors import UserError
from bot.slack.mrkdwn import quote
from storage.models import FollowUpStatus, Priority

MAX_TITLE = 250
VALID_PRIORITIES = "p1 (most urgent) to p4 (p1, p2, p3, p4)"
QUOTE_HINT = 'If that is the title, quote it: `/followup "Reopen the firewall port" due friday`.'

USAGE = (
    "*/followup* commands (in the incident's channel):\n"
    "• `/followup Add alerting on queue depth @alice due friday p2` — capture a follow-up: "
    "owner (default: unassigned, for the commander to assign), due date (default: in 14 days; "
    "`2026-12-01`, `friday`, `in 3 days`, `next week`, `eow`, `dec 1`), priority p1-p4 "
    "(default p3). Quote a title that starts with a command word or has `due` in it: "
    '`/followup "Reopen the firewall port" due friday`\n'
    "• `/followup list` — this incident's open follow-ups; `list mine`, `list overdue`, "
    "`list all` (done and won't do too)\n"
    "• `/followup start|done|wontdo|reopen INC-42-F3` — change its status (`F3` or `3` work in "
    "the incident's channel)\n"
    "• `/followup assign F3 @bob` (or `nobody`), `/followup due F3 friday` — change its owner "
    "or due date\n"
    "• `/followup export INC-42-F3` or `/followup export all` — create Jira issues (when Jira "
    "is set up) that stay in sync with the follow-ups\n"
    "• Or use the *Create follow-up* shortcut on any message of the incident's channel."
)

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_PRIORITY = re.compile(r"\(?\[?(p[1-4])\]?\)?", re.IGNORECASE)
_PRIORITY_LIKE = re.compile(r"^[(\[]?p\d+[)\]]?[.,;:!]?$", re.IGNORECASE)
_REF = re.compile(r"#?(?:inc-?(\d{1,9})-)?f?(\d{1,9})", re.IGNORECASE)
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c"}
_DUE_WORDS = ("due", "due:")


class ListScope(enum.StrEnum):
    INCIDENT = "incident"  # the default in an incident's channel
    MINE = "mine"
    OVERDUE = "overdue"
    ALL = "all"


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListFollowUps:
    scope: ListScope | None  # None: the incident's open ones in its channel, else `mine`


@dataclass(frozen=True)
class FollowUpRef:
    """`INC-42-F3` (incident_number 42), or `F3`/`3` (the channel's incident)."""

    number: int
    incident_number: int | None

    @property
    def label(self) -> str:
        prefix = f"INC-{self.incident_number}-" if self.incident_number is not None else ""
        return f"{prefix}F{self.number}"


@dataclass(frozen=True)
class MarkDone:
    ref: FollowUpRef


@dataclass(frozen=True)
class ChangeStatus:
    """`/followup start|wontdo|reopen <id>` (`done` is MarkDone)."""

    ref: FollowUpRef
    status: FollowUpStatus


@dataclass(frozen=True)
class Assign:
    """`/followup assign <id> @user`, or `nobody` (the commander assigns it later)."""

    ref: FollowUpRef
    owner_id: str | None


@dataclass(frozen=True)
class SetDue:
    """`/followup due <id> <date>`: the date is read later in the user's time zone."""

    ref: FollowUpRef
    due_text: str


@dataclass(frozen=True)
class Export:
    """`/followup export <id>` (one) or `/followup export all` (the incident's open ones)."""

    ref: FollowUpRef | None  # None: all


@dataclass(frozen=True)
class CreateFollowUp:
    title: str  # as Slack delivered it
    owner_id: str | None
    due_text: str | None  # read with the user's time zone by bot.dates
    priority: Priority | None


@dataclass(frozen=True)
class NewFollowUp:
    """A follow-up ready to be created: the due date is a date in the creator's time zone."""

    title: str
    owner_id: str | None
    due_date: date
    priority: Priority


FollowUpCommand = (
    Help | ListFollowUps | MarkDone | ChangeStatus | Assign | SetDue | Export | CreateFollowUp
)
DEFAULT_PRIORITY = Priority.P3

STATUS_VERBS = {
    "start": FollowUpStatus.IN_PROGRESS,
    "started": FollowUpStatus.IN_PROGRESS,
    "wontdo": FollowUpStatus.WONT_DO,
    "wont-do": FollowUpStatus.WONT_DO,
    "won't-do": FollowUpStatus.WONT_DO,
    "won'tdo": FollowUpStatus.WONT_DO,
    "reopen": FollowUpStatus.OPEN,
    "re-open": FollowUpStatus.OPEN,
}
# A follow-up title never begins with one of these unless it is quoted. (`help` is a command
# only on its own, so "Help support with refunds" stays a title.)
SUBCOMMANDS = frozenset({"list", "ls", "done", "export", "assign", "due", *STATUS_VERBS})


def _command_word(word: str) -> str:
    return word.lower().rstrip(":,.;!")


def parse_followup(text: str) -> FollowUpCommand:
    """The whole `/followup` grammar."""
    text = text.strip()
    first, _, rest = text.partition(" ")
    verb, rest = _command_word(first), rest.strip()
    if verb in ("", "help", "?", "-h", "--help") and not rest:
        return Help()
    if verb in ("list", "ls"):
        return ListFollowUps(_scope(rest))
    if verb == "done":
        return MarkDone(_subcommand_ref("done", rest))
    if verb in STATUS_VERBS:
        return ChangeStatus(_subcommand_ref(verb, rest), STATUS_VERBS[verb])
    if verb == "assign":
        return _assign(rest)
    if verb == "due":
        return _set_due(rest)
    if verb == "export":
        if not rest:
            raise UserError(
                "Which one? `/followup export INC-42-F3` (or `F3` in its channel), or "
                "`/followup export all` for the incident's open follow-ups."
            )
        return Export(None if rest.lower() == "all" else _subcommand_ref("export", rest))
    return _create(text)


def _subcommand_ref(verb: str, rest: str) -> FollowUpRef:
    if not rest:
        raise UserError(
            f"Which one? `/followup {verb} INC-42-F3` (or `F3` in its channel). " + QUOTE_HINT
        )
    try:
        return parse_ref(rest)
    except UserError as error:
        raise UserError(f"{error.message} {QUOTE_HINT}") from None


def _assign(rest: str) -> Assign:
    words = rest.split()
    usage = "`/followup assign F3 @bob` (or `/followup assign F3 nobody`). " + QUOTE_HINT
    if len(words) != 2:
        raise UserError(f"Say which follow-up and who: {usage}")
    ref = _subcommand_ref("assign", words[0])
    if words[1].lower() in ("nobody", "none", "unassigned", "-"):
        return Assign(ref, None)
    mention = _MENTION.fullmatch(words[1])
    if mention is None:
        raise UserError(f"Mention the new owner: {usage}")
    return Assign(ref, mention[1])


def _set_due(rest: str) -> SetDue:
    ref_text, _, due_text = rest.partition(" ")
    if not ref_text or not due_text.strip():
        raise UserError(
            "Say which follow-up and when: `/followup due F3 friday` (`2026-12-01`, "
            "`in 3 days`, `next week`…). " + QUOTE_HINT
        )
    return SetDue(_subcommand_ref("due", ref_text), due_text.strip())


def parse_ref(text: str) -> FollowUpRef:
    match = _REF.fullmatch(text.strip())
    if match is None:
        raise UserError(
            f"{quote(text)} isn't a follow-up id. Use the id from its announcement, like "
            "`INC-42-F3`, or `F3` / `3` in the incident's channel."
        )
    incident = int(match[1]) if match[1] else None
    return FollowUpRef(number=int(match[2]), incident_number=incident)


def check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise UserError(
            "Say what needs doing: `/followup Add alerting on queue depth @alice due friday`."
        )
    if len(title) > MAX_TITLE:
        raise UserError(
            f"That title is {len(title)} characters; keep it under {MAX_TITLE} (a short "
            "summary; details belong in the thread of its announcement)."
        )
    return title


def _scope(word: str) -> ListScope | None:
    if not word:
        return None
    try:
        scope = ListScope(word.lower())
    except ValueError:
        scope = None
    if scope is None or scope is ListScope.INCIDENT:
        raise UserError(
            f"`/followup list` shows this incident's open follow-ups; {quote(word)} isn't one "
            "of its options: `list mine`, `list overdue` or `list all`."
        )
    return scope


class _Options:
    """Owner and priority tokens taken from either end of the text (at most one of each)."""

    def __init__(self) -> None:
        self.owner_id: str | None = None
        self.priority: Priority | None = None

    def take(self, token: str) -> bool:
        if match := _MENTION.fullmatch(token):
            if self.owner_id is not None:
                raise UserError(
                    "A follow-up has one owner: mention just one person (others can be "
                    "mentioned inside the title)."
                )
            self.owner_id = match[1]
            return True
        if match := _PRIORITY.fullmatch(token):
            if self.priority is not None:
                raise UserError(f"Give one priority, {VALID_PRIORITIES}.")
            self.priority = Priority(match[1].lower())
            return True
        if _PRIORITY_LIKE.match(token):
            raise UserError(f"{quote(token)} isn't a priority. Use {VALID_PRIORITIES}.")
        return False

    def strip(self, tokens: list[str], *, leading: bool) -> None:
        if leading:
            while tokens and self.take(tokens[0]):
                tokens.pop(0)
        while tokens and self.take(tokens[-1]):
            tokens.pop()


def _create(text: str) -> CreateFollowUp:
    options = _Options()
    quoted = _quoted_title(text)
    if quoted is not None:
        title, tokens = quoted[0], quoted[1].split()
        options.strip(tokens, leading=True)
        due_text = _take_due(tokens, options, anywhere=False)
        if tokens:
            raise UserError(
                f"After the quoted title, only an owner, `due <date>` and p1-p4 can follow; "
                f"{quote(' '.join(tokens))} isn't one of them."
            )
    else:
        tokens = text.split()
        options.strip(tokens, leading=True)
        due_text = _take_due(tokens, options, anywhere=True)
        _check_unquoted_title(tokens)
        title = " ".join(tokens)
    return CreateFollowUp(
        title=check_title(title),
        owner_id=options.owner_id,
        due_text=due_text,
        priority=options.priority,
    )


def _check_unquoted_title(tokens: list[str]) -> None:
    """An unquoted title does not start with a subcommand and holds no priority-like word."""
    if tokens and _command_word(tokens[0]) in SUBCOMMANDS:
        raise UserError(
            f"{quote(tokens[0])} is a `/followup` command, so I won't make it the start of a "
            f"title. {QUOTE_HINT}\n\n{USAGE}"
        )
    for token in tokens:
        if not _PRIORITY_LIKE.match(token):
            continue
        if _PRIORITY.fullmatch(token.rstrip(".,;:!")) is None:
            raise UserError(f"{quote(token)} isn't a priority. Use {VALID_PRIORITIES}.")
        raise UserError(
            f"Put the priority first or last (`/followup Fix it p2`), or quote a title that "
            f'contains {quote(token)}: `/followup "<title>" p2`.'
        )


def _take_due(tokens: list[str], options: _Options, *, anywhere: bool) -> str | None:
    """Remove `due <date>` (the last `due` with words after it) and return the date words."""
    starts = [i for i, token in enumerate(tokens[:-1]) if token.lower() in _DUE_WORDS]
    if not starts or (not anywhere and starts[-1] != 0):
        return None
    start = starts[-1]
    due_text = " ".join(tokens[start + 1 :])
    del tokens[start:]
    options.strip(tokens, leading=False)  # "Fix it @bob p2 due friday"
    return due_text


def _quoted_title(text: str) -> tuple[str, str] | None:
    """`"title" rest` → (title, rest) when the text starts with a quote that is closed."""
    opening = text[:1]
    closing = _QUOTES.get(opening)
    if closing is None:
        return None
    end = text.find(closing, 1)
    if end < 0:
        return None
    return text[1:end], text[end + 1 :]


def resolve_due(command: SetDue, *, now: datetime, tz_name: str | None) -> date:
    """`/followup due <id> <date>`: the date in the user's time zone."""
    try:
        return parse_due_date(command.due_text, today=now, tz_name=tz_name)
    except UnreadableDate as error:
        raise UserError(error.message) from None


def resolve(
    command: CreateFollowUp, *, now: datetime, tz_name: str | None, default_days: int
) -> NewFollowUp:
    """Read the due date in the user's time zone (default: `default_days` from today)."""
    if command.due_text is None:
        due = local_today(now, tz_name) + timedelta(days=default_days)
    else:
        try:
            due = parse_due_date(command.due_text, today=now, tz_name=tz_name)
        except UnreadableDate as error:
            hint = (
                ' If "due" belongs to the title, quote the title: '
                '`/followup "Fix the due date bug" due friday`.'
            )
            raise UserError(error.message + hint) from None
    return NewFollowUp(
        title=command.title,
        owner_id=command.owner_id,
        due_date=due,
        priority=command.priority or DEFAULT_PRIORITY,
    )
