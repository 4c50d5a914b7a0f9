"""The pure rules of Jira sync: signatures, backoff, transition choice, priority mapping."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from bot.core.settings import load_settings, parse_priority_map
from bot.jira.gateway import Transition
from bot.jira.inbound import parse_jira_time
from bot.jira.links import backoff
from bot.jira.outbound import pick_transition
from bot.jira.webhook import signature_ok
from storage.models import FollowUpStatus


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"webhookEvent":"jira:issue_updated"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_ok("s3cret", body, good)
    assert signature_ok("s3cret", body, good.upper().replace("SHA256", "sha256"))
    assert not signature_ok("s3cret", body + b" ", good)
    assert not signature_ok("other", body, good)
    assert not signature_ok("s3cret", body, good.replace("sha256=", "sha1="))
    assert not signature_ok("s3cret", body, None)
    assert not signature_ok("", body, good)


def test_backoff_doubles_from_a_minute_up_to_six_hours() -> None:
    waits = [backoff(n) for n in range(1, 12)]
    assert waits[:4] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(hours=6) and max(waits) == timedelta(hours=6)
    assert backoff(10_000) == timedelta(hours=6)


def transition(tid: str, name: str, to: str, category: str) -> Transition:
    return Transition(id=tid, name=name, to_name=to, to_category=category)


WORKFLOW = [
    transition("11", "Start progress", "In Progress", "indeterminate"),
    transition("31", "Won't do", "Won't Do", "done"),
    transition("21", "Resolve", "Done", "done"),
    transition("41", "Back to backlog", "To Do", "new"),
]


@pytest.mark.parametrize(
    ("category", "wanted", "expected"),
    [
        ("done", FollowUpStatus.DONE, "21"),
        ("done", FollowUpStatus.WONT_DO, "31"),
        ("indeterminate", FollowUpStatus.IN_PROGRESS, "11"),
        ("new", FollowUpStatus.OPEN, "41"),
    ],
)
def test_transition_is_chosen_by_status_category(
    category: str, wanted: FollowUpStatus, expected: str
) -> None:
    chosen = pick_transition(WORKFLOW, category, wanted)
    assert chosen is not None and chosen.id == expected


def test_no_transition_into_the_category_is_none() -> None:
    assert pick_transition(WORKFLOW[:3], "new", FollowUpStatus.OPEN) is None


def test_jira_timestamps_parse_with_their_offset() -> None:
    parsed = parse_jira_time("2026-11-22T10:15:30.000+0100")
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=1)
    assert parse_jira_time("not a time") is None and parse_jira_time(None) is None


def test_priority_mapping_names_every_priority() -> None:
    assert parse_priority_map("p1=Blocker, p2=Critical,p3=Major,p4=Minor") == {
        "p1": "Blocker",
        "p2": "Critical",
        "p3": "Major",
        "p4": "Minor",
    }
    with pytest.raises(ValueError, match="p4"):
        parse_priority_map("p1=A,p2=B,p3=C")
    with pytest.raises(ValueError):
        parse_priority_map("p1=A,p2=B,p3=C,p9=D")


def test_jira_is_enabled_only_with_url_project_and_credentials() -> None:
    base = {"_env_file": None, "jira_url": "https://acme.atlassian.net", "jira_project": "OPS"}
    assert not load_settings(**base).jira_enabled
    assert not load_settings(**base, jira_email="a@b.c").jira_enabled
    assert load_settings(**base, jira_email="a@b.c", jira_api_token="t").jira_enabled
    assert load_settings(**base, jira_personal_access_token="pat").jira_enabled
    assert not load_settings(jira_url="https://x", jira_personal_access_token="p").jira_enabled
