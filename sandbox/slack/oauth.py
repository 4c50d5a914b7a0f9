"""The fake's side of a multi-workspace install: ``oauth.v2.access``, the authorization codes
Slack hands an app's redirect URL, and the app's bot in each workspace it is installed in.

The fake holds one app (``CLIENT_ID``/``CLIENT_SECRET``), preinstalled in the fake's own
workspace (its ``SlackConfig``: ``bot_token`` and so on). ``issue_code`` stands for someone of a
workspace pressing *Allow* on Slack's authorize page; exchanging the code with
``oauth.v2.access`` installs the app there: that workspace gets a bot user and a bot token
(``xoxb-…``). A call made with a workspace's token answers as that workspace (team id, bot
user, bot id, messages posted as its bot) in the one world of users and channels the fake has;
put a workspace's bot user in a channel's ``members`` to let it post there.

Shapes and errors follow docs.slack.dev/reference/methods/oauth.v2.access: client id and
secret as HTTP Basic auth (slack-sdk's way) or as form fields; ``invalid_client_id``,
``bad_client_secret``, ``invalid_code`` (unknown, used or expired: a code works once, for ten
minutes) and ``bad_redirect_uri``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sandbox.slack.base import ApiError, Handler, JsonDict, Params, SlackConfig

if TYPE_CHECKING:
    from sandbox.slack.state import SlackState

CLIENT_ID = "1111111111.2222222222222"
CLIENT_SECRET = "fake0client0secret0000000000000a"
CODE_TTL_SECONDS = 600.0
DEFAULT_SCOPE = "commands,chat:write"


@dataclass
class Grant:
    """What an installer allowed on the authorize page, waiting for its code's exchange."""

    team_id: str
    team_name: str
    user_id: str
    scope: str
    redirect_uri: str | None
    enterprise_id: str | None
    expires: float


@dataclass
class OAuthApp:
    """The app's credentials, pending codes, and its bot in each workspace (team id → bot)."""

    home: SlackConfig
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    codes: dict[str, Grant] = field(default_factory=dict)
    bots: dict[str, SlackConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bots.setdefault(self.home.team_id, self.home)


def issue_code(
    st: SlackState,
    *,
    team_id: str,
    user_id: str,
    team_name: str | None = None,
    scope: str = DEFAULT_SCOPE,
    redirect_uri: str | None = None,
    enterprise_id: str | None = None,
    ttl: float = CODE_TTL_SECONDS,
) -> str:
    """A code as Slack appends it to the redirect URL (caller holds the lock)."""
    code = f"{st.next_number()}.{st.next_number()}.{secrets.token_hex(32)}"
    st.oauth.codes[code] = Grant(
        team_id=team_id,
        team_name=team_name or team_id,
        user_id=user_id,
        scope=scope,
        redirect_uri=redirect_uri,
        enterprise_id=enterprise_id,
        expires=time.monotonic() + ttl,
    )
    return code


def config_for_token(st: SlackState, token: str) -> SlackConfig | None:
    """The workspace whose bot owns ``token``, or None (``invalid_auth``)."""
    for bot in st.oauth.bots.values():
        if secrets.compare_digest(bot.bot_token, token):
            return bot
    return None


@contextmanager
def acting_as(st: SlackState, cfg: SlackConfig) -> Iterator[None]:
    """Answer one call as the workspace of ``cfg`` (caller holds the lock)."""
    previous, st.cfg = st.cfg, cfg
    try:
        yield
    finally:
        st.cfg = previous


def with_basic_auth(params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """Client id and secret from ``Authorization: Basic`` (they win over form fields)."""
    for key, value in headers.items():
        if key.lower() == "authorization" and value.startswith("Basic "):
            try:
                decoded = base64.b64decode(value[len("Basic ") :].strip(), validate=True)
                client_id, sep, client_secret = decoded.decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return {**params, "client_id": ""}  # unreadable: invalid_client_id
            if sep:
                return {**params, "client_id": unquote(client_id), "client_secret": client_secret}
    return params


def _install(st: SlackState, grant: Grant) -> SlackConfig:
    """The app's bot in the grant's workspace: created by its first install, kept after."""
    bot = st.oauth.bots.get(grant.team_id)
    if bot is not None:
        return bot
    home = st.oauth.home
    bot = dataclasses.replace(
        home,
        team_id=grant.team_id,
        team_domain=grant.team_name.lower().replace(" ", "-"),
        team_name=grant.team_name,
        bot_token=f"xoxb-{st.next_number()}-{st.next_number()}-{secrets.token_hex(12)}",
        bot_user_id=st.new_id("U"),
        bot_id=st.new_id("B"),
        enterprise_id=grant.enterprise_id,
    )
    st.add_user(bot.bot_user_id, bot.bot_name, real_name=bot.bot_name, is_bot=True)
    st.oauth.bots[grant.team_id] = bot
    return bot


def oauth_v2_access(st: SlackState, p: Params) -> JsonDict:
    app = st.oauth
    client_id = p.opt("client_id")
    if client_id is None or client_id != app.client_id:
        raise ApiError("invalid_client_id")
    secret = p.opt("client_secret")
    if secret is None or not secrets.compare_digest(secret, app.client_secret):
        raise ApiError("bad_client_secret")
    code = p.opt("code")
    grant = app.codes.get(code or "")
    if code is None or grant is None or grant.expires < time.monotonic():
        raise ApiError("invalid_code")
    if grant.redirect_uri is not None and p.opt("redirect_uri") != grant.redirect_uri:
        raise ApiError("bad_redirect_uri")
    del app.codes[code]  # a code works once
    bot = _install(st, grant)
    enterprise = (
        {"id": grant.enterprise_id, "name": grant.enterprise_id} if grant.enterprise_id else None
    )
    return {
        "ok": True,
        "access_token": bot.bot_token,
        "token_type": "bot",
        "scope": grant.scope,
        "bot_user_id": bot.bot_user_id,
        "app_id": bot.app_id,
        "team": {"id": bot.team_id, "name": bot.team_name},
        "enterprise": enterprise,
        "authed_user": {"id": grant.user_id},
        "is_enterprise_install": False,
    }


# Methods answered without a bot token (the app's client id and secret instead).
HANDLERS: dict[str, Handler] = {"oauth.v2.access": oauth_v2_access}
