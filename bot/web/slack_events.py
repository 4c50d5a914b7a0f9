"""`POST /slack/events`: the only way into the Bolt app over HTTP. Nothing unverified acts.

In this order, each step before the next:

1. Slack's certificate check (`ssl_check=1&token=…`, unsigned by Slack's design) → 200, empty.
2. The signature and timestamp, on the raw bytes (bot.web.verify) → 401 unless verified. No
   listener, error handler or outbound call ever sees an unverified request, and its body is
   logged at DEBUG only, capped.
3. The body, parsed once and checked against Slack's shapes (bot.web.slack_body) → 400.
4. Replays: the same signature and timestamp already taken in, by this replica or another
   (bot.slack.request_replays; an Events API retry's number counts too) → 200, empty body:
   the request is Slack's and was acknowledged the first time; any non-2xx would make Slack
   retry an event (and count towards disabling the app's subscription) or show a slash-command
   user an error for a command that ran. While the database does not answer, the request goes
   on unrecorded but unable to wait for the database again (storage.db.failing_fast): nothing
   can be changed without it, so nothing is done twice; a help still answers, and the rest is
   told privately that nothing was saved. Any other failure to record it → 503 (refusing is
   safer than processing twice).
5. Bolt, given the parsed body and a context marked verified (`dispatch`, bot.web.server).

Nothing here answers 500 except a bug in this code itself, logged once with its traceback.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from bot.core.logs import preview
from bot.slack.request_replays import claim_request, request_claims, request_digest
from bot.web.slack_body import MalformedBody, SlackBody, is_ssl_check, parse_slack_body
from bot.web.verify import TOLERANCE_SECONDS, Verdict, verify
from storage.db import Database, failing_fast, is_unavailable
from storage.write_queue import answering

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger("postmortem_bot.slack_events")

# Request headers Bolt may see. Not Bolt's internal `x-slack-bolt-lazy-*` ones: from outside,
# those would switch how Bolt runs listeners.
FORWARDED_HEADERS = (
    "content-type",
    "x-slack-request-timestamp",
    "x-slack-signature",
    "x-slack-retry-num",
    "x-slack-retry-reason",
)


_RETRY_NUM = re.compile(r"[1-9]")  # Slack retries an event up to 3 times


@dataclass(frozen=True)
class Answer:
    """What Bolt answered, ready for WSGI."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


# (parsed body, raw body text, forwarded headers, query string) → Bolt's answer
Dispatch = Callable[[dict[str, Any], str, Mapping[str, str], str], Answer]


class SlackEvents:
    """The WSGI endpoint; `dispatch` hands a verified, parsed request to Bolt. `clock` is Unix
    time in seconds (the signature's timestamp is compared with it)."""

    def __init__(
        self,
        *,
        signing_secret: str | None,
        db: Database,
        dispatch: Dispatch,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secret:
            log.warning("no signing secret: every request to /slack/events will get 401")
        self._secret = signing_secret or None
        self._db = db
        self._claims = request_claims(db.single_statement)
        self._dispatch = dispatch
        self._clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            answer = self._answer(environ)
        except Exception:
            log.exception("unexpected failure while taking in a Slack request")
            answer = _json(500, {"error": "internal error"})
        headers = [(k, v) for k, v in answer.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(answer.body))))
        start_response(_status_line(answer.status), headers)
        return [answer.body]

    def _answer(self, environ: WSGIEnvironment) -> Answer:
        raw = _read_body(environ)
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if is_ssl_check(raw, content_type):
            return Answer(200)
        timestamp = _header(environ, "X-Slack-Request-Timestamp")
        signature = _header(environ, "X-Slack-Signature")
        verdict = verify(self._secret, timestamp, signature, raw, self._clock())
        if verdict is not Verdict.VERIFIED:
            log.info("refused a request to /slack/events: %s", verdict.value)
            log.debug("the refused request's body: %s", preview(raw))
            return _json(401, {"error": "invalid request"})
        assert timestamp is not None and signature is not None  # verify() checked them
        try:
            body = parse_slack_body(raw, content_type)
        except MalformedBody as error:
            log.info("refused a signed request to /slack/events: %s", error.reason)
            return _json(400, {"error": "malformed request", "reason": error.reason})
        first = self._claim(timestamp, signature, _event_retry(environ, body))
        if first is None:
            return _json(503, {"error": "the database is unreachable; retry later"})
        headers = {name: _header(environ, name) or "" for name in FORWARDED_HEADERS}
        headers["content-type"] = content_type
        query = str(environ.get("QUERY_STRING", ""))
        if first is DOWN:
            # Nothing can be changed without the database, so nothing can be done twice: the
            # request goes on (help still answers), and whatever needs the database fails at
            # once, without a second wait, and says so privately.
            with failing_fast():
                return self._dispatch(body.data, raw.decode("utf-8"), headers, query)
        if not first:
            log.info("ignored a replayed request (its signature and timestamp were seen before)")
            return Answer(200)
        return self._dispatch(body.data, raw.decode("utf-8"), headers, query)

    def _claim(self, timestamp: str, signature: str, retry: str) -> bool | _Down | None:
        """True: first time; False: a replay; DOWN: the database is not answering (nothing can
        be done without it); None: recording it failed otherwise."""
        digest = request_digest(timestamp, signature, retry)
        expires_at = datetime.fromtimestamp(int(timestamp) + TOLERANCE_SECONDS, UTC)
        try:
            with answering():
                return claim_request(self._claims, digest=digest, expires_at=expires_at)
        except Exception as error:
            if is_unavailable(error):
                log.warning("a Slack request arrived while the database is not answering")
                return DOWN
            log.error("could not record a Slack request for replay protection", exc_info=True)
            return None


class _Down:
    """The database did not answer the replay check."""


DOWN = _Down()


def _event_retry(environ: WSGIEnvironment, body: SlackBody) -> str:
    """The retry number of an Events API delivery ("" for anything else, or a number Slack
    would not send): see bot.slack.request_replays."""
    if body.kind != "event" or body.data.get("type") != "event_callback":
        return ""
    retry = _header(environ, "X-Slack-Retry-Num") or ""
    return retry if _RETRY_NUM.fullmatch(retry) else ""


def _read_body(environ: WSGIEnvironment) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length > 0 else b""


def _header(environ: WSGIEnvironment, name: str) -> str | None:
    if name.lower() == "content-type":
        return environ.get("CONTENT_TYPE")
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    return None if value is None else str(value)


def _json(status: int, payload: dict[str, Any]) -> Answer:
    body = json.dumps(payload).encode()
    return Answer(status, body, [("Content-Type", "application/json")])


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
