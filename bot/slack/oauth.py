"""Multi-workspace install (optional): Slack's OAuth flow, with the installations and OAuth
states kept in the bot's own database by slack-sdk's SQLAlchemy stores.

`GET /slack/install` offers "Add to Slack" (a state is issued, and pinned to the browser by a
cookie); Slack sends the installer back to `GET /slack/oauth_redirect`, where the code is
exchanged with `oauth.v2.access` (on SLACK_API_URL) and the workspace's bot token is stored.
Requests from Slack are then authorised per workspace from the store, and work that does not
start from a request (reminders, the digest) asks `InstalledWorkspaces` for a team's client.

The stores' tables are created by migration 0009, never at runtime.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import select

from bot.core.settings import Settings
from bot.slack.client import client_with_token
from storage.db import Database

INSTALL_PATH = "/slack/install"
REDIRECT_URI_PATH = "/slack/oauth_redirect"
STATE_EXPIRATION_SECONDS = 600  # an installer has ten minutes between the two pages
log = logging.getLogger("postmortem_bot.oauth")


def installation_store(db: Database, client_id: str) -> SQLAlchemyInstallationStore:
    return SQLAlchemyInstallationStore(
        client_id=client_id, engine=db.engine, logger=logging.getLogger("postmortem_bot.oauth")
    )


def state_store(db: Database) -> SQLAlchemyOAuthStateStore:
    return SQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_EXPIRATION_SECONDS,
        engine=db.engine,
        logger=logging.getLogger("postmortem_bot.oauth"),
    )


def prune_states(db: Database, *, now: datetime) -> int:
    """Delete OAuth states that expired unused (an install page opened, never completed):
    slack-sdk's store deletes a state only when it is consumed."""
    table = state_store(db).oauth_states
    cutoff = normalize_datetime_for_db(now)
    with db.engine.begin() as conn:
        result = conn.execute(table.delete().where(table.c.expire_at < cutoff))
    return int(result.rowcount or 0)


def client_id_of(settings: Settings) -> str:
    return (settings.slack_client_id or "").strip()


class InstalledWorkspaces:
    """Each workspace's client, from its latest installation (the `Workspaces` of OAuth mode)."""

    def __init__(self, store: SQLAlchemyInstallationStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    @classmethod
    def from_settings(cls, db: Database, settings: Settings) -> InstalledWorkspaces:
        return cls(installation_store(db, client_id_of(settings)), settings)

    def client_for(self, team_id: str, enterprise_id: str | None = None) -> WebClient | None:
        bot = self._store.find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None and enterprise_id is None:
            # A workspace of an Enterprise Grid org is stored with its enterprise id.
            enterprise = self._enterprise_of(team_id)
            if enterprise is not None:
                bot = self._store.find_bot(enterprise_id=enterprise, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        return client_with_token(self._settings, bot.bot_token)

    def all_clients(self) -> list[WebClient]:
        clients: list[WebClient] = []
        for enterprise_id, team_id in self._installed_teams():
            client = self.client_for(team_id, enterprise_id)
            if client is not None:
                clients.append(client)
        return clients

    def _installed_teams(self) -> list[tuple[str | None, str]]:
        bots = self._store.bots.c
        query = (
            select(bots.enterprise_id, bots.team_id)
            .where(
                bots.client_id == self._store.client_id,
                bots.team_id.is_not(None),
                bots.bot_token.is_not(None),
            )
            .distinct()
            .order_by(bots.team_id)
        )
        with self._store.engine.connect() as conn:
            return [(row.enterprise_id, row.team_id) for row in conn.execute(query)]

    def _enterprise_of(self, team_id: str) -> str | None:
        bots = self._store.bots.c
        query = (
            select(bots.enterprise_id)
            .where(
                bots.client_id == self._store.client_id,
                bots.team_id == team_id,
                bots.enterprise_id.is_not(None),
            )
            .order_by(bots.installed_at.desc())
            .limit(1)
        )
        with self._store.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return str(value) if value is not None else None
