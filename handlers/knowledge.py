"""The Next/Previous buttons of `/incident list` and `/incident search` (the commands
themselves are `/incident` subcommands: handlers/incident.py)."""

from __future__ import annotations

from slack_bolt import App

from bot.knowledge import flows
from bot.knowledge.blocks import PAGE_NEXT, PAGE_PREVIOUS
from handlers.request import Request, listener


def page_clicked(request: Request) -> None:
    """Read-only: ack at once, then replace the private answer with the other page."""
    request.ack()
    text, blocks = flows.turn_page(
        request.services, request.client, request.origin, str(request.payload.get("value", ""))
    )
    request.reply(text, blocks, replace_original=True)


def register(app: App) -> None:
    app.action(PAGE_NEXT)(listener(page_clicked))
    app.action(PAGE_PREVIOUS)(listener(page_clicked))
