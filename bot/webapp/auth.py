"""Sign in with Slack for `/app/`: the sign-in round, the session, logout.

The session is Flask's cookie, signed with WEB_SESSION_SECRET (itsdangerous, HMAC-SHA1 over
the content; tampering makes it unreadable, so it counts as signed out), `HttpOnly; Secure;
SameSite=Lax`, path `/app/`. It holds the person's Slack user id, workspace and name, and when
it expires: WEB_SESSION_HOURS after sign-in, however busy (never extended), checked against the
bot's clock on every request.

Sign-in: `/app/login` keeps a random `state` (and nonce) in the session and sends the browser
to Slack's authorize page; Slack sends it back to `/app/auth/callback` with a code and that
state. A state that is missing or differs (a forged or replayed callback) is refused before the
code is used. The code is exchanged once (`openid.connect.token`), the person read with
`openid.connect.userInfo`; only someone of a workspace the bot is installed in gets in.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from bot.webapp.slack_access import SignIn, SignInFailed, SlackAccess

log = logging.getLogger("postmortem_bot.webapp")

blueprint = Blueprint("auth", __name__)
CALLBACK_PATH = "/auth/callback"
PUBLIC_ENDPOINTS = {"auth.login", "auth.callback", "auth.signed_out", "views.style"}


def _state() -> dict[str, Any]:
    state = current_app.extensions["postmortem_bot"]
    assert isinstance(state, dict)
    return state


def _now() -> float:
    clock: Callable[[], float] = _state()["now"]
    return clock()


def current_user() -> dict[str, str] | None:
    """The person signed in (user, team, name), or None (no session, or it expired)."""
    user, team, expires = session.get("user"), session.get("team"), session.get("expires")
    if not isinstance(user, str) or not isinstance(team, str) or not isinstance(expires, float):
        return None
    if _now() >= expires:
        return None
    return {"user": user, "team": team, "name": str(session.get("name") or user)}


def _redirect_uri() -> str:
    """Where Slack sends the browser back: WEB_BASE_URL's, else this request's own origin
    (Slack only redirects to the app's registered redirect URLs, and the code exchange repeats
    the same URL, so a forged Host header can only make the sign-in fail)."""
    base = _state()["base_url"] or request.host_url.rstrip("/")
    return str(base) + request.script_root + CALLBACK_PATH


def _safe_next(target: str | None) -> str:
    """Only a path of this web view: never another site (an open redirect)."""
    root = request.script_root + "/"
    if target and target.startswith(root) and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("views.archive")


def require_sign_in() -> Response | None:
    """Before every request: the public pages pass; anyone else must be signed in."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if current_user() is not None:
        return None
    expired = "user" in session
    session.clear()
    target = request.full_path if request.query_string else request.path
    return redirect(
        url_for("auth.login", next=request.script_root + target, expired="1" if expired else None)
    )


@blueprint.get("/login")
def login() -> Response:
    sign_in: SignIn = _state()["sign_in"]
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    next_page = _safe_next(request.args.get("next"))
    session.clear()
    session.update(oidc_state=state, oidc_nonce=nonce, next=next_page)
    return redirect(sign_in.authorize_url(state, nonce, _redirect_uri()))


def _refused(message: str, status: int) -> tuple[str, int]:
    page = render_template(
        "webapp/message.html.j2", title="Sign-in failed", message=message, sign_in_link=True
    )
    return page, status


@blueprint.get(CALLBACK_PATH)
def callback() -> Response | tuple[str, int]:
    expected = session.pop("oidc_state", None)
    next_page = _safe_next(session.pop("next", None))
    session.pop("oidc_nonce", None)
    given = request.args.get("state", "")
    if not isinstance(expected, str) or not given or not secrets.compare_digest(expected, given):
        log.warning("Sign in with Slack refused: the state did not match")
        return _refused(
            "This sign-in link is not the one this browser started (or it was already used). "
            "Please sign in again.",
            400,
        )
    if request.args.get("error"):
        return _refused(
            f"Slack did not sign you in ({request.args['error'][:100]}). Please try again.", 400
        )
    code = request.args.get("code", "")
    if not code:
        return _refused("Slack sent no code back. Please sign in again.", 400)
    sign_in: SignIn = _state()["sign_in"]
    access: SlackAccess = _state()["access"]
    try:
        person = sign_in.identify(code, _redirect_uri())
    except SignInFailed as failure:
        return _refused(str(failure), 400)
    if not access.is_installed_in(person.team_id):
        log.warning("Sign in with Slack refused: %s is of another workspace", person.user_id)
        return _refused(
            "You signed in with a Slack workspace this bot is not installed in. Sign in with "
            "the workspace where you run incidents.",
            403,
        )
    session.clear()
    session.permanent = True
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    session.update(
        user=person.user_id,
        team=person.team_id,
        name=person.name,
        expires=float(_now() + lifetime),
    )
    log.info("signed in to the web view: %s (%s)", person.user_id, person.team_id)
    return redirect(next_page)


@blueprint.post("/logout")
def logout() -> Response:
    session.clear()
    response = redirect(url_for("auth.signed_out"))
    return response


@blueprint.get("/signed-out")
def signed_out() -> str:
    expired = request.args.get("expired") == "1"
    return render_template(
        "webapp/message.html.j2", title="Signed out", signed_out=True, expired=expired, message=None
    )
