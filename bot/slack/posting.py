"""The generic outbox job "post this message": most changes end in a message in the incident
channel (an echo, a status change, a note in a thread), rendered when the change is recorded
and posted by a worker, once (bot.slack.once).

Posts to one channel keep the order they were recorded in: their ordering key is the channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.outbox_worker import JobRun, JobSpec, PermanentFailure
from bot.slack.once import post_once

POST = "slack.post"
Blocks = list[dict[str, Any]]
ClientFor = Callable[[str], WebClient | None]


def channel_key(team_id: str, channel_id: str) -> str:
    """The ordering key of everything the bot says in one channel."""
    return f"channel:{team_id}:{channel_id}"


def enqueue_post(
    session: Session,
    *,
    team_id: str,
    channel: str,
    text: str,
    blocks: Blocks | None = None,
    thread_ts: str | None = None,
    reply_to: str | None = None,
    what: str | None = None,
) -> None:
    """Post `text` (and `blocks`) in `channel` once this transaction commits. With `reply_to`
    (a response_url), the person is told if posting `what` is delayed or fails for good."""
    payload: dict[str, Any] = {"channel": channel, "text": text}
    if reply_to and what:
        payload["reply_to"], payload["what"] = reply_to, what
    if blocks is not None:
        payload["blocks"] = blocks
    if thread_ts is not None:
        payload["thread_ts"] = thread_ts
    outbox.enqueue(
        session, POST, payload, team_id=team_id, ordering_key=channel_key(team_id, channel)
    )


def client_or_fail(client_for: ClientFor, team_id: str) -> WebClient:
    """The workspace's client; a workspace that uninstalled the bot fails the job for good."""
    client = client_for(team_id)
    if client is None:
        raise PermanentFailure(f"the bot is not installed in workspace {team_id}")
    return client


def run_post(client_for: ClientFor, run: JobRun) -> None:
    job = run.job
    payload = job.payload
    post_once(
        client_or_fail(client_for, job.team_id),
        job,
        channel=str(payload["channel"]),
        text=str(payload.get("text") or ""),
        blocks=payload.get("blocks"),
        thread_ts=payload.get("thread_ts"),
    )


def jobs(client_for: ClientFor) -> list[JobSpec]:
    return [JobSpec(POST, outbox.Lane.FAST, lambda run: run_post(client_for, run))]
