"""Correctly signed Slack requests to the bot's real HTTP endpoint.

Payload shapes follow what Slack sends (see bolt-python's scenario tests): slash commands as
form bodies, interactivity as a `payload=<JSON>` form field, Events API deliveries as raw JSON.
Signature: `v0=` + hex(HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


def _action(
    action_id: str, block_id: str, action_type: str, value: str, now: float
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": f"{now:.6f}",
    }
    if action_type in ("overflow", "static_select", "radio_buttons"):
        action["selected_option"] = {"text": {"type": "plain_text", "text": value}, "value": value}
    elif action_type == "users_select":
        action["selected_user"] = value
    elif action_type == "datepicker":
        action["selected_date"] = value
    else:
        action["value"] = value
    return action


def sign(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


_RUN = secrets.token_hex(4)  # this process's ids differ from any other run's
_IDS = itertools.count(1)


@dataclass
class SlackRequests:
    """Builds and sends signed requests as Slack would, for one workspace."""

    base_url: str  # the bot's server, e.g. "http://127.0.0.1:3000"
    signing_secret: str
    team_id: str = "T0001"
    team_domain: str = "acme"
    enterprise_id: str | None = None
    api_app_id: str = "A0001"
    path: str = "/slack/events"
    clock: Callable[[], float] = time.time
    timeout: float = 10.0

    # -- transport -------------------------------------------------------------------------

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        signed: bool = True,
    ) -> Reply:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        all_headers = {"Content-Type": content_type}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = ts
            all_headers["X-Slack-Signature"] = signature or sign(self.signing_secret, ts, body)
        all_headers.update(headers or {})
        request = urllib.request.Request(
            self.base_url + self.path, data=body, headers=all_headers, method="POST"
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
                status, got = response.status, dict(response.headers.items())
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            status, got = error.code, dict(error.headers.items())
        return Reply(status, text, got, time.perf_counter() - started)

    def new_event_id(self) -> str:
        """A fresh Events API `event_id` (the same for every retry of one delivery)."""
        return self._next("Ev")

    def _next(self, prefix: str) -> str:
        """A fresh id: unique across senders and runs, as Slack's trigger and event ids are
        (the bot treats a repeated trigger id as the same request delivered again)."""
        return f"{prefix}{_RUN}{next(_IDS):06d}"

    def _team(self) -> dict[str, Any]:
        team: dict[str, Any] = {"id": self.team_id, "domain": self.team_domain}
        if self.enterprise_id:
            team["enterprise_id"] = self.enterprise_id
            team["enterprise_name"] = "Enterprise"
        return team

    def _user(self, user_id: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": self.team_id,
        }

    def _interactive(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kwargs)

    # -- request kinds ---------------------------------------------------------------------

    def slash_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str,
        channel_id: str,
        channel_name: str = "incident",
        response_url: str = "",
        trigger_id: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        form = {
            "token": "verification_token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or self._next("trigger."),
        }
        if self.enterprise_id:
            form["enterprise_id"] = self.enterprise_id
            form["enterprise_name"] = "Enterprise"
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded", **kwargs)

    def message_shortcut(
        self,
        callback_id: str,
        *,
        user_id: str,
        channel_id: str,
        message: dict[str, Any],
        response_url: str = "",
        trigger_id: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        payload = {
            "type": "message_action",
            "token": "verification_token",
            "action_ts": f"{self.clock():.6f}",
            "team": self._team(),
            "user": {"id": user_id, "name": user_id.lower()},
            "channel": {"id": channel_id, "name": "incident"},
            "is_enterprise_install": False,
            "callback_id": callback_id,
            "trigger_id": trigger_id or self._next("trigger."),
            "message_ts": message["ts"],
            "message": message,
            "response_url": response_url,
        }
        return self._interactive(payload, **kwargs)

    def block_action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str,
        channel_id: str | None = None,
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        block_id: str = "actions",
        action_type: str = "button",
        response_url: str = "",
        trigger_id: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": "verification_token",
            "trigger_id": trigger_id or self._next("trigger."),
            "team": self._team(),
            "is_enterprise_install": False,
            "actions": [_action(action_id, block_id, action_type, value, self.clock())],
        }
        if message is not None and channel_id is not None:
            payload["container"] = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": channel_id, "name": "incident"}
            payload["message"] = message
            payload["response_url"] = response_url
        elif view is not None:
            payload["container"] = {"type": "view", "view_id": view.get("id", "")}
            payload["view"] = view
        return self._interactive(payload, **kwargs)

    def view_submission(
        self,
        view: dict[str, Any],
        values: dict[str, dict[str, dict[str, Any]]],
        *,
        user_id: str,
        **kwargs: Any,
    ) -> Reply:
        submitted = dict(view)
        submitted.setdefault("id", self._next("V"))
        submitted.setdefault("team_id", self.team_id)
        submitted.setdefault("private_metadata", "")
        submitted.setdefault("hash", self._next("hash."))
        submitted["state"] = {"values": values}
        payload = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.api_app_id,
            "token": "verification_token",
            "trigger_id": self._next("trigger."),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        return self._interactive(payload, **kwargs)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        **kwargs: Any,
    ) -> Reply:
        envelope: dict[str, Any] = {
            "token": "verification_token",
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self._next("Ev"),
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": self.enterprise_id,
                    "team_id": self.team_id,
                    "user_id": "UBOT0001",
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        if self.enterprise_id:
            envelope["enterprise_id"] = self.enterprise_id
        headers = dict(kwargs.pop("headers", None) or {})
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        return self.post(
            json.dumps(envelope).encode(), "application/json", headers=headers, **kwargs
        )
