"""Where postmortems are published: `Destination` (base.py) and its implementations.

POSTMORTEM_DESTINATION picks one for every template (canvas by default);
POSTMORTEM_DESTINATIONS can pick another per template (`standard=confluence`).
"""

from __future__ import annotations

from slack_sdk import WebClient

from bot.core.settings import Settings
from bot.postmortem.destinations.base import Destination, Target
from bot.postmortem.destinations.canvas import CanvasDestination, FileDestination
from bot.postmortem.destinations.confluence import ConfluenceDestination

__all__ = ["Destination", "Target", "make"]


def make(name: str, settings: Settings, client: WebClient) -> Destination:
    """The destination called `name`, as generation uses it (Confluence is only checked
    there: its own job publishes, with the gateway and the page's facts)."""
    if name == "confluence":
        return ConfluenceDestination(settings, client=client)
    if name == "file":
        return FileDestination(client)
    return CanvasDestination(client)
