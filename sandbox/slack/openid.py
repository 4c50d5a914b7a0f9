"""The fake's side of Sign in with Slack (OpenID Connect): the authorize page, the code
exchange (``openid.connect.token``) and the identity behind a user token
(``openid.connect.userInfo``).

A browser is "signed in to Slack" as whoever ``FakeSlack.sign_in_browser_as`` names (in the
workspace it names). ``GET /openid/connect/authorize`` then does what Slack's page does once
that person presses *Allow*: it redirects to the app's ``redirect_uri`` with ``code`` and the
app's ``state``. With nobody signed in, the page lists the workspace's people as links, one per
person, each completing the sign-in as them (a person at a keyboard, or a test, picks one).

Shapes and errors follow docs.slack.dev/reference/methods/openid.connect.token and
openid.connect.userInfo and the Sign in with Slack guide: the authorize request needs
``response_type=code``, the ``openid`` scope, the app's ``client_id`` and a ``redirect_uri``
(an unknown client or a missing ``openid`` scope is an error page, as on Slack). The exchange
takes the client id and secret (HTTP Basic, slack-sdk's way, or form fields) and answers
``{"ok": true, "access_token": "xoxp-…", "token_type": "Bearer", "id_token": "…"}``; its
errors are ``invalid_client_id``, ``bad_client_secret``, ``invalid_code`` (unknown, used or
expired: a code works once, for ten minutes) and ``bad_redirect_uri``. userInfo takes that
user token and answers the claims ``sub``, ``https://slack.com/user_id``,
``https://slack.com/team_id``, ``email``, ``name``…; any other token is ``invalid_auth``.
The ``id_token`` is a JWT carrying the same claims; the fake signs it with a throwaway HMAC key,
so an app must not rely on verifying it (this bot reads userInfo instead).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from sandbox.slack.base import ApiError, Handler, JsonDict, Params
from sandbox.slack.oauth import CODE_TTL_SECONDS

if TYPE_CHECKING:
    from sandbox.slack.state import SlackState

AUTHORIZE_PATH = "/openid/connect/authorize"
SCOPES = ("openid", "profile", "email")


@dataclass
class Identity:
    """Who signed in, in which workspace, with which scopes."""

    user_id: str
    team_id: str
    team_name: str
    team_domain: str
    scopes: tuple[str, ...]
    nonce: str | None = None


@dataclass
class Grant:
    identity: Identity
    redirect_uri: str
    expires: float


@dataclass
class OpenIDProvider:
    """Codes waiting for their exchange, user tokens issued, and who the browser is."""

    codes: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, Identity] = field(default_factory=dict)
    browser_user: str | None = None
    browser_team: str | None = None  # None: the fake's own workspace
    authorize_requests: list[dict[str, str]] = field(default_factory=list)


def provider(st: SlackState) -> OpenIDProvider:
    """The state's provider, made on first use (keeps SlackState untouched)."""
    found = getattr(st, "openid", None)
    if found is None:
        found = OpenIDProvider()
        st.openid = found  # type: ignore[attr-defined]
    assert isinstance(found, OpenIDProvider)
    return found


def _identity(st: SlackState, user_id: str, team_id: str | None, query: dict[str, str]) -> Identity:
    home = st.oauth.home
    team = team_id or home.team_id
    bot = st.oauth.bots.get(team)
    name = bot.team_name if bot is not None else team
    domain = bot.team_domain if bot is not None else team.lower()
    scopes = tuple(s for s in query.get("scope", "").replace(",", " ").split() if s)
    return Identity(user_id, team, name, domain, scopes, query.get("nonce"))


