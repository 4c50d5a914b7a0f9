"""What flows and listeners need from the rest of the bot, passed explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.clock import Clock, utc_now
from bot.core.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from bot.capture.writer import CaptureWriter
    from bot.jira.flows import JiraSync


@dataclass(frozen=True)
class Services:
    """The bot's shared parts. Listeners receive it as their `services` argument (the request's
    context carries it); flows take it as their first argument."""

    settings: Settings
    db: Database
    clock: Clock = field(default=utc_now)
    jira: JiraSync | None = None  # set by create_bot when Jira is configured
    capture: CaptureWriter | None = None  # set by create_bot: the live capture write path
