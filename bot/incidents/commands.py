"""Parsing `/incident` command text into a command value (pure; raises UserError)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.errors import UserError
from bot.core.timeparse import CLOCK_SKEW, TIME_HELP, parse_time_prefix
from bot.incidents.keytimes import SETTABLE
from bot.knowledge.commands import KnowledgeCommand, parse_list, parse_search, parse_tag
from bot.slack.mrkdwn import quote
from storage.models import IncidentStatus, KeyTime, Severity

MAX_TITLE_LENGTH = 150  # Slack's header block limit

USAGE = (
    "*/incident* commands:\n"
    "• `/incident declare <title> [sev1-sev5]` — declare an incident bound to this channel "
    "(quote a title with a word like a severity in it: "
    '`/incident declare "Disk p2 full" sev3`)\n'
    "• `/incident status` — show this channel's incident\n"
    "• `/incident severity <sev1-sev5>` — change its severity\n"
    "• `/incident mitigated [at <time>]` — the impact has stopped (now, or at `14:32`, "
    "`yesterday 23:50`, `14:32 UTC`…; again with a time to correct it)\n"
    "• `/incident resolved [at <time>]` — the incident is over\n"
    "• `/incident impact started <time>`, `/incident impact ended <time>` — when customers were "
    "first and last affected (the metrics are measured from impact start)\n"
    "• `/incident times` — see and edit every key time\n"
    "• `/incident reopen` — it isn't over after all: active again\n"
    "• `/incident update <text> [--component api,checkout] [--public]` — post an update for "
    "stakeholders (`--public` also shows it on the status page)\n"
    "• `/incident components api,checkout` — set the affected components (`none` clears them)\n"
    "• `/incident list [open|resolved|recent|mine|sev1…|tag:<tag>]` — past and current "
    "incidents, privately, newest first\n"
    "• `/incident search <words> [tag:<tag>]` — search titles, timelines, channel logs, "
    "postmortems and follow-ups\n"
    "• `/incident tag database,payments` — tag this channel's incident (`/incident tag` shows "
    "its tags, `/incident untag payments` removes one, `/incident tags` lists everyone's; "
    "`/incident tag INC-42 database` tags another)\n"
    "• `/incident help` — this message"
)
VALID_SEVERITIES = "sev1 (worst) to sev5 (sev1, sev2, sev3, sev4, sev5)"

_SEVERITY = re.compile(r"^sev[-_ ]?([1-5])$", re.IGNORECASE)
# Anything that looks like a severity or a priority: sev0, SEV-9, p0, (P2), [p1].
_SEVERITY_LIKE = re.compile(r"^[(\[]?(sev|p)[-_]?\d+[)\]]?[.,;:!]?$", re.IGNORECASE)
_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c"}
MAX_UPDATE_LENGTH = 2500  # a section block holds 3000 characters; leave room for the frame
MAX_COMPONENT_LENGTH = 64
MAX_COMPONENTS = 20
_COMPONENT = re.compile(r"[a-z0-9][a-z0-9_-]*")
# A trailing option: `<text> --public`, `<text> --component api,checkout`.
_TRAILING_OPTION = re.compile(
    r"\s+--(public|components?)(?:(?<=public)|(?:=|\s+)([A-Za-z0-9][\w,-]*))\s*$",
    re.IGNORECASE,
)
_DASHED_OPTION = re.compile(r"(^|\s)[\u2014\u2013](public|components?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Declare:
    title: str
    severity: Severity | None


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class SetSeverity:
    severity: Severity


@dataclass(frozen=True)
class SetStatus:
    status: IncidentStatus
    at_words: str | None = None  # `mitigated at 14:32`: read later in the user's time zone


@dataclass(frozen=True)
class SetKeyTime:
    """`/incident impact started 13:58 UTC`, `/incident impact ended yesterday 23:50`."""

    kind: KeyTime
    at_words: str  # read later in the user's time zone (bot.core.timeparse)


@dataclass(frozen=True)
class EditKeyTimes:
    """`/incident times`: open the "Edit key times" modal."""


@dataclass(frozen=True)
class Reopen:
    pass


@dataclass(frozen=True)
class Update:
    text: str  # as Slack delivered it, options removed
    components: tuple[str, ...]
    public: bool


@dataclass(frozen=True)
class SetComponents:
    components: tuple[str, ...]  # empty: clear them


IncidentCommand = (
    Help
    | Declare
    | ShowStatus
    | SetSeverity
    | SetStatus
    | SetKeyTime
    | EditKeyTimes
    | Reopen
    | Update
    | SetComponents
    | KnowledgeCommand
)

_STATUS_WORDS = {
    "mitigated": IncidentStatus.MITIGATED,
    "mitigate": IncidentStatus.MITIGATED,
    "resolved": IncidentStatus.RESOLVED,
    "resolve": IncidentStatus.RESOLVED,
}


def parse_severity(word: str) -> Severity | None:
    match = _SEVERITY.match(word.strip())
    return Severity(f"sev{match.group(1)}") if match else None


def looks_like_severity(word: str) -> bool:
    """A word meant as a severity or priority, valid or not (`sev0`, `p1`, `(SEV-9)`)."""
    return bool(_SEVERITY_LIKE.match(word.strip()))


def _not_a_severity(word: str) -> UserError:
    shown = quote(word)
    if word.strip("()[].,;:!").lower().startswith("p"):
        return UserError(
            f"{shown} is a priority (follow-ups have those); an incident's severity is "
            f"{VALID_SEVERITIES}."
        )
    return UserError(f"{shown} isn't a severity. Use {VALID_SEVERITIES}.")


def _severity_or_error(arg: str) -> Severity:
    severity = parse_severity(arg)
    if severity is None:
        if looks_like_severity(arg):
            raise _not_a_severity(arg)
        shown = f" {quote(arg)}" if arg else ""
        raise UserError(
            f"I couldn't read the severity{shown}. Use {VALID_SEVERITIES}, "
            "for example `/incident severity sev2`."
        )
    return severity


def _quoted(text: str) -> tuple[str, str] | None:
    """`"title" rest` → (title, rest) when the text starts with a quote that is closed."""
    closing = _QUOTES.get(text[:1])
    if closing is None:
        return None
    end = text.find(closing, 1)
    return (text[1:end], text[end + 1 :]) if end > 0 else None


def _take_severity(words: list[str], index: int) -> Severity | None:
    """The severity at `words[index]` (first or last), removed; an unknown one is an error."""
    if not words or not looks_like_severity(words[index]):
        return None
    word = words.pop(index)
    severity = parse_severity(word.strip("()[].,;:!"))
    if severity is None:
        raise _not_a_severity(word)
    return severity


def _parse_declare(rest: str) -> Declare:
    quoted = _quoted(rest.strip())
    if quoted is not None:
        title, after_words = quoted[0].strip(), quoted[1].split()
        severity = _take_severity(after_words, -1)
        if after_words:
            raise UserError(
                f"After the quoted title only a severity can follow ({VALID_SEVERITIES}); "
                f"{quote(' '.join(after_words))} isn't one."
            )
    else:
        words = rest.split()
        severity = _take_severity(words, -1)
        first = _take_severity(words, 0)
        if severity is not None and first is not None:
            raise UserError("Give one severity, at the end: `/incident declare <title> sev2`.")
        severity = severity or first
        stray = next((w for w in words if looks_like_severity(w)), None)
        if stray is not None:
            if parse_severity(stray.strip("()[].,;:!")) is None:
                raise _not_a_severity(stray)
            raise UserError(
                f"Put the severity at the end (`/incident declare <title> sev2`), or quote a "
                f'title that contains {quote(stray)}: `/incident declare "<title>" sev2`.'
            )
        title = " ".join(words).strip()
    if not title:
        raise UserError(
            "Give the incident a title, for example `/incident declare Checkout returns 500s sev2`."
        )
    if len(title) > MAX_TITLE_LENGTH:
        raise UserError(
            f"That title is {len(title)} characters; keep it under {MAX_TITLE_LENGTH} "
            "(details can go in the timeline with `/timeline`)."
        )
    return Declare(title=title, severity=severity)


def parse_components(raw: str) -> tuple[str, ...]:
    """`api, checkout` or `api,checkout` → ("api", "checkout"); lowercase slugs, no repeats."""
    names: list[str] = []
    for part in re.split(r"[,\s]+", raw.strip()):
        if not part:
            continue
        name = part.lower()
        if not _COMPONENT.fullmatch(name) or len(name) > MAX_COMPONENT_LENGTH:
            raise UserError(
                f"{quote(part)} isn't a component name. Use lowercase letters, digits, `-` and `_` "
                f"(up to {MAX_COMPONENT_LENGTH} characters), separated by commas, "
                "for example `api,checkout`."
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_COMPONENTS:
        raise UserError(f"That is {len(names)} components; name at most {MAX_COMPONENTS}.")
    return tuple(names)


def _parse_set_components(rest: str) -> SetComponents:
    if not rest:
        raise UserError(
            "Name the affected components, for example `/incident components api,checkout` "
            "(or `/incident components none` to clear them)."
        )
    if rest.lower() in ("none", "clear", "-"):
        return SetComponents(())
    return SetComponents(parse_components(rest))


def _first_word(text: str) -> tuple[str, str]:
    parts = text.lstrip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _parse_update(rest: str) -> Update:
    components: list[str] = []
    public = False
    # Phones and macOS turn `--` into a dash: read `—public` as `--public`.
    text = _DASHED_OPTION.sub(r"\1--\2", rest)
    while text.lstrip().startswith("--"):  # options first: `--public --component api <text>`
        word, text = _first_word(text)
        option, equals, value = word[2:].partition("=")
        option = option.lower()
        if option == "public" and not equals:
            public = True
            continue
        if option not in ("component", "components"):
            raise UserError(
                f"I don't know the option {quote(word)}. "
                "`/incident update` takes `--component api,checkout` and `--public`."
            )
        if not equals:
            value, text = _first_word(text)
        if not value:
            raise UserError(
                "`--component` needs names after it, for example "
                "`/incident update --component api,checkout Payments are recovering`."
            )
        components.extend(c for c in parse_components(value) if c not in components)
    # ...or last: `<text> --component api --public`
    while True:
        match = _TRAILING_OPTION.search(text)
        if match is None:
            break
        if match.group(1).lower() == "public":
            public = True
        else:
            components.extend(c for c in parse_components(match.group(2)) if c not in components)
        text = text[: match.start()]
    text = text.strip()
    if not text:
        raise UserError(
            "Write the update after the command, for example "
            "`/incident update --public We found the cause and are rolling back`."
        )
    if len(text) > MAX_UPDATE_LENGTH:
        raise UserError(
            f"That update is {len(text)} characters; keep it under {MAX_UPDATE_LENGTH} "
            "(post details in the channel and summarise them here)."
        )
    if len(components) > MAX_COMPONENTS:
        raise UserError(f"That is {len(components)} components; name at most {MAX_COMPONENTS}.")
    return Update(text=text, components=tuple(components), public=public)


_TIME_START = re.compile(r"^(at\b|today\b|yesterday\b|\d)", re.IGNORECASE)
_IMPACT_WORDS = {
    "started": KeyTime.IMPACT_STARTED,
    "start": KeyTime.IMPACT_STARTED,
    "began": KeyTime.IMPACT_STARTED,
    "ended": KeyTime.IMPACT_ENDED,
    "end": KeyTime.IMPACT_ENDED,
    "stopped": KeyTime.IMPACT_ENDED,
}


def _time_words(rest: str) -> str:
    """`at 14:32` or `14:32` → `14:32` (the words are read later with the user's zone)."""
    words = rest.strip()
    if words.lower() == "at":
        return ""
    return words[3:].strip() if words.lower().startswith("at ") else words


def _parse_status(verb: str, rest: str) -> SetStatus:
    status = _STATUS_WORDS[verb]
    if not rest:
        return SetStatus(status)
    if not _TIME_START.match(rest):
        raise UserError(
            f"`/incident {verb}` takes no text after it, or a time: "
            f"`/incident {verb} at 14:32`. Log details with `/timeline <what happened>`."
        )
    words = _time_words(rest)
    if not words:
        raise UserError(f"Say when: `/incident {verb} at 14:32`. {TIME_HELP}")
    return SetStatus(status, words)


def _parse_impact(rest: str) -> SetKeyTime:
    word, _, when = rest.partition(" ")
    kind = _IMPACT_WORDS.get(word.lower())
    if kind is None:
        raise UserError(
            "Say when customers were first or last affected: `/incident impact started 13:58` "
            "or `/incident impact ended 15:10`. " + TIME_HELP
        )
    words = _time_words(when)
    if not words:
        raise UserError(f"Say when: `/incident impact {word.lower()} 13:58`. {TIME_HELP}")
    return SetKeyTime(kind, words)


def read_time(words: str, *, now: datetime, tz_name: str | None, what: str) -> datetime:
    """The moment in `SetStatus.at_words`/`SetKeyTime.at_words`, in the user's time zone
    (same grammar as `/timeline at`); nothing may follow it, and it can't be in the future."""
    parsed = parse_time_prefix(words, now=now, tz_name=tz_name)
    if parsed.rest:
        raise UserError(
            f"Only a time goes after `{what}`; {quote(parsed.rest)} isn't part of one. " + TIME_HELP
        )
    if parsed.moment > now + CLOCK_SKEW:
        raise UserError(f"{quote(words)} is in the future. " + TIME_HELP)
    return parsed.moment


def parse_incident(text: str) -> IncidentCommand:
    """The whole `/incident` grammar."""
    text = text.strip()
    if not text:
        return Help()
    verb, _, rest = text.partition(" ")
    verb = verb.lower()
    rest = rest.strip()
    if verb in ("help", "?", "-h", "--help"):
        return Help()
    if verb in ("declare", "start", "new", "open"):
        return _parse_declare(rest)
    if verb in ("severity", "sev"):
        return SetSeverity(_severity_or_error(rest))
    if verb == "status":
        if not rest:
            return ShowStatus()
        if rest.lower() in _STATUS_WORDS:
            return SetStatus(_STATUS_WORDS[rest.lower()])
        raise UserError(
            "`/incident status` takes no argument, or `mitigated`/`resolved` "
            f"(got {quote(rest)}).\n\n{USAGE}"
        )
    if verb in _STATUS_WORDS:
        return _parse_status(verb, rest)
    if verb == "impact":
        return _parse_impact(rest)
    if verb in ("times", "keytimes", "key-times") or (verb == "key" and rest.lower() == "times"):
        return EditKeyTimes()
    if verb in ("reopen", "re-open", "unresolve"):
        if rest:
            raise UserError("`/incident reopen` takes no text after it.")
        return Reopen()
    if verb == "update":
        return _parse_update(rest)
    if verb in ("components", "component"):
        return _parse_set_components(rest)
    if verb in ("list", "ls"):
        return parse_list(rest)
    if verb in ("search", "find"):
        return parse_search(rest)
    if verb in ("tag", "tags", "untag"):
        return parse_tag(verb, rest)
    if looks_like_severity(verb):
        if rest:
            raise UserError(f"Did you mean `/incident severity {verb}`?\n\n{USAGE}")
        return SetSeverity(_severity_or_error(verb))
    raise UserError(f"I don't know {quote('/incident ' + verb)}.\n\n{USAGE}")


@dataclass(frozen=True)
class KeyTimesEdit:
    """The "Edit key times" modal read back: the values to store (None: derive again), or the
    errors to show next to the fields (keyed by block id, as `response_action: errors` wants)."""

    incident_id: int
    channel_id: str | None
    values: dict[KeyTime, datetime | None]
    errors: dict[str, str]


def read_key_times_edit(
    values: dict[str, Any], private_metadata: str | None, *, now: datetime
) -> KeyTimesEdit:
    """Read the modal's fields (UTC, as the modal says); every settable key time is in it."""
    meta = json.loads(private_metadata or "{}")
    read: dict[KeyTime, datetime | None] = {}
    errors: dict[str, str] = {}
    for kind in SETTABLE:
        raw = ((values.get(kind.value) or {}).get("value") or {}).get("value") or ""
        if not raw.strip():
            read[kind] = None
            continue
        try:
            read[kind] = read_time(raw, now=now, tz_name="UTC", what=kind.label.lower())
        except UserError as error:
            errors[kind.value] = error.message[:150]
    return KeyTimesEdit(
        incident_id=int(meta.get("incident_id", 0)),
        channel_id=meta.get("channel_id") or None,
        values=read,
        errors=errors,
    )
