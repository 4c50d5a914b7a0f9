"""What handlers need from the rest of the bot, passed explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.core.clock import Clock, utc_now
from bot.core.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from bot.jira.flows import JiraSync


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock = field(default=utc_now)
    jira: JiraSync | None = None  # set by create_bot when Jira is configured
