"""Random requests against the real bot over real HTTP: nothing unverified acts, nothing 5xx.

Hypothesis draws thousands of requests to POST /slack/events: unsigned ones (no headers, junk
timestamps, wrong or malformed signatures, stale or future timestamps, another app's secret),
correctly signed ones with junk bodies (garbage bytes, JSON of every type, forms, Slack-like
payloads with fields of the wrong type, random content types), correctly signed real-looking
commands and clicks whose text is random (NUL and control characters included), and replays of
signed requests already sent. Every `response_url` points at a local recorder. One bot serves
all of them; then it stops gracefully (finishing all the work the requests started) and:

- no answer was a 5xx;
- nothing was posted for an unsigned request (its response_url path and ids carry a marker the
  recorder and the fake Slack would show), and nothing it sent reached a log above DEBUG;
- a replay was answered 200 with an empty body;
- no traceback (or apology for an unexpected error) was logged or posted, no log line is long.

Derandomized (a fixed seed): CI sees the same examples every run.
"""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.errors import APOLOGY
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import sign
from storage.db import Database
from tests.bench import ALICE, INCIDENT_CHANNEL, SIGNING_SECRET, Bench, running_bench
from tests.logcapture import captured_logs
from tests.recorder import Recorder, recording

EXAMPLES = 2000
UNSIGNED = "UNSIGNED"  # in every unsigned request's ids and response_url path
LONGEST_LINE = 1000
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

# -- bodies ----------------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.text(st.characters(categories=["Cc", "Cs"]), max_size=5)  # NUL…, lone surrogates
)
json_values = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
SLACK_FIELDS = [
    "type", "team", "user", "channel", "enterprise", "event", "actions", "view", "message",
    "response_url", "response_urls", "authorizations", "callback_id", "trigger_id", "token",
    "team_id", "user_id", "channel_id", "event_id", "container", "state", "challenge",
    "api_app_id", "is_enterprise_install", "is_ext_shared_channel", "action_id", "block_id",
    "command", "text", "payload", "ssl_check", "function_execution_id", "bot_access_token",
]  # fmt: skip
PAYLOAD_TYPES = [
    "event_callback", "url_verification", "block_actions", "block_suggestion", "shortcut",
    "message_action", "view_submission", "view_closed", "interactive_message",
    "dialog_submission", "workflow_step_edit", "app_rate_limited",
]  # fmt: skip
COMMANDS = ["/timeline", "/incident", "/followup", "/postmortem", "/nope"]
CONTENT_TYPES = [
    FORM,
    JSON,
    f"{FORM}; charset=utf-8",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
]
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
user_text = st.text(max_size=60) | st.text(st.characters(max_codepoint=0x7F), max_size=60)


@dataclass
class Attempt:
    """One request to send: its class decides how it is signed and what must come of it."""

    cls: str  # "signed", "stale", "no-headers", "bad-timestamp", "bad-signature", …, "replay"
    body: bytes
    content_type: str | None
    extra_headers: dict[str, str] = field(default_factory=dict)
    skew: int = 0  # seconds between our clock and the timestamp the request is signed with
    realistic: bool = False  # a well-formed Slack request (a listener will likely run)

    @property
    def unsigned(self) -> bool:
        return self.cls not in ("signed", "replay")


