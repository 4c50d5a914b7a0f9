"""The one small interface every place a postmortem can be published implements.

Generation (bot.postmortem.generate) renders a `Document` and hands it to a `Destination`; it
knows nothing about canvases, files or Confluence. A new destination (Google Docs, Notion) is
a module here with a class that has `name`, `deferred`, `check` and `publish`, and a line in
`make` (bot.postmortem.destinations): nothing in generation changes.

- `check` runs at generation, before anything is recorded or sent: what can be known locally
  (settings, a document the destination could not hold) is a `UserError` the person sees.
- `publish` writes the document (creating or refreshing), given what the bot published last
  time (`previous`, to tell its own text from people's), and says where it lives.
- `deferred`: publishing talks to a service that may be down for a while (Confluence). The
  version is recorded first and an outbox job of its own publishes it, retried until it
  works; nothing is lost meanwhile. A canvas or file is published inside the generation job,
  as before (Slack is the service the bot cannot work without anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.postmortem.document import Document
from bot.postmortem.publish import Published


@dataclass(frozen=True)
class Target:
    """What a destination needs to know besides the document: whose, where, what it was."""

    team_id: str
    channel_id: str
    key: str  # INC-42
    title: str  # the incident's title, Markdown
    version: int  # the version being published
    private: bool  # the incident channel is private
    severity: str = ""  # SEV2
    canvas_id: str | None = None
    file_id: str | None = None
    page_id: str | None = None  # Confluence

    @property
    def document_title(self) -> str:
        return f"{self.key} postmortem: {self.title}"[:255]

    @property
    def filename(self) -> str:
        return f"{self.key}-postmortem-v{self.version}.md"


class Destination(Protocol):
    name: str
    deferred: bool

    def check(self, document: Document, target: Target) -> None:
        """Raise UserError if this document cannot be published here (nothing is sent)."""

    def publish(self, document: Document, previous: Document | None, target: Target) -> Published:
        """Create or refresh the published document; where it lives and what to tell."""
