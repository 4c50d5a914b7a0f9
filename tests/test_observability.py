"""Observability over real HTTP: JSON logs with request ids (into the listener threads, without
secrets or user text), X-Request-Id, and the Prometheus metrics scraped from GET /metrics.

Metrics are process-wide and tests build many bots in one process: every assertion is on the
difference between a scrape before and a scrape after.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from bot.app import create_bot
from bot.core.logs import configure_logging, request_id_var, secret_values
from bot.core.metrics import instrument_requests_session, path_template
from bot.core.settings import Settings
from bot.followups.commands import NewFollowUp
from bot.followups.service import create_followup
from bot.incidents.service import Workspace, declare_incident
from bot.reminders.sweep import sweep
from bot.services import Services
from bot.slack.client import make_web_client
from bot.web.observability import ContextPreservingExecutor, classify_slack_body
from bot.web.server import HttpServer, WebApp
from sandbox.harness import SIGNING_SECRET, sandbox_settings, wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import Priority
from tests.bench import ALICE, CAROL, INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench, running_bench

# -- helpers -----------------------------------------------------------------------------

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def scrape_until(url: str, moved: Callable[[Samples], bool], *, what: str) -> Samples:
    """Scrape until `moved` (for counters that move after the ack, in listener work)."""

    def check() -> Samples | None:
        samples = scrape(url)
        return samples if moved(samples) else None

    return wait_until(check, what=what)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()


class LogCapture:
    """Where configure_logging writes, in a test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def raw(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw().splitlines()]  # each line one object

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def captured_logs() -> Iterator[LogCapture]:
    """A buffer for configure_logging; the root logger is put back as it was afterwards."""
    root, sdk = logging.getLogger(), logging.getLogger("slack_sdk")
    handlers, level, sdk_level = root.handlers[:], root.level, sdk.level
    yield LogCapture()
    root.handlers[:] = handlers
    root.setLevel(level)
    sdk.setLevel(sdk_level)


