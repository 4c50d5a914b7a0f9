"""Slack canvas (the default), and a Markdown file where canvases are refused: today's
publishing (bot.postmortem.publish) behind the Destination interface."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.postmortem.destinations.base import Target
from bot.postmortem.document import Document
from bot.postmortem.publish import Published, publish, upload_file


class _InSlack:
    """Published by the generation itself, through the bot's Slack client: nothing to check
    beforehand (Slack's own refusals are handled where they happen)."""

    deferred = False

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def check(self, document: Document, target: Target) -> None:
        return None


class CanvasDestination(_InSlack):
    """A canvas shared with the incident channel only; a file where canvases are refused."""

    name = "canvas"

    def publish(self, document: Document, previous: Document | None, target: Target) -> Published:
        return publish(
            self.client,
            team_id=target.team_id,
            channel_id=target.channel_id,
            title=target.document_title,
            filename=target.filename,
            document=document,
            previous=previous,
            canvas_id=target.canvas_id,
            file_id=target.file_id,
        )


class FileDestination(_InSlack):
    """A Markdown file in the incident channel (POSTMORTEM_DESTINATION=file): each version is
    a new file next to the last, which is kept as it was."""

    name = "file"

    def publish(self, document: Document, previous: Document | None, target: Target) -> Published:
        notes: tuple[str, ...] = ()
        if target.file_id or target.canvas_id:
            notes = (
                f"`{target.filename}` is a new file next to the earlier version, which is kept "
                "as it was: copy over anything you wrote in it.",
            )
        return upload_file(
            self.client,
            title=target.document_title,
            filename=target.filename,
            channel_id=target.channel_id,
            markdown=document.markdown,
            reason=None,
            notes=notes,
        )
