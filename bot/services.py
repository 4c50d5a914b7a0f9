"""What flows and listeners need from the rest of the bot, passed explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient

from bot.capture.service import IncidentChannels
from bot.core.clock import Clock, utc_now
from bot.core.settings import Settings
from bot.slack.budget import RateBudget
from bot.slack.replies import Replies
from bot.slack.workspaces import Workspaces
from storage.db import Database

if TYPE_CHECKING:
    from bot.confluence.gateway import ConfluenceGateway
    from bot.jira.flows import JiraSync


@dataclass(frozen=True)
class Services:
    """The bot's shared parts. Listeners find it on their `Request`; flows and outbox jobs take
    it as their first argument."""

    settings: Settings
    db: Database
    clock: Clock = field(default=utc_now)
    jira: JiraSync | None = None  # set by create_bot when Jira is configured
    confluence: ConfluenceGateway | None = None  # set by create_bot when Confluence is
    workspaces: Workspaces | None = None  # set by create_bot: each workspace's client, for jobs
    replies: Replies = field(default_factory=Replies)  # private replies after the ack
    channels: IncidentChannels = field(default_factory=IncidentChannels)  # capture's memory
    history_budget: RateBudget | None = None  # set by create_bot: Slack's history rate limits

    def client_for(self, team_id: str) -> WebClient | None:
        """The client that speaks for `team_id` (None: the bot is not installed there)."""
        return self.workspaces.client_for(team_id) if self.workspaces is not None else None
