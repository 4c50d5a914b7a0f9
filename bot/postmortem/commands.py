"""Parsing `/postmortem` command text (pure; raises UserError)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.errors import UserError
from bot.slack.mrkdwn import quote
from storage.models import PostmortemStatus

USAGE = (
    "*/postmortem* commands (in the incident's channel):\n"
    "• `/postmortem generate [template] [--force]` — build it from the timeline, the channel and "
    "the follow-ups, and publish it here (templates: `standard`, `concise`, or your own)\n"
    "• `/postmortem status draft|in-review|completed`\n"
    "• `/postmortem owner @someone` — they get a DM\n"
    "• `/postmortem attach <https://…>` — link one written elsewhere\n"
    "• `/postmortem remove` — unlink it (the document itself is not deleted)\n"
    "• `/postmortem show` — status, owner and link"
)

STATUS_WORDS = {
    "draft": PostmortemStatus.DRAFT,
    "in-review": PostmortemStatus.IN_REVIEW,
    "in_review": PostmortemStatus.IN_REVIEW,
    "inreview": PostmortemStatus.IN_REVIEW,
    "in review": PostmortemStatus.IN_REVIEW,
    "review": PostmortemStatus.IN_REVIEW,
    "completed": PostmortemStatus.COMPLETED,
    "complete": PostmortemStatus.COMPLETED,
    "done": PostmortemStatus.COMPLETED,
}
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Generate:
    template: str | None
    force: bool


@dataclass(frozen=True)
class SetStatus:
    status: PostmortemStatus


@dataclass(frozen=True)
class SetOwner:
    user_id: str


@dataclass(frozen=True)
class Attach:
    url: str


@dataclass(frozen=True)
class Remove:
    pass


@dataclass(frozen=True)
class Show:
    pass


PostmortemCommand = Help | Generate | SetStatus | SetOwner | Attach | Remove | Show


SUBCOMMANDS = frozenset(
    {"generate", "gen", "create", "regenerate", "status", "owner", "attach", "link", "remove",
     "unlink", "detach", "show", "info", "help"}
)  # fmt: skip
_FORCE = ("--force", "-f", "force", "\u2014force", "\u2013force")  # phones turn -- into a dash


def _generate(rest: str) -> Generate:
    words = rest.split()
    force = any(w.lower() in _FORCE for w in words)
    names = [w for w in words if w.lower() not in _FORCE]
    if names and names[0].lower() in SUBCOMMANDS:
        raise UserError(
            f"{quote(names[0])} is a `/postmortem` command, not a template: run "
            f"`/postmortem {names[0].lower()}` on its own, or name a template "
            "(`/postmortem generate concise`)."
        )
    if len(names) > 1 or (names and not _TEMPLATE_NAME.match(names[0])):
        raise UserError(
            f"{quote(rest)} is not a template name. Use `/postmortem generate` (standard), "
            "`/postmortem generate concise`, or the name of one of your templates."
        )
    return Generate(names[0].lower() if names else None, force)


def parse_postmortem_command(text: str) -> PostmortemCommand:
    text = text.strip()
    verb, _, rest = text.partition(" ")
    verb, rest = verb.lower(), rest.strip()
    if verb in ("", "help", "?", "-h", "--help"):
        return Help()
    if verb in ("generate", "gen", "create", "regenerate"):
        return _generate(rest)
    if verb == "status":
        status = STATUS_WORDS.get(" ".join(rest.lower().split()))
        if status is None:
            raise UserError(
                "Say which status: `/postmortem status draft`, `/postmortem status in-review` "
                "or `/postmortem status completed`."
            )
        return SetStatus(status)
    if verb == "owner":
        match = _MENTION.match(rest)
        if not match:
            raise UserError("Mention the new owner: `/postmortem owner @alice`.")
        return SetOwner(match.group(1))
    if verb in ("attach", "link"):
        if not rest:
            raise UserError("Give the link: `/postmortem attach https://wiki.example.com/inc-42`.")
        return Attach(rest)
    if verb in ("remove", "unlink", "detach"):
        return Remove()
    if verb in ("show", "info"):
        return Show()
    raise UserError(f"I don't know {quote('/postmortem ' + verb)}.\n\n{USAGE}")
