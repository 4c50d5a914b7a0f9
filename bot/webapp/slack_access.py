"""What the web view asks Slack: who signed in (Sign in with Slack, through slack-sdk's OpenID
Connect support) and whether the bot is installed in their workspace (cached for a minute).
Which private channels they are in is bot.knowledge.access's question, shared with Slack's
own list and search.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator

log = logging.getLogger("postmortem_bot.webapp")

SCOPES = ("openid", "profile", "email")  # Sign in with Slack's scopes (manifest.yml)
K = TypeVar("K")
V = TypeVar("V")


class SignInFailed(Exception):
    """Sign in with Slack did not give us a person we may let in; the message says why, in
    words the person can act on."""


@dataclass(frozen=True)
class Identity:
    user_id: str
    team_id: str
    name: str


class SignIn:
    """The OpenID Connect round: the authorize URL, then code → token → identity."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        authorize_url: str,
        api_url: str,
        timeout: int = 10,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._authorize_url = authorize_url
        self._api = WebClient(base_url=api_url, timeout=timeout)

    def authorize_url(self, state: str, nonce: str, redirect_uri: str) -> str:
        urls = OpenIDConnectAuthorizeUrlGenerator(
            client_id=self._client_id,
            redirect_uri=quote(redirect_uri, safe=""),  # slack-sdk does not encode it
            scopes=list(SCOPES),
            authorization_url=self._authorize_url,
        )
        return urls.generate(state=state, nonce=nonce)

    def identify(self, code: str, redirect_uri: str) -> Identity:
        """Exchange the code (it works once) and read who signed in."""
        try:
            token = self._api.openid_connect_token(
                client_id=self._client_id,
                client_secret=self._client_secret,
                code=code,
                redirect_uri=redirect_uri,
            )
            access_token = str(token["access_token"])
            info = WebClient(
                token=access_token, base_url=self._api.base_url, timeout=self._api.timeout
            ).openid_connect_userInfo()
        except SlackApiError as error:
            reason = error.response.get("error", "unknown_error")
            log.warning("Sign in with Slack failed: %s", reason)
            raise SignInFailed(
                f"Slack did not confirm who you are ({reason}). Please sign in again."
            ) from error
        user_id = str(info.get("https://slack.com/user_id") or info.get("sub") or "")
        team_id = str(info.get("https://slack.com/team_id") or "")
        if not user_id or not team_id:
            raise SignInFailed("Slack did not say who you are. Please sign in again.")
        return Identity(user_id, team_id, str(info.get("name") or user_id))


class SlackAccess:
    """Workspaces the bot is installed in, asked of Slack and cached for `ttl` seconds.
    `client_for(team_id)` is the bot's client there (None: not installed)."""

    def __init__(
        self,
        client_for: Callable[[str], WebClient | None],
        *,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_for = client_for
        self._ttl = ttl
        self._now = monotonic
        self._lock = threading.Lock()
        self._teams: dict[str, tuple[float, bool]] = {}

    def is_installed_in(self, team_id: str) -> bool:
        """The bot is installed in `team_id`: its client there answers auth.test as that team
        (a single-token bot answers for its one workspace only)."""
        cached = self._cached(self._teams, team_id)
        if cached is not None:
            return cached
        client = self._client_for(team_id)
        installed = False
        if client is not None:
            try:
                installed = secrets.compare_digest(str(client.auth_test().get("team_id")), team_id)
            except SlackApiError as error:
                log.warning("auth.test for %s failed: %s", team_id, error.response.get("error"))
        with self._lock:
            self._teams[team_id] = (self._now(), installed)
        return installed

    def _cached(self, store: dict[K, tuple[float, V]], key: K) -> V | None:
        with self._lock:
            hit = store.get(key)
        if hit is None or self._now() - hit[0] >= self._ttl:
            return None
        return hit[1]
