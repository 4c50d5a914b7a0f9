"""Parsing `/incident list`, `/incident search`, `/incident tag|untag|tags` (pure; raises
UserError with what was wrong and how to write it)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError
from bot.knowledge.search import MAX_QUERY_LENGTH, SearchQuery, parse_query
from bot.knowledge.tags import normalise_tag, parse_tags
from bot.slack.mrkdwn import quote
from storage.models import IncidentStatus, Severity

LIST_HELP = (
    "`/incident list` takes any of `open`, `resolved`, `recent` (last 30 days), `mine`, "
    "`sev1`…`sev5` and `tag:<tag>`, for example `/incident list open sev1 sev2` or "
    "`/incident list tag:database`."
)
SEARCH_HELP = (
    "For example `/incident search redis timeout`, a phrase in quotes "
    '(`/incident search "connection pool"`), and `tag:<tag>` to keep to one tag.'
)
_SEVERITY = re.compile(r"^sev[-_]?([1-5])$", re.IGNORECASE)
_KEY = re.compile(r"^(?:inc-?)?(\d{1,9})$", re.IGNORECASE)


@dataclass(frozen=True)
class ListIncidents:
    """`/incident list [open|resolved|recent|mine|sev1…|tag:x]` (words combine: AND)."""

    statuses: tuple[IncidentStatus, ...] = ()
    severities: tuple[Severity, ...] = ()
    tag: str | None = None
    recent: bool = False
    mine: bool = False
    text: str = ""  # as typed, normalised: what the paging buttons run again


@dataclass(frozen=True)
class SearchIncidents:
    query: SearchQuery
    tag: str | None = None
    text: str = ""  # as typed: what the paging buttons run again


@dataclass(frozen=True)
class TagIncident:
    """`/incident tag [INC-42] database,payments`: no tags shows the incident's tags."""

    tags: tuple[str, ...]
    number: int | None = None  # None: this channel's incident


@dataclass(frozen=True)
class UntagIncident:
    tags: tuple[str, ...]
    number: int | None = None


@dataclass(frozen=True)
class ListTags:
    """`/incident tags`: the workspace's tags, most used first."""


KnowledgeCommand = ListIncidents | SearchIncidents | TagIncident | UntagIncident | ListTags

_OPEN = (IncidentStatus.ACTIVE, IncidentStatus.MITIGATED)


def _tag_word(word: str) -> str | None:
    prefix, colon, value = word.partition(":")
    if not colon or prefix.lower() not in ("tag", "tags", "#"):
        return None
    if not value:
        raise UserError("Put the tag right after `tag:`, for example `tag:database`.")
    return normalise_tag(value)


def parse_list(rest: str) -> ListIncidents:
    statuses: list[IncidentStatus] = []
    severities: list[Severity] = []
    tag: str | None = None
    recent = mine = False
    for word in rest.split():
        lower = word.lower()
        severity = _SEVERITY.match(lower)
        if lower in ("open", "active", "ongoing"):
            statuses.extend(s for s in _OPEN if s not in statuses)
        elif lower in ("resolved", "closed"):
            if IncidentStatus.RESOLVED not in statuses:
                statuses.append(IncidentStatus.RESOLVED)
        elif lower == "mitigated":
            if IncidentStatus.MITIGATED not in statuses:
                statuses.append(IncidentStatus.MITIGATED)
        elif lower in ("recent", "latest"):
            recent = True
        elif lower in ("mine", "my", "me"):
            mine = True
        elif lower in ("all", "everything"):
            continue
        elif severity is not None:
            value = Severity(f"sev{severity.group(1)}")
            if value not in severities:
                severities.append(value)
        elif (found := _tag_word(word)) is not None:
            if tag is not None and tag != found:
                raise UserError("Give one `tag:` at a time. " + LIST_HELP)
            tag = found
        else:
            raise UserError(f"I can't list by {quote(word)}. " + LIST_HELP)
    words = [s.value for s in statuses] + [s.value for s in severities]
    words += ["recent"] * recent + ["mine"] * mine + ([f"tag:{tag}"] if tag else [])
    return ListIncidents(
        statuses=tuple(statuses),
        severities=tuple(severities),
        tag=tag,
        recent=recent,
        mine=mine,
        text=" ".join(words),
    )


def parse_search(rest: str) -> SearchIncidents:
    if len(rest) > MAX_QUERY_LENGTH:
        raise UserError(f"That search is {len(rest)} characters; keep it under {MAX_QUERY_LENGTH}.")
    tag: str | None = None
    kept: list[str] = []
    for word in rest.split(" "):
        found = _tag_word(word) if word else None
        if found is None:
            kept.append(word)
        elif tag is not None and tag != found:
            raise UserError("Give one `tag:` at a time. " + SEARCH_HELP)
        else:
            tag = found
    words = " ".join(kept).strip()
    if not words and tag is None:
        raise UserError("What should I search for? " + SEARCH_HELP)
    if not words:
        raise UserError(
            f"Give words to search for with the tag, or list by it: `/incident list tag:{tag}`."
        )
    return SearchIncidents(parse_query(words), tag, rest.strip())


def _incident_number(rest: str) -> tuple[int | None, str]:
    """`INC-42 database` → (42, "database"); otherwise (None, rest)."""
    first, _, after = rest.strip().partition(" ")
    match = _KEY.match(first)
    if match and first.lower().startswith("inc"):
        return int(match.group(1)), after.strip()
    return None, rest.strip()


def parse_tag(verb: str, rest: str) -> TagIncident | UntagIncident | ListTags:
    if verb == "tags" and not rest.strip():
        return ListTags()
    number, names = _incident_number(rest)
    if verb == "untag":
        if not names:
            raise UserError(
                "Name the tags to remove, for example `/incident untag payments` "
                "(`/incident tag` shows this incident's tags)."
            )
        return UntagIncident(parse_tags(names), number)
    return TagIncident(parse_tags(names) if names else (), number)