def authorize(st: SlackState, query_string: str) -> tuple[int, str, dict[str, str]]:
    """(status, HTML body, headers) for ``GET /openid/connect/authorize`` (lock held)."""
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    op = provider(st)
    op.authorize_requests.append(query)
    redirect_uri = query.get("redirect_uri", "")
    problem = None
    if query.get("client_id") != st.oauth.client_id:
        problem = "Invalid client_id parameter"
    elif query.get("response_type") != "code":
        problem = "response_type must be code"
    elif "openid" not in query.get("scope", "").replace(",", " ").split():
        problem = "Invalid permissions requested: the openid scope is required"
    elif urlsplit(redirect_uri).scheme not in ("http", "https"):
        problem = "redirect_uri did not match any configured URIs"
    if problem is not None:
        return 400, f"<!doctype html><title>Slack</title><p>{html.escape(problem)}</p>", {}
    user = query.get("as_user") or op.browser_user
    if user is None:  # nobody signed in: let someone pick
        links = []
        for user_id, raw in st.users.items():
            if raw.get("is_bot"):
                continue
            href = AUTHORIZE_PATH + "?" + urlencode({**query, "as_user": user_id})
            links.append(f'<li><a href="{html.escape(href)}">{html.escape(str(raw["name"]))}</a>')
        body = "<!doctype html><title>Sign in to Slack</title><ul>" + "".join(links) + "</ul>"
        return 200, body, {}
    st.require_user(user)
    identity = _identity(st, user, op.browser_team, query)
    code = f"{st.next_number()}.{st.next_number()}.{secrets.token_hex(32)}"
    op.codes[code] = Grant(identity, redirect_uri, time.monotonic() + CODE_TTL_SECONDS)
    back = {"code": code}
    if "state" in query:
        back["state"] = query["state"]
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return 302, "", {"Location": redirect_uri + separator + urlencode(back)}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(st: SlackState, identity: Identity) -> JsonDict:
    raw = st.require_user(identity.user_id)
    claims: JsonDict = {
        "sub": identity.user_id,
        "https://slack.com/user_id": identity.user_id,
        "https://slack.com/team_id": identity.team_id,
        "https://slack.com/team_name": identity.team_name,
        "https://slack.com/team_domain": identity.team_domain,
    }
    if "profile" in identity.scopes:
        claims.update(
            name=raw["real_name"],
            given_name=str(raw["real_name"]).split(" ")[0],
            family_name=" ".join(str(raw["real_name"]).split(" ")[1:]),
            locale="en-US",
            picture=f"https://avatars.slack-edge.com/{identity.user_id.lower()}_512.png",
        )
    if "email" in identity.scopes and raw.get("email"):
        claims.update(email=raw["email"], email_verified=True, date_email_verified=1622128723)
    return claims


def openid_connect_token(st: SlackState, p: Params) -> JsonDict:
    app, op = st.oauth, provider(st)
    if p.opt("client_id") != app.client_id:
        raise ApiError("invalid_client_id")
    secret = p.opt("client_secret")
    if secret is None or not secrets.compare_digest(secret, app.client_secret):
        raise ApiError("bad_client_secret")
    code = p.opt("code") or ""
    grant = op.codes.get(code)
    if grant is None or grant.expires < time.monotonic():
        raise ApiError("invalid_code")
    if p.opt("redirect_uri") != grant.redirect_uri:
        raise ApiError("bad_redirect_uri")
    del op.codes[code]  # a code works once
    token = f"xoxp-{st.next_number()}-{st.next_number()}-{secrets.token_hex(16)}"
    op.tokens[token] = grant.identity
    now = int(time.time())
    payload = {
        "iss": "https://slack.com",
        "aud": app.client_id,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "nonce": grant.identity.nonce,
        **_claims(st, grant.identity),
    }
    head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    body = _b64(json.dumps(payload).encode())
    signature = hmac.new(app.client_secret.encode(), f"{head}.{body}".encode(), hashlib.sha256)
    return {
        "ok": True,
        "access_token": token,
        "token_type": "Bearer",
        "id_token": f"{head}.{body}.{_b64(signature.digest())}",
    }


def openid_connect_user_info(st: SlackState, p: Params) -> JsonDict:
    token = p.opt("token")
    if token is None:
        raise ApiError("not_authed")
    identity = provider(st).tokens.get(token)
    if identity is None:
        raise ApiError("invalid_auth")
    return {"ok": True, **_claims(st, identity)}


# Methods answered with the app's credentials (token) or a Sign in with Slack user token.
HANDLERS: dict[str, Handler] = {
    "openid.connect.token": openid_connect_token,
    "openid.connect.userInfo": openid_connect_user_info,
}