def announced_followup_button(bench: Bench) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The follow-up announcement in the incident channel, its first button and block id."""

    def find() -> tuple[dict[str, Any], dict[str, Any], str] | None:
        for message in bench.slack.messages(INCIDENT_CHANNEL):
            for block in message.get("blocks", []):
                if block["type"] == "actions" and block["block_id"].startswith("followup:"):
                    button = next(e for e in block["elements"] if e["type"] == "button")
                    return message, button, block["block_id"]
        return None

    return wait_until(find, what="the follow-up announcement")


# -- request ids and JSON logs -----------------------------------------------------------


def test_json_logs_of_a_slash_command_carry_its_request_id_and_no_secrets_or_user_text(
    slack: FakeSlack, db: Database, captured_logs: LogCapture
) -> None:
    marker = f"Quokka{uuid.uuid4().hex[:8]} checkout melts"
    with running_bench(slack, db) as bench:
        settings = sandbox_settings(slack, db.url)  # what `run` reads, for the secrets
        configure_logging(
            "INFO", "json", secrets=secret_values(settings), stream=captured_logs.stream
        )
        # the work after the ack fails: its error is logged from an outbox worker
        slack.fail("chat.postMessage", "channel_not_found")
        request_id = f"lb-{uuid.uuid4().hex}"
        response_url = slack.new_response_url()
        reply = bench.requests.slash_command(
            "/incident",
            f"declare {marker} sev2",
            user_id=ALICE,
            channel_id=INCIDENT_CHANNEL,
            response_url=response_url,
            headers={"X-Request-Id": request_id},
        )
        assert reply.status == 200 and reply.headers["X-Request-Id"] == request_id
        assert "channel_not_found" in bench.ephemeral_reply(response_url)["text"]
        # a second request, without an id of its own, gets a new one
        other = bench.reply_to("/incident", "status", channel=PRIVATE_CHANNEL)
        assert other["response_type"] == "ephemeral"
    raw, logged = captured_logs.raw(), captured_logs.lines()
    assert logged, "nothing was logged"
    for line in logged:
        assert {"time", "level", "logger", "message"} <= line.keys()
        assert line["time"].endswith("Z")
        assert datetime.fromisoformat(line["time"]).tzinfo is not None

    # the announcement is an outbox job: a worker runs it after the ack, under the request's id
    [failure] = [
        line
        for line in logged
        if line["logger"] == "postmortem_bot.outbox" and "given up" in line["message"]
    ]
    assert failure["level"] == "ERROR" and failure["request_id"] == request_id
    assert failure["thread"].startswith("outbox")
    assert "channel_not_found" in failure["message"]

    access = [line for line in logged if line["logger"] == "postmortem_bot.http"]
    assert [(a["kind"], a["status"]) for a in access] == [("slash_command", 200)] * 2
    assert access[0]["request_id"] == request_id
    generated = access[1]["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated) and generated != request_id
    # every line written by an outbox worker belongs to one of the two requests
    worker_lines = [line for line in logged if line["thread"].startswith("outbox")]
    assert worker_lines and {line.get("request_id") for line in worker_lines} <= {
        request_id,
        generated,
    }

    assert marker not in raw and "Quokka" not in raw  # the command's text
    assert slack.bot_token not in raw and SIGNING_SECRET not in raw


def test_incoming_request_ids_are_kept_only_when_sane(bench: Bench) -> None:
    status, headers, _ = get(bench.url + "/healthz", {"X-Request-Id": "edge:1234.abc_DEF-9"})
    assert status == 200 and headers["X-Request-Id"] == "edge:1234.abc_DEF-9"
    for insane in ["has spaces in it", "x" * 129, "<script>", "-leading-dash"]:
        _, headers, _ = get(bench.url + "/healthz", {"X-Request-Id": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"]), insane
    status, first, _ = get(bench.url + "/nowhere")
    _, second, _ = get(bench.url + "/nowhere")
    assert status == 404 and first["X-Request-Id"] != second["X-Request-Id"]
    reply = bench.requests.slash_command("/incident", "help", user_id=ALICE, channel_id="C1")
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-Id"])


def test_the_listener_executor_runs_tasks_in_the_submitters_context() -> None:
    var: ContextVar[str | None] = ContextVar("probe", default=None)
    with ContextPreservingExecutor(2) as pool:
        assert pool.submit(var.get).result() is None
        token = var.set("request-1")
        try:
            assert pool.submit(var.get).result() == "request-1"

            def probe(a: int, *, b: int) -> tuple[int, int, str | None]:
                return a, b, var.get()

            assert pool.submit(probe, 1, b=2).result() == (1, 2, "request-1")
            pool.submit(var.set, "changed in the pool").result()
            assert var.get() == "request-1"  # a copy: the pool can't change the submitter's
        finally:
            var.reset(token)
        assert pool.submit(var.get).result() is None  # nothing sticks to the pool's threads


def test_json_and_text_lines_hold_extras_exceptions_and_the_request_id(
    captured_logs: LogCapture,
) -> None:
    logger = logging.getLogger("postmortem_bot.test")
    secrets = ["s3cret-signing-value", None, "abc"]
    configure_logging("info", "JSON", secrets=secrets, stream=captured_logs.stream)
    token = request_id_var.set("rid-42")
    try:
        logger.info("ready %s", "now", extra={"count": 3, "when": date(2026, 1, 2)})
        try:
            raise RuntimeError("boom with s3cret-signing-value and xoxb-1-2-3")
        except RuntimeError:
            logger.exception("failed")
    finally:
        request_id_var.reset(token)
    logger.debug("not at INFO")
    logger.warning("outside a request: abc")
    first, second, third = captured_logs.lines()
    assert first["message"] == "ready now" and first["request_id"] == "rid-42"
    assert (first["count"], first["when"], first["level"]) == (3, "2026-01-02", "INFO")
    assert first["logger"] == "postmortem_bot.test" and first["thread"] == "MainThread"
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exception"]
    assert "s3cret-signing-value" not in second["exception"]
    assert "xoxb-1-2-3" not in second["exception"] and "[redacted]" in second["exception"]
    assert "request_id" not in third
    assert third["message"] == "outside a request: abc"  # too short to be taken for a secret

    captured_logs.clear()
    configure_logging("INFO", "text", stream=captured_logs.stream)
    token = request_id_var.set("rid-43")
    try:
        logger.info("in a request")
    finally:
        request_id_var.reset(token)
    logger.info("outside")
    inside, outside = captured_logs.raw().splitlines()
    assert inside.endswith(" INFO postmortem_bot.test [rid-43]: in a request")
    assert outside.endswith(" INFO postmortem_bot.test: outside")


def test_every_configured_secret_is_known_to_the_logs() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token="xoxb-not-shaped-like-this",  # type: ignore[arg-type]
        slack_signing_secret="8f742231b10e8888",  # type: ignore[arg-type]
        jira_api_token="jira-api-token-1",  # type: ignore[arg-type]
        database_url="postgresql://bot:p%40ssw0rd@db:5432/pm",
    )
    found = set(secret_values(settings))
    assert {"xoxb-not-shaped-like-this", "8f742231b10e8888", "jira-api-token-1"} <= found
    assert {"p%40ssw0rd", "p@ssw0rd"} <= found


def test_log_format_and_metrics_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", " JSON ")
    monkeypatch.setenv("METRICS_ENABLED", "false")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.log_format, settings.metrics_enabled) == ("json", False)
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError, match="log_format"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("LOG_FORMAT")
    monkeypatch.delenv("METRICS_ENABLED")
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.log_format, defaults.metrics_enabled) == ("text", True)


# -- request metrics ---------------------------------------------------------------------


def test_requests_are_counted_by_kind_and_status_and_their_ack_is_timed(bench: Bench) -> None:
    before = scrape(bench.url)
    for command, text in [
        ("/incident", "declare Checkout returns 500s sev2"),
        ("/followup", "Add alerting on queue depth"),
        ("/incident", "help"),
    ]:
        reply, _ = bench.command(command, text)
        assert reply.status == 200, (command, reply.body)
        if text.startswith("declare"):  # the incident exists once it is announced
            bench.slack.wait_for("chat.postMessage")
    message, button, block_id = announced_followup_button(bench)
    clicked = bench.requests.block_action(
        button["action_id"],
        button["value"],
        user_id=CAROL,
        channel_id=INCIDENT_CHANNEL,
        message=message,
        block_id=block_id,
    )
    assert clicked.status == 200
    unsigned = bench.requests.slash_command(
        "/incident", "help", user_id=ALICE, channel_id=INCIDENT_CHANNEL, signed=False
    )
    assert unsigned.status == 401
    after = scrape(bench.url)

    requests_total = "postmortem_bot_slack_requests_total"
    assert delta(before, after, requests_total, kind="slash_command", status="200") == 3
    assert delta(before, after, requests_total, kind="slash_command", status="401") == 1
    assert delta(before, after, requests_total, kind="block_action", status="200") == 1
    assert delta(before, after, requests_total, kind="view_submission", status="200") == 0
    ack = "postmortem_bot_slack_ack_duration_seconds"
    assert delta(before, after, ack + "_count", kind="slash_command") == 4
    assert delta(before, after, ack + "_bucket", kind="slash_command", le="3.0") == 4
    assert delta(before, after, ack + "_count", kind="block_action") == 1
    assert 0 < delta(before, after, ack + "_sum", kind="slash_command") < 4 * 3
    http = "postmortem_bot_http_requests_total"
    assert delta(before, after, http, route="/slack/events", status="200") == 4
    assert delta(before, after, http, route="/slack/events", status="401") == 1
    assert delta(before, after, http, route="/metrics", status="200") == 1  # the first scrape


def test_the_body_is_classified_without_being_consumed() -> None:
    form = "application/x-www-form-urlencoded"

    def payload(kind: str) -> bytes:
        return ("payload=" + urllib.parse.quote(json.dumps({"type": kind}))).encode()

    def event(kind: str) -> bytes:
        return json.dumps({"type": "event_callback", "event": {"type": kind}}).encode()

    cases = [
        (b"command=%2Fincident&text=help", form, "slash_command"),
        (payload("shortcut"), form, "shortcut"),
        (payload("message_action"), form, "shortcut"),
        (payload("block_actions"), form, "block_action"),
        (payload("view_submission"), form, "view_submission"),
        (payload("view_closed"), form, "view_closed"),
        (payload("block_suggestion"), form, "options"),
        (payload("something_new"), form, "other"),
        (b"payload=%7Bnot+json", form, "other"),
        (b"ssl_check=1&token=x", form, "other"),
        (event("message"), "application/json", "event_message"),
        (event("reaction_removed"), "application/json; charset=utf-8", "event_reaction"),
        (event("app_home_opened"), "application/json", "event_app_home"),
        (event("member_joined_channel"), "application/json", "event_channel"),
        (event("made_up_" + "x" * 50), "application/json", "event_other"),
        (b'{"type": "url_verification", "challenge": "c"}', "application/json", "url_verification"),
        (b"[1, 2]", "application/json", "other"),
        (b"\xff\xfe", "application/json", "other"),
    ]
    for body, content_type, expected in cases:
        assert classify_slack_body(body, content_type) == expected, body


def test_metrics_can_be_turned_off(slack: FakeSlack, db: Database) -> None:
    settings = sandbox_settings(slack, db.url, metrics_enabled=False)
    bot = create_bot(Services(settings=settings, db=db))
    web = WebApp(bot.app, db, metrics_enabled=settings.metrics_enabled)
    server = HttpServer(web, host="127.0.0.1", port=0, on_drained=bot.close)
    server.start_in_background()
    try:
        status, headers, _ = get(server.url + "/metrics")
        assert status == 404 and "X-Request-Id" in headers
        assert get(server.url + "/healthz")[0] == 200
    finally:
        server.stop()


# -- outgoing API calls ------------------------------------------------------------------


def test_slack_api_calls_are_counted_by_method_and_error(slack: FakeSlack, db: Database) -> None:
    calls, errors = "postmortem_bot_api_calls_total", "postmortem_bot_api_errors_total"
    post = {"service": "slack", "method": "chat.postMessage"}
    with running_bench(slack, db) as bench:
        before = scrape(bench.url)
        slack.reset_calls()
        middle, after = _post_then_fail(bench, before)
    assert delta(before, middle, calls, **post) == 1
    assert delta(before, middle, errors, error="channel_not_found", **post) == 0
    assert delta(before, middle, "postmortem_bot_api_call_duration_seconds_count", **post) == 1
    assert delta(middle, after, calls, **post) == 1
    assert delta(middle, after, errors, error="channel_not_found", **post) == 1
    # once the bot has stopped (all its work done): every call Slack saw was counted
    final = scrape_registry()
    counted = {
        dict(labels)["method"]: v - before.get((name, labels), 0.0)
        for (name, labels), v in final.items()
        if name == calls and ("service", "slack") in labels
    }
    seen: dict[str, float] = {}
    for call in slack.calls:
        seen[call.method] = seen.get(call.method, 0) + 1
    assert {m: n for m, n in counted.items() if n} == seen


def _post_then_fail(bench: Bench, before: Samples) -> tuple[Samples, Samples]:
    calls, errors = "postmortem_bot_api_calls_total", "postmortem_bot_api_errors_total"
    post = {"service": "slack", "method": "chat.postMessage"}
    bench.command("/incident", "declare Checkout returns 500s sev2")  # announced after the ack
    bench.slack.wait_for("chat.postMessage")
    middle = scrape_until(
        bench.url,
        lambda s: delta(before, s, calls, **post) >= 1,
        what="chat.postMessage to be counted",
    )
    bench.slack.fail("chat.postMessage", "channel_not_found")
    _, response_url = bench.command("/incident", "severity sev1")
    assert "channel_not_found" in bench.ephemeral_reply(response_url)["text"]
    after = scrape_until(
        bench.url,
        lambda s: delta(middle, s, errors, **post, error="channel_not_found") >= 1,
        what="the failed chat.postMessage to be counted",
    )
    return middle, after


class _FakeJira(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(404 if self.path.endswith("PM-404") else 200)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201)

    def _answer(self, status: int) -> None:
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_requests_session_is_counted_by_method_and_path_template() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJira)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    calls, errors = "postmortem_bot_api_calls_total", "postmortem_bot_api_errors_total"
    seconds = "postmortem_bot_api_call_duration_seconds_count"
    try:
        with requests.Session() as session:
            instrument_requests_session(session)
            instrument_requests_session(session)  # twice: still counted once
            before = scrape_registry()
            session.post(base + "/rest/api/2/issue", json={"fields": {}}, timeout=5)
            session.get(base + "/rest/api/2/issue/PM-12/transitions?expand=x", timeout=5)
            session.get(base + "/rest/api/2/issue/PM-13/transitions", timeout=5)
            assert session.get(base + "/rest/api/2/issue/PM-404", timeout=5).status_code == 404
            with pytest.raises(requests.ConnectionError):
                session.get("http://127.0.0.1:9/rest/api/2/myself", timeout=5)
            after = scrape_registry()
    finally:
        server.shutdown()
        server.server_close()
    jira = {"service": "jira"}
    create = {"method": "POST /rest/api/2/issue", **jira}
    transitions = {"method": "GET /rest/api/2/issue/{key}/transitions", **jira}
    issue = {"method": "GET /rest/api/2/issue/{key}", **jira}
    myself = {"method": "GET /rest/api/2/myself", **jira}
    assert delta(before, after, calls, **create) == 1
    assert delta(before, after, calls, **transitions) == 2
    assert delta(before, after, seconds, **transitions) == 2
    assert delta(before, after, errors, error="404", **issue) == 1
    assert delta(before, after, errors, error="ConnectionError", **myself) == 1
    assert delta(before, after, errors, error="404", **transitions) == 0


def scrape_registry() -> Samples:
    """The same exposition /metrics serves, without a bot (for code that runs outside one)."""
    from bot.core.metrics import exposition

    body, _ = exposition()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_path_templates_hide_keys_and_ids_but_keep_versions() -> None:
    cases = {
        "https://acme.atlassian.net/rest/api/2/issue": "/rest/api/2/issue",
        "https://acme.atlassian.net/rest/api/3/issue/PM-12/transitions?x=1": (
            "/rest/api/3/issue/{key}/transitions"
        ),
        "https://jira.example.com/jira/rest/api/latest/issue/10042/comment/99": (
            "/jira/rest/api/latest/issue/{id}/comment/{id}"
        ),
        "https://acme.atlassian.net/rest/api/2/user?accountId=5b10a2844c20165700ede21g": (
            "/rest/api/2/user"
        ),
        "https://acme.atlassian.net/rest/agile/1.0/board/7/sprint": (
            "/rest/agile/1.0/board/{id}/sprint"
        ),
        "https://acme.atlassian.net/secure/attachment/10000/secret-plan.pdf": (
            "/secure/attachment/{id}/{id}"
        ),
        "https://acme.atlassian.net/rest/api/2/project/PM": "/rest/api/2/project/PM",
        "https://acme.atlassian.net": "/",
    }
    for url, expected in cases.items():
        assert path_template(url) == expected, url


# -- domain counters ---------------------------------------------------------------------


def test_reminders_sent_are_counted_by_kind(slack: FakeSlack, db: Database) -> None:
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 11:00 in Paris: working hours
    settings = sandbox_settings(slack, db.url)
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(slack.team_id),
            channel_id="C0METRICS",
            channel_private=False,
            commander_id=CAROL,
            title="Queue backs up",
            severity=None,
            now=monday - timedelta(days=10),
        )
        for title in ("Add alerting", "Write the runbook"):
            new = NewFollowUp(
                title=title, owner_id=ALICE, due_date=date(2026, 11, 20), priority=Priority.P2
            )
            create_followup(session, incident, new, created_by=CAROL, now=monday)
    before = scrape_registry()
    report = sweep(db, make_web_client(settings), settings, monday)
    assert len(report.sent) == 1  # one DM with both
    again = sweep(db, make_web_client(settings), settings, monday + timedelta(minutes=15))
    assert again.sent == []  # claimed once: nothing more to count
    after = scrape_registry()
    assert delta(before, after, "postmortem_bot_reminders_sent_total", kind="overdue") == 2
    assert delta(before, after, "postmortem_bot_reminders_sent_total", kind="due_soon") == 0
    post = {"service": "slack", "method": "chat.postMessage"}
    assert delta(before, after, "postmortem_bot_api_calls_total", **post) == 1


def test_generated_postmortems_are_counted_by_template(bench: Bench) -> None:
    before = scrape(bench.url)
    bench.command("/incident", "declare Checkout returns 500s sev2")
    bench.slack.wait_for("chat.postMessage")
    bench.command("/postmortem", "generate concise")
    metric = "postmortem_bot_postmortems_generated_total"
    after = scrape_until(
        bench.url,
        lambda s: delta(before, s, metric, template="concise") >= 1,
        what="the postmortem to be counted",
    )
    assert delta(before, after, metric, template="concise") == 1
    assert delta(before, after, metric, template="standard") == 0
    assert len(bench.slack.canvases()) + len(bench.slack.files()) == 1
