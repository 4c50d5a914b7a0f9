"""Which Web API client speaks for a workspace.

Work that does not start from a Slack request (the reminder sweep, the weekly digest, Jira sync)
needs a client for the team the data belongs to. With one bot token (`SLACK_BOT_TOKEN`) every team
gets the same client; in multi-workspace (OAuth) mode each team has its own installation token.
"""

from __future__ import annotations

from typing import Protocol

from slack_sdk import WebClient


class Workspaces(Protocol):
    def client_for(self, team_id: str) -> WebClient | None:
        """A client authorised for `team_id`, or None when the bot is not installed there."""

    def all_clients(self) -> list[WebClient]:
        """One client per workspace the bot is installed in (the weekly digest)."""


class SingleWorkspace:
    """One bot token: the same client for every team id found in the database."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def client_for(self, team_id: str) -> WebClient | None:
        return self._client

    def all_clients(self) -> list[WebClient]:
        return [self._client]


def as_workspaces(clients: Workspaces | WebClient) -> Workspaces:
    """Accept a plain client where a `Workspaces` is expected: one token, one workspace."""
    return SingleWorkspace(clients) if isinstance(clients, WebClient) else clients