@st.composite
def slack_like(draw: st.DrawFn, response_url: str, marker: str) -> dict[str, Any]:
    """A Slack-shaped payload, some field of which may have the wrong type."""
    kind = draw(st.sampled_from(PAYLOAD_TYPES) | st.text(max_size=12))
    user = {"id": marker + "U", "team_id": "T0001"}
    payload: dict[str, Any] = {
        "type": kind,
        "team": {"id": "T0001"},
        "user": user,
        "channel": {"id": INCIDENT_CHANNEL},
        "response_url": response_url,
        "trigger_id": draw(st.text(max_size=12)),
        "callback_id": draw(st.text(max_size=12)),
        "actions": [
            {
                "action_id": draw(st.text(max_size=12)),
                "block_id": "b",
                "type": "button",
                "value": draw(user_text),
            }  # fmt: skip
        ],
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": draw(st.text(max_size=12)),
            "private_metadata": draw(user_text),
            "state": {
                "values": {
                    "title": {"value": {"type": "plain_text_input", "value": draw(user_text)}}
                }
            },
        },
        "message": {"ts": "1.2", "text": draw(user_text), "user": marker + "U"},
        "event": {
            "type": draw(st.text(max_size=12)),
            "user": marker + "U",
            "text": draw(user_text),
        },
        "event_id": "Ev" + marker + draw(st.text("abc123", max_size=6)),
        "challenge": draw(st.text(max_size=12)),
    }
    for name in draw(st.lists(st.sampled_from(SLACK_FIELDS), max_size=3)):
        if draw(st.booleans()):
            payload.pop(name, None)
        else:
            payload[name] = draw(json_values)
    return payload


@st.composite
def bodies(
    draw: st.DrawFn, recorder: Recorder, n: int, unsigned: bool
) -> tuple[bytes, str | None, bool]:
    """(body, content type, realistic)."""
    marker = f"{UNSIGNED}{n}" if unsigned else "S"
    host = draw(st.sampled_from([recorder.url, f"http://localhost:{recorder.port}"]))
    response_url = draw(
        st.sampled_from(
            [
                f"{host}/{marker}/{n}?token=Sekrit",
                f"https://hooks.slack.com/commands/T0001/{n}/{marker}",
                f"http://127.0.0.9:9/{marker}",  # not on the list: contacting it would fail
                "",
            ]
        )
        | st.text(max_size=30)
    )
    shape = draw(
        st.sampled_from(["garbage", "json", "form", "payload", "event", "command", "realistic"])
    )
    content_type = draw(st.sampled_from([*CONTENT_TYPES, None]) | header_text)
    if shape == "garbage":
        return draw(st.binary(max_size=300)), content_type, False
    if shape == "json":
        value = draw(json_values)
        return json.dumps(value).encode(), content_type, False
    if shape == "form":
        pairs = draw(
            st.lists(
                st.tuples(st.sampled_from(SLACK_FIELDS) | st.text(max_size=8), user_text),
                max_size=6,
            )
        )
        return urlencode(pairs).encode(), content_type, False
    payload = draw(slack_like(response_url, marker))
    if shape == "payload":
        return urlencode({"payload": json.dumps(payload)}).encode(), content_type, False
    if shape == "event":
        envelope = {**payload, "type": "event_callback"}
        return json.dumps(envelope).encode(), draw(st.sampled_from([JSON, content_type])), False
    form = {
        "command": draw(st.sampled_from(COMMANDS)),
        "text": draw(user_text | st.sampled_from(["help", "status", "list", "list mine"])),
        "team_id": "T0001",
        "channel_id": INCIDENT_CHANNEL,
        "user_id": ALICE if not unsigned else marker + "U",
        "response_url": response_url,
        "trigger_id": f"{n}.{marker}",
    }
    if shape == "command":
        for name in draw(st.lists(st.sampled_from(list(form)), max_size=2)):
            form.pop(name, None)
        return urlencode(form).encode(), draw(st.sampled_from([FORM, content_type])), False
    if draw(st.booleans()):
        # A control character where a person typed, half the time: left to the text strategy
        # alone, how often one came depended on the constants Hypothesis collects from the
        # modules loaded, so on what else ran in the same process.
        text = str(form["text"])
        at = draw(st.integers(0, len(text)))
        form["text"] = text[:at] + draw(st.characters(categories=["Cc"])) + text[at:]
    return urlencode(form).encode(), FORM, True


SIGNING = [
    "signed", "signed", "signed", "signed", "stale", "no-headers", "no-signature",
    "no-timestamp", "bad-timestamp", "bad-signature", "malformed-signature", "other-secret",
]  # fmt: skip


