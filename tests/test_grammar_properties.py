"""Properties of the `/incident`, `/followup` and `/postmortem` parsers over generated input:
whatever people type, a create never takes a subcommand or a severity/priority word into its
title (unless they quoted it), and nothing but a UserError ever comes out."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.followups.commands import SUBCOMMANDS as FOLLOWUP_SUBCOMMANDS
from bot.followups.commands import CreateFollowUp, parse_followup
from bot.incidents.commands import Declare, parse_incident
from bot.postmortem.commands import SUBCOMMANDS as POSTMORTEM_SUBCOMMANDS
from bot.postmortem.commands import Generate, parse_postmortem_command

QUOTES = ('"', "\u201c", "\u201d", "\u201e")
SEVERITY_OR_PRIORITY = re.compile(r"^[(\[]?(sev|p)[-_]?\d+[)\]]?[.,;:!]?$", re.IGNORECASE)
PRIORITY = re.compile(r"^[(\[]?p[-_]?\d+[)\]]?[.,;:!]?$", re.IGNORECASE)

_tricky = st.sampled_from(
    [
        # subcommands of all three commands, with the punctuation people add
        *sorted(FOLLOWUP_SUBCOMMANDS), "Done:", "REOPEN", "wontdo,", "help", "declare", "status",
        "mitigated", "resolved", "impact", "started", "ended", "reopen", "times", "generate",
        "owner", "attach", "--force", "\u2014force",
        # severities and priorities, valid and not
        "sev0", "sev1", "SEV2", "sev-3", "sev_4", "sev5", "sev9", "sev10", "p0", "p1", "P2",
        "(p3)", "[p4]", "p5", "p9", "(SEV1)", "p2,",
        # the rest of the grammar
        "due", "friday", "in", "3", "days", "at", "14:32", "UTC", "yesterday", "23:50",
        "F1", "INC-4-F2", "#3", "<@U0BOB|bob>", "<@U0ALICE>", "nobody", "all", "mine", "the",
        "fix", "port", "Checkout", "down",
    ]
)  # fmt: skip
_texts = st.one_of(
    st.lists(_tricky, min_size=0, max_size=9).map(" ".join),
    st.lists(st.one_of(_tricky, st.text(max_size=6)), max_size=9).map(" ".join),
    st.text(max_size=60),
)


def _unquoted(text: str) -> bool:
    return not any(q in text for q in QUOTES)


@settings(max_examples=600, deadline=None)
@given(_texts)
@example("declare X sev9")
@example("declare X sev0")
@example("declare Checkout sev2 down")
def test_a_declared_title_never_holds_a_severity_or_priority_word(text: str) -> None:
    for command_text in (text, f"declare {text}"):
        try:
            command = parse_incident(command_text)
        except UserError:
            continue
        if isinstance(command, Declare) and _unquoted(command_text):
            words = command.title.split()
            assert not any(SEVERITY_OR_PRIORITY.match(w) for w in words), command


@settings(max_examples=600, deadline=None)
@given(_texts)
@example("reopen F1")
@example("assign F2 @bob")
@example("Fix it p0")
@example("<@U0BOB> reopen the port p2")
def test_a_follow_up_title_never_starts_with_a_subcommand_or_holds_a_priority(text: str) -> None:
    try:
        command = parse_followup(text)
    except UserError:
        return
    if isinstance(command, CreateFollowUp) and _unquoted(text):
        words = command.title.split()
        assert words and words[0].lower().rstrip(":,.;!") not in FOLLOWUP_SUBCOMMANDS
        assert not any(PRIORITY.match(w) for w in words), command


@settings(max_examples=400, deadline=None)
@given(_texts)
@example("generate status")
@example("generate owner")
def test_a_template_name_is_never_a_postmortem_subcommand(text: str) -> None:
    for command_text in (text, f"generate {text}"):
        try:
            command = parse_postmortem_command(command_text)
        except UserError:
            continue
        if isinstance(command, Generate) and command.template is not None:
            assert command.template not in POSTMORTEM_SUBCOMMANDS, command
