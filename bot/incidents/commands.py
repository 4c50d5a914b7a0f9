"""Parsing `/incident` command text into a command value (pure; raises UserError)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError
from bot.slack.mrkdwn import quote
from storage.models import IncidentStatus, Severity

MAX_TITLE_LENGTH = 150  # Slack's header block limit

USAGE = (
    "*/incident* commands:\n"
    "• `/incident declare <title> [sev1-sev5]` — declare an incident bound to this channel\n"
    "• `/incident status` — show this channel's incident\n"
    "• `/incident severity <sev1-sev5>` — change its severity\n"
    "• `/incident mitigated` — the impact has stopped\n"
    "• `/incident resolved` — the incident is over\n"
    "• `/incident update <text> [--component api,checkout] [--public]` — post an update for "
    "stakeholders (`--public` also shows it on the status page)\n"
    "• `/incident components api,checkout` — set the affected components (`none` clears them)\n"
    "• `/incident help` — this message"
)

_SEVERITY = re.compile(r"^sev[-_ ]?([1-5])$", re.IGNORECASE)
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


@dataclass(frozen=True)
class Update:
    text: str  # as Slack delivered it, options removed
    components: tuple[str, ...]
    public: bool


@dataclass(frozen=True)
class SetComponents:
    components: tuple[str, ...]  # empty: clear them


IncidentCommand = Help | Declare | ShowStatus | SetSeverity | SetStatus | Update | SetComponents

_STATUS_WORDS = {
    "mitigated": IncidentStatus.MITIGATED,
    "mitigate": IncidentStatus.MITIGATED,
    "resolved": IncidentStatus.RESOLVED,
    "resolve": IncidentStatus.RESOLVED,
}


def parse_severity(word: str) -> Severity | None:
    match = _SEVERITY.match(word.strip())
    return Severity(f"sev{match.group(1)}") if match else None


def _severity_or_error(arg: str) -> Severity:
    severity = parse_severity(arg)
    if severity is None:
        shown = f" {quote(arg)}" if arg else ""
        raise UserError(
            f"I couldn't read the severity{shown}. Use sev1 (worst) to sev5, "
            "for example `/incident severity sev2`."
        )
    return severity


def _parse_declare(rest: str) -> Declare:
    words = rest.split()
    severity: Severity | None = None
    if words and parse_severity(words[-1]):
        severity = parse_severity(words.pop())
    elif words and parse_severity(words[0]):
        severity = parse_severity(words.pop(0))
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


def parse_incident_command(text: str) -> IncidentCommand:
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
        if rest:
            raise UserError(
                f"`/incident {verb}` takes no text after it. "
                "Log details with `/timeline <what happened>`."
            )
        return SetStatus(_STATUS_WORDS[verb])
    if verb == "update":
        return _parse_update(rest)
    if verb in ("components", "component"):
        return _parse_set_components(rest)
    if parse_severity(verb) and not rest:
        return SetSeverity(_severity_or_error(verb))
    raise UserError(f"I don't know {quote('/incident ' + verb)}.\n\n{USAGE}")