@st.composite
def attempts(draw: st.DrawFn, recorder: Recorder, counter: list[int]) -> Attempt:
    counter[0] += 1
    n = counter[0]
    cls = draw(st.sampled_from(SIGNING))
    body, content_type, realistic = draw(bodies(recorder, n, unsigned=cls != "signed"))
    extra = {}
    if draw(st.booleans()):
        extra[
            draw(
                st.sampled_from(
                    [
                        "X-Slack-Retry-Num",
                        "X-Request-Id",
                        "X-Slack-Bolt-Lazy-Only",
                        "X-Forwarded-For",
                    ]
                )
            )
        ] = draw(header_text)
    skew = 0
    if cls == "signed":
        skew = draw(st.integers(-200, 200))  # replays a minute later are still fresh
    elif cls == "stale":
        skew = draw(st.sampled_from([-1, 1])) * draw(st.integers(302, 10**9))
    return Attempt(cls, body, content_type, extra, skew, realistic and cls == "signed")


# -- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    status: int
    body: bytes
    headers: dict[str, str]


def send(url: str, attempt: Attempt) -> tuple[Sent, dict[str, str]]:
    """POST it; returns the answer and the headers sent (for replaying)."""
    now = int(time.time())
    timestamp = str(now + attempt.skew)
    headers: dict[str, str] = dict(attempt.extra_headers)
    if attempt.content_type is not None:
        headers["Content-Type"] = attempt.content_type
    good = sign(SIGNING_SECRET, timestamp, attempt.body)
    junk_ts = [
        "abc",
        "1.7e9",
        "",
        " " + timestamp,
        timestamp + "0" * 5,
        "9" * 5000,
        "-" + timestamp,
        "0x10",
    ]
    if attempt.cls in ("signed", "stale"):
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": good}
    elif attempt.cls == "no-signature":
        headers["X-Slack-Request-Timestamp"] = timestamp
    elif attempt.cls == "no-timestamp":
        headers["X-Slack-Signature"] = good
    elif attempt.cls == "bad-timestamp":
        bad = junk_ts[len(attempt.body) % len(junk_ts)]
        headers |= {
            "X-Slack-Request-Timestamp": bad,
            "X-Slack-Signature": sign(SIGNING_SECRET, bad, attempt.body),
        }
    elif attempt.cls == "bad-signature":
        # Never the right one: a signature that happened to end in "beef" stayed valid (one
        # request in 65,536), and a fuzz run once failed on it.
        wrong = good[:-4] + ("dead" if good.endswith("beef") else "beef")
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": wrong}
    elif attempt.cls == "malformed-signature":
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": good.upper()}
    elif attempt.cls == "other-secret":
        other = sign("another-apps-secret-0123456789ab", timestamp, attempt.body)
        headers |= {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": other}
    return post(url, attempt.body, headers), headers


_connections: dict[str, http.client.HTTPConnection] = {}


def post(url: str, body: bytes, headers: dict[str, str]) -> Sent:
    """One keep-alive connection per bot (a new one if the server closed the last)."""
    for attempt in range(2):
        connection = _connections.get(url)
        if connection is None:
            parts = urlsplit(url)
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
            _connections[url] = connection
        try:
            connection.request("POST", "/slack/events", body=body, headers=headers)
            response = connection.getresponse()
            sent = Sent(response.status, response.read(), dict(response.getheaders()))
        except (http.client.HTTPException, ConnectionError):
            connection.close()
            del _connections[url]
            if attempt:
                raise
            continue
        if response.will_close:
            connection.close()
            del _connections[url]
        return sent
    raise AssertionError("unreachable")


# -- the test --------------------------------------------------------------------------------


def test_random_requests_never_5xx_and_nothing_unsigned_acts(
    slack: FakeSlack, db: Database
) -> None:
    tried: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    started = time.monotonic()
    with recording() as recorder, captured_logs("INFO") as logs:
        with running_bench(slack, db) as bench:
            bench.command("/incident", "declare Fuzzing the front door")
            slack.wait_for("chat.postMessage")
            replayable: list[tuple[bytes, dict[str, str], Sent]] = []
            counter = [0]

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(attempt=attempts(recorder, counter), replay=st.integers(0, 9))
            def throw(attempt: Attempt, replay: int) -> None:
                if replay == 5 and replayable:  # about one in ten: resend an earlier request
                    body, headers, first = replayable[counter[0] % len(replayable)]
                    again = post(bench.url, body, headers)
                    tried["replay"] += 1
                    ok = again.status < 500 and (
                        first.status != 200 or (again.status, again.body) == (200, b"")
                    )
                    failed["replay"] += not ok
                    assert ok, (first, again)
                sent, headers = send(bench.url, attempt)
                key = (
                    "unsigned"
                    if attempt.unsigned
                    else ("malformed-signed" if sent.status == 400 else "signed")
                )
                tried[key] += 1
                if attempt.realistic and _has_controls(attempt.body):
                    tried["nul"] += 1
                good = sent.status < 500 and (not attempt.unsigned or sent.status in (200, 401))
                if attempt.unsigned and sent.status == 200:
                    good = good and sent.body == b""  # only Slack's ssl_check: nothing else
                failed[key] += not good
                assert good, (attempt, sent)
                if attempt.cls == "signed" and sent.status == 200:
                    replayable.append((attempt.body, headers, sent))

            throw()
            bench_url = bench.url
        elapsed = time.monotonic() - started
        # the bot has stopped: every piece of work those requests started is over
        unsigned_hits = [hit for hit in recorder.hits() if UNSIGNED in hit.path]
        unsigned_calls = [c for c in slack.calls if UNSIGNED in json.dumps(c.params)]
        posts = [hit.body.decode("utf-8", "replace") for hit in recorder.hits()]
        posts += [json.dumps(p) for p in slack.response_posts()]
        posts += [json.dumps(c.params) for c in slack.calls if c.method == "chat.postEphemeral"]
    lines = logs.lines()
    tried["logs"] = len(lines)
    failed["logs"] = sum(
        1 for line in lines if "Traceback" in line or len(line) > LONGEST_LINE or UNSIGNED in line
    )
    failed["nul"] = sum(1 for p in posts if APOLOGY in p)
    print(
        f"\nfuzz: {sum(v for k, v in tried.items() if k not in ('logs', 'nul'))} requests in "
        f"{elapsed:.1f}s against {bench_url}; tried {dict(tried)}; failed {dict(failed)}"
    )
    assert unsigned_hits == [], unsigned_hits[:3]
    assert unsigned_calls == [], unsigned_calls[:3]
    bad = [i for i, line in enumerate(lines) if "Traceback" in line or len(line) > LONGEST_LINE]
    if bad:
        Path("/tmp/fuzz_logs.txt").write_text("\n".join(lines))
    assert failed["logs"] == 0, ["\n".join(lines[max(0, i - 3) : i + 25]) for i in bad[:2]]
    assert failed["nul"] == 0
    assert tried["unsigned"] > 500 and tried["signed"] + tried["malformed-signed"] > 500
    assert tried["replay"] > 50 and tried["nul"] > 10


def _has_controls(body: bytes) -> bool:
    return any(f"%{code:02X}".encode() in body for code in [*range(0, 9), 11, 12, *range(14, 32)])


def test_the_fuzzed_bench_is_a_real_bench(bench: Bench) -> None:
    """The sender above really reaches the bot: a correctly signed request is answered."""
    body = urlencode(
        {
            "command": "/incident",
            "text": "help",
            "team_id": "T0001",
            "channel_id": INCIDENT_CHANNEL,
            "user_id": ALICE,
        }
    ).encode()
    sent, _ = send(bench.url, Attempt("signed", body, FORM))
    assert sent.status == 200 and b"/incident" in sent.body
