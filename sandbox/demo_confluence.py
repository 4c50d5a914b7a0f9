"""`postmortem-bot demo --destination confluence`: the demo's incident published to a local,
stateful fake Confluence (sandbox/confluence) instead of a canvas. Kept apart from the demo's
script so that the script can change without this, and the other way round."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.confluence import FakeConfluence, Page
from sandbox.harness import wait_until


@contextmanager
def fake_confluence(destination: str) -> Iterator[FakeConfluence | None]:
    """A running fake Confluence site when the demo publishes there, else None."""
    if destination != "confluence":
        yield None
        return
    with FakeConfluence() as fake:
        yield fake


def bot_settings(destination: str, fake: FakeConfluence | None) -> dict[str, Any]:
    """The bot's settings for `destination` (pointed at the fake when it is Confluence)."""
    if fake is None:
        return {"postmortem_destination": destination}
    return {
        "postmortem_destination": "confluence",
        "confluence_url": fake.site_url,
        "confluence_space": fake.space_key,
        "confluence_email": fake.bot.email,
        "confluence_api_token": fake.bot.api_token,
    }


def published_page(fake: FakeConfluence, echo: Callable[[str], None]) -> Page:
    """Wait for the postmortem's page; print its title, URL and labels."""
    page = wait_until(
        lambda: next((p for p in fake.pages_in_space(fake.space_key) if p.labels), None),
        timeout=20,
        what="the Confluence page",
    )
    url = f"{fake.site_url}/spaces/{page.space_key}/pages/{page.id}"
    echo(f"    Confluence ▸ “{page.title}” (version {page.version}) at {url}")
    echo(f"    Confluence ▸ labels: {', '.join(page.labels)}")
    return page
