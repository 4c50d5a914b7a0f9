"""Logging set-up: text (default) or one JSON object per line, with the request id.

Secrets never reach a log line: anything token-shaped, and the configured secret values
themselves, are redacted from the whole formatted line (message, exception text and extras).
What users write cannot shape the log either: a message is capped at MAX_MESSAGE_CHARS (Bolt
logs request bodies at DEBUG), and in text format its line breaks are escaped, so text from a
request can never start a line of its own (JSON escapes them already).
The request id of the HTTP request being handled lives in a ContextVar (bot.observability sets
it; the listener executor carries it into its threads); a handler filter copies it onto records.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

_SECRET = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|ATATT[A-Za-z0-9_=-]+)")
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/]{12,}={0,2}")  # Jira: base64(email:token)
_MIN_SECRET_LENGTH = 6  # shorter configured "secrets" would redact ordinary words

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"
# A log line is a sentence about a request, never the request: longer messages (a body Bolt logs
# at DEBUG, a command name someone made huge) are cut here.
MAX_MESSAGE_CHARS = 500
# Whatever a log reader could take for the end of a line (str.splitlines' breaks, \r and \n first).
_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")

# waitress's "Task queue depth" warning is logged at most this often (see OncePerInterval).
QUEUE_WARNING_SECONDS = 60.0

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    text = _BASIC.sub(r"\1[redacted]", _SECRET.sub("[redacted]", text))
    return _BEARER.sub(r"\1[redacted]", text)


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret in the settings (each SecretStr field, the database password): the values
    configure_logging redacts verbatim."""
    found = [value.get_secret_value() for _, value in settings if isinstance(value, SecretStr)]
    url = getattr(settings, "database_url", None)
    if isinstance(url, str):
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    return [value for value in found if value]


def capped(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, cut to `limit` characters with a note of how much was left out."""
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… [{len(message) - limit} more characters]"


def one_line(text: str) -> str:
    """`text` with its line breaks written as escapes (\\n, \\r, \\u2028…): one log line."""
    return _LINE_BREAKS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def preview(body: bytes, limit: int = 200) -> str:
    """The start of a request body for a DEBUG line: printable, one line, at most `limit`."""
    shown = repr(body[:limit])
    return shown if len(body) <= limit else f"{shown}… [{len(body) - limit} more bytes]"


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


Later = Callable[[float, Callable[[], None]], None]  # run a function after some seconds


def _later(seconds: float, function: Callable[[], None]) -> None:
    timer = threading.Timer(seconds, function)
    timer.daemon = True
    timer.start()


class OncePerInterval(logging.Filter):
    """For a logger that repeats one fact on every request: waitress warns "Task queue depth is
    N" for each request that waits for a thread, which under a burst is a log line per request,
    written with CPU the waiting requests need. This lets one record through, then raises the
    logger's level for `seconds`, so the repeats are not even built (a filter alone still pays
    for each record). One line a minute still tells an operator to add HTTP_THREADS or
    replicas."""

    def __init__(self, logger: logging.Logger, seconds: float, later: Later = _later) -> None:
        super().__init__()
        self._logger, self._seconds, self._later = logger, seconds, later
        self._level = logger.level
        self._quiet = False
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            if self._quiet:
                return False
            self._quiet = True
        self._logger.setLevel(logging.ERROR)
        self._later(self._seconds, self._reopen)
        record.msg = (
            f"{record.getMessage()} (the same warning is not logged for {self._seconds:g} s)"
        )
        record.args = None
        return True

    def _reopen(self) -> None:
        with self._lock:
            self._logger.setLevel(self._level)
            self._quiet = False


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or None) on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class TextFormatter(logging.Formatter):
    """`2026-11-23 10:00:00,123 INFO postmortem_bot.x [request-id]: message`, redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(TEXT_FORMAT)
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        # The message (arguments included) is one line; a traceback after it keeps its lines.
        original = record.msg, record.args
        record.msg, record.args = one_line(capped(record.getMessage())), None
        try:
            return redact(super().format(record), self._secrets)
        finally:
            record.msg, record.args = original


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_OURS = {"message", "asctime", "request_id", "request_tag", "taskName"}
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | _OURS


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO-8601 UTC), level, logger, message, thread,
    request_id and exception when there is one, then the record's `extra` fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": capped(record.getMessage()),
            "thread": record.threadName,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in entry:
                entry[key] = value
        line = json.dumps(entry, default=str, ensure_ascii=False)
        return redact(line, self._secrets)


def configure_logging(
    level: str = "INFO",
    log_format: str = "text",
    *,
    secrets: Iterable[str | None] = (),
    stream: IO[str] | None = None,
) -> None:
    """Send every log line to stderr (or `stream`) as text or JSON; `secrets` are values (tokens,
    signing secret) to redact wherever they appear, on top of anything token-shaped."""
    known = sorted(
        {s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
    )
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter = (
        JsonFormatter(known) if log_format.lower() == "json" else TextFormatter(known)
    )
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # slack_sdk logs request bodies at DEBUG; keep it quieter than our own code.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, root.level))
    queue = logging.getLogger("waitress.queue")
    queue.setLevel(logging.NOTSET)
    queue.filters[:] = [OncePerInterval(queue, QUEUE_WARNING_SECONDS)]
