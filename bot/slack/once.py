"""Posting a message once per outbox job, even when the job runs again after a crash.

`chat.postMessage` has no idempotency key, so a job that posted and then died before it could
record the fact would post twice when retried. Each post carries the job id in Slack's message
metadata (invisible to people); a retried job first looks in the channel (or thread) for a
message carrying its id, and adopts it instead of posting again. This needs the history
scopes of the channel (channels:history / groups:history); in a DM, where the bot cannot read
history, a retry posts again (at least once).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.outbox import Job

log = logging.getLogger("postmortem_bot.slack")

MARKER_EVENT = "postmortem_bot_job"
LOOKBACK_PAGES = 25  # of 200: only retries look, and only within the previous attempt's window
CLOCK_SKEW = timedelta(seconds=5)  # between a replica's clock and Slack's


def marker(job: Job) -> dict[str, Any]:
    return {"event_type": MARKER_EVENT, "event_payload": {"job": job.id}}


def post_once(
    client: WebClient,
    job: Job,
    *,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
) -> str:
    """Post (or find what an earlier attempt of `job` posted); returns the message's ts."""
    if job.retried:
        found = find_posted(client, job, channel=channel, thread_ts=thread_ts)
        if found is not None:
            log.info("job %s: adopting the message an earlier attempt posted", job.id)
            return found
    response = client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, metadata=marker(job)
    )
    return str(response["ts"])


def find_posted(
    client: WebClient, job: Job, *, channel: str, thread_ts: str | None = None
) -> str | None:
    """The ts of a message carrying `job`'s id, posted by an earlier attempt: looked for in the
    window that attempt ran in (a few messages, however busy the channel has been since), or,
    when that is not known, since the job was written down."""
    window = job.previous_attempt
    start = window[0] if window is not None else job.created_at
    oldest = f"{(start - CLOCK_SKEW).timestamp():.6f}"
    latest = f"{(window[1] + CLOCK_SKEW).timestamp():.6f}" if window is not None else None
    cursor: str | None = None
    try:
        for _ in range(LOOKBACK_PAGES):
            params: dict[str, Any] = {
                "channel": channel,
                "oldest": oldest,
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                params["cursor"] = cursor
            if latest is not None:
                params["latest"] = latest
            if thread_ts:
                page = client.conversations_replies(ts=thread_ts, **params)
            else:
                page = client.conversations_history(**params)
            for message in page.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if (message.get("metadata") or {}).get("event_type") == MARKER_EVENT and (
                    payload.get("job") == job.id
                ):
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
    except SlackApiError as error:
        log.info(
            "job %s: couldn't look for an earlier post (%s)", job.id, error.response.get("error")
        )
    return None
