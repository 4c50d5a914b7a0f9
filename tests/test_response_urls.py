"""The bot POSTs replies only to response_urls on SLACK_RESPONSE_URL_HOSTS (Slack's own:
hooks.slack.com). A response_url is part of the request body, so without the check whoever
writes the body picks a host and port for the bot to POST to from inside the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.core.settings import Settings
from bot.followups.flows import STALE
from bot.slack.response_urls import ResponseUrlPolicy, without_query
from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from tests.bench import ALICE, INCIDENT_CHANNEL, Bench, running_bench
from tests.logcapture import captured_logs
from tests.recorder import recording

SLACK_ONLY = ResponseUrlPolicy.parse("hooks.slack.com")


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/commands/T1/123/abc",
        "https://HOOKS.SLACK.COM/actions/T1/1/x?y=z",
        "https://hooks.slack.com:443/app/T1/1/x",
    ],
)
def test_slacks_response_urls_are_allowed(url: str) -> None:
    assert SLACK_ONLY.allows(url)


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "http://hooks.slack.com/commands/T1/1/x",  # not HTTPS
        "https://hooks.slack.com.evil.example/x",
        "https://evil.example/hooks.slack.com/x",
        "https://user@hooks.slack.com/x",
        "https://hooks.slack.com@evil.example/x",
        "https://hooks.slack.com:99999/x",
        "https://127.0.0.1:9/x",
        "http://127.0.0.1:9/x",
        "https://hooks.slack.com\\@evil.example/",
        "https://hooks.slack.com/x\r\nHost: evil",
        "ftp://hooks.slack.com/x",
        "//hooks.slack.com/x",
        "hooks.slack.com/x",
        "https://[::1]/x",
    ],
)
def test_anything_else_is_not(url: str | None) -> None:
    assert not SLACK_ONLY.allows(url)


def test_http_entries_allow_plain_http_to_that_host_only() -> None:
    policy = ResponseUrlPolicy.parse(" hooks.slack.com , http://127.0.0.1 ")
    assert policy.allows("http://127.0.0.1:8080/response/1")
    assert policy.allows("https://127.0.0.1/response/1")
    assert not policy.allows("http://localhost:8080/response/1")
    assert not policy.allows("http://hooks.slack.com/x")


def test_the_setting_defaults_to_slack_and_names_a_bad_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_RESPONSE_URL_HOSTS", raising=False)
    assert Settings().response_url_policy == SLACK_ONLY
    monkeypatch.setenv("SLACK_RESPONSE_URL_HOSTS", "hooks.slack.com,hooks.slack-gov.com")
    assert Settings().response_url_policy.allows("https://hooks.slack-gov.com/commands/x")
    monkeypatch.setenv("SLACK_RESPONSE_URL_HOSTS", "https://hooks.slack.com/path")
    with pytest.raises(ValidationError, match="slack_response_url_hosts"):
        Settings()


def test_a_logged_url_keeps_no_query() -> None:
    assert without_query("https://evil.example:8443/a/b?token=xoxb-1#frag") == (
        "https://evil.example/a/b"
    )


def _stale_button(bench: Bench, response_url: str) -> int:
    """A click on a follow-up button that no longer makes sense: its answer is a private
    message after the ack, through the response_url (or chat.postEphemeral)."""
    message = {"ts": "1796000000.000100", "text": "INC-1-F1", "blocks": []}
    reply = bench.requests.block_action(
        "followup_status:done",
        "not-an-id:done",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message=message,
        response_url=response_url,
    )
    return reply.status


def test_a_verified_request_with_a_foreign_response_url_is_answered_ephemerally(
    slack: FakeSlack, db: Database
) -> None:
    with recording() as recorder, captured_logs("INFO") as logs:
        # `localhost` is the recorder too, but not on the list (127.0.0.1 is, for the fake)
        foreign = f"http://localhost:{recorder.port}/steal?token=Sekrit42"
        with running_bench(slack, db) as bench:
            assert _stale_button(bench, foreign) == 200
            [posted] = slack.wait_for("chat.postEphemeral")
            allowed = recorder.url + "/allowed"
            assert _stale_button(bench, allowed) == 200
            wait_until(lambda: recorder.hits(), what="the reply to the allowed URL")
        hosts = [hit.host.split(":")[0] for hit in recorder.hits()]
    assert hosts == ["127.0.0.1"]  # only the allowed one was contacted
    assert posted.params["channel"] == INCIDENT_CHANNEL and posted.params["user"] == ALICE
    assert posted.params["text"] == STALE
    warnings = [line for line in logs.lines() if " WARNING " in line and "response_url" in line]
    assert warnings and "http://localhost/steal" in warnings[0]
    assert not any("Sekrit42" in line for line in logs.lines())  # the query is not logged
