"""Is this HTTP request from Slack, and fresh? Checked on the raw bytes before anything parses
them (https://docs.slack.dev/authentication/verifying-requests-from-slack/).

`X-Slack-Request-Timestamp` must be a Unix time in whole seconds (ASCII digits only: no sign,
space, exponent or fraction; at most 12 digits, so `int()` is never asked for 5000 of them),
within TOLERANCE_SECONDS of our clock either way. `X-Slack-Signature` must be
`v0=` + the lowercase hex HMAC-SHA256 of `v0:{timestamp}:{raw body}` keyed with the signing
secret, compared in constant time. Anything else, missing or malformed headers included, is
not verified; nothing here raises.

A request that passes is marked for Bolt with VERIFIED_CONTEXT_KEY in its context: the Bolt side
(handlers.middleware) refuses anything without the mark, and answers only verified requests.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re

TOLERANCE_SECONDS = 300  # Slack's documented window; a request older (or newer) is refused
VERIFIED_CONTEXT_KEY = "postmortem_bot_signature_verified"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Verdict(enum.Enum):
    VERIFIED = "verified"
    MISSING = "no X-Slack-Request-Timestamp or X-Slack-Signature header"
    MALFORMED = "a malformed X-Slack-Request-Timestamp or X-Slack-Signature header"
    STALE = "a timestamp more than 5 minutes from our clock (replayed, or a clock is wrong)"
    MISMATCH = "a signature that does not match (forged, or SLACK_SIGNING_SECRET is wrong)"


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def verify(
    secret: str | None, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> Verdict:
    """Check one request's headers against its raw body at time `now` (Unix seconds)."""
    if not timestamp or not signature:
        return Verdict.MISSING
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return Verdict.MALFORMED
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return Verdict.STALE
    if not secret:  # never an HMAC keyed with nothing: refuse everything instead
        return Verdict.MISMATCH
    if not hmac.compare_digest(expected_signature(secret, timestamp, body), signature):
        return Verdict.MISMATCH
    return Verdict.VERIFIED
