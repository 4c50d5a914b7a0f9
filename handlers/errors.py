"""The one place errors become replies: UserError → its message; a database that does not
answer → "try again in a minute" (nothing was saved); anything else → an apology.

Two routes lead here: `handlers.request.listener` wraps every listener (errors raised inside it,
the common case), and Bolt's global error handler catches what fails outside listeners
(middleware). Only a verified request is ever answered (handlers.middleware.is_verified), and
only through an allowed response_url or chat.postEphemeral.
Listener errors must not reach Bolt: when a listener raises right after `ack()`, Bolt's runner
resets the ack and the request can hang for 3 s and answer 404.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_bolt.kwargs_injection import Args
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.errors import DATABASE_UNAVAILABLE, SAVE_UNKNOWN, UserError
from bot.core.logs import capped
from bot.slack.replies import Replies
from handlers.middleware import CheckedRespond, is_verified
from storage.db import CommitOutcomeUnknown, explain, is_unavailable

log = logging.getLogger("postmortem_bot.errors")

APOLOGY = (
    "Sorry, something went wrong on my side while handling that. It has been logged; "
    "please try again in a moment."
)
# The database refused, timed out or is known not to answer (storage.db.is_unavailable): say
# so plainly, since trying again later is exactly what helps, and nothing was half-done.


def message_for(error: Exception) -> str:
    if isinstance(error, UserError):
        return error.message
    if isinstance(error, SlackApiError):
        code = error.response.get("error", "unknown_error")
        return (
            f"Slack refused a request I made (`{code}`), so that didn't fully complete. "
            "Anything already saved is kept; please try again in a moment."
        )
    if isinstance(error, CommitOutcomeUnknown):
        return SAVE_UNKNOWN
    if is_unavailable(error):
        return DATABASE_UNAVAILABLE
    return APOLOGY


def _log(error: Exception, body: dict[str, Any]) -> None:
    kind = capped(str(body.get("command") or body.get("type") or "request"), 64)
    if isinstance(error, UserError):
        log.info("user error on %s", kind)  # the message may quote what they typed
        log.debug("user error on %s: %s", kind, error.message)
    elif isinstance(error, SlackApiError):
        log.warning("Slack API error on %s: %s", kind, error.response.get("error"), exc_info=error)
    elif isinstance(error, CommitOutcomeUnknown) or is_unavailable(error):
        # One line, no traceback: during an outage every request fails the same known way,
        # and storage.health logs when the database stops and starts answering.
        log.warning("database unavailable on %s: %s", kind, explain(error))
    else:
        log.error("unexpected error on %s", kind, exc_info=error)


def _user_and_channel(body: dict[str, Any]) -> tuple[str | None, str | None]:
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    return user, channel


def tell_user(
    text: str,
    body: dict[str, Any],
    respond: Respond | None,
    client: WebClient | None,
    replies: Replies | None = None,
    *,
    verified: bool,
) -> None:
    """Show `text` to the person behind a verified request, privately: on the reply threads
    when there are some (never holding up the answer to Slack; they POST only to response_urls
    on SLACK_RESPONSE_URL_HOSTS), else through a CheckedRespond, else with chat.postEphemeral.
    An unverified request is answered nothing: its body is anyone's."""
    if not verified:
        return
    user, channel = _user_and_channel(body)
    url = respond.response_url if respond is not None else None
    if replies is not None:
        if replies.respond(url, {"text": text, "response_type": "ephemeral"}):
            return
        if client is not None and user and channel:
            replies.ephemeral(client, channel=channel, user=user, text=text)
        return
    try:
        if isinstance(respond, CheckedRespond) and respond.response_url:
            respond(text=text, response_type="ephemeral", replace_original=False)
            return
        if client is not None and user and channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
    except Exception as error:  # Slack refused, or was away: one line, the user's text not in it
        log.warning("could not deliver an error message to the user: %s", type(error).__name__)


def report(error: Exception, args: Args) -> None:
    """Log the error and tell the user, acknowledging the request if it was not yet."""
    _log(error, args.body)
    text = message_for(error)
    ack: Ack = args.ack
    if ack.response is None and "command" in args.body:
        ack(text=text, response_type="ephemeral")  # the HTTP answer carries the reply
        return
    if ack.response is None:
        ack()
    services = args.context.get("services")
    replies = getattr(services, "replies", None)
    tell_user(
        text, args.body, args.respond, args.client, replies, verified=is_verified(args.request)
    )


def handle_uncaught(
    error: Exception,
    body: dict[str, Any],
    respond: Respond | None,
    client: WebClient | None,
    response: BoltResponse | None,
    request: BoltRequest,
) -> BoltResponse | None:
    """Bolt's global error handler: for failures outside our listeners (middleware, Bolt).
    An unverified request (which should never get this far) is refused and answered nothing."""
    if not is_verified(request):
        log.error("error on an unverified request; refusing it", exc_info=error)
        return BoltResponse(status=401, body="") if response is not None else None
    _log(error, body)
    text = message_for(error)
    if response is not None and "command" in body:
        payload = {"response_type": "ephemeral", "text": text}
        return BoltResponse(
            status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
        )
    tell_user(text, body, respond, client, verified=True)
    return BoltResponse(status=200, body="") if response is not None else None


def register(app: App) -> None:
    app.error(handle_uncaught)


__all__ = ["register", "report", "tell_user", "message_for"]
