"""Confluence wired to the bot: the gateway when it is configured, and the one line at start
that says whether it can be used (the bot runs either way; generation says what to fix)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.confluence.gateway import ConfluenceGateway
from bot.core import metrics
from bot.core.settings import Settings

log = logging.getLogger("postmortem_bot.confluence")


@dataclass
class ConfluenceSetup:
    settings: Settings
    gateway: ConfluenceGateway | None

    def startup_check(self) -> str | None:
        """Report once, at start, whether postmortems can be published to Confluence."""
        missing = self.settings.confluence_missing()
        problem: str | None = f"{', '.join(missing)} not set"
        if self.gateway is not None:
            problem = self.gateway.check()
        if problem:
            log.error(
                "Confluence is not usable: %s. Postmortems are still generated and kept; "
                "publishing them waits until Confluence works, and /postmortem generate says "
                "what to fix.",
                problem.rstrip("."),
            )
        else:
            assert self.gateway is not None
            log.info(
                "Confluence: connected to %s (space %s)",
                self.gateway.base_url,
                self.gateway.space_key,
            )
        return problem


def uses_confluence(settings: Settings) -> bool:
    return "confluence" in (settings.postmortem_destination, *settings.destination_map.values())


def make_confluence(settings: Settings) -> ConfluenceSetup | None:
    """The gateway when Confluence is configured; None when no template publishes there."""
    if not uses_confluence(settings) and not settings.confluence_enabled:
        return None
    gateway = (
        ConfluenceGateway(
            settings,
            on_session=lambda s: metrics.instrument_requests_session(s, "confluence"),
        )
        if settings.confluence_enabled
        else None
    )
    return ConfluenceSetup(settings, gateway)
