"""Confluence pages, the way Atlassian's own postmortem process keeps them (issue 17).

The page is titled `INC-42: <title> — postmortem`, labelled `postmortem`, `incident`,
`inc-42` and the severity (`sev2`), opens with a Page Properties table (key times, severity,
status, owner, commander, the incident channel) and holds the template's sections; follow-ups
tracked in Jira show as Jira issue macros. bot.confluence does the work; this module maps a
postmortem onto it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.confluence.gateway import Account, ConfluenceGateway
from bot.confluence.page import Fact, PageWriter, splice
from bot.confluence.publish import PageSpec, PrivateRefused, Readers, publish_page
from bot.confluence.storage import Converter
from bot.core.errors import UserError
from bot.core.settings import README_HINT, Settings
from bot.postmortem.context import PostmortemContext
from bot.postmortem.destinations.base import Target
from bot.postmortem.document import Document
from bot.postmortem.markdown import one_line
from bot.postmortem.publish import Published
from bot.postmortem.render import _utc

log = logging.getLogger("postmortem_bot.confluence")
MAX_MEMBERS = 500  # a private incident channel larger than this is not a private one


def page_title(key: str, title: str) -> str:
    """`INC-42: Checkout returns 500s — postmortem`, within Confluence's 255 characters."""
    suffix = " — postmortem"
    head = f"{key}: {one_line(title, 255)}"
    return head[: 255 - len(suffix)] + suffix


def page_labels(team_id: str, key: str, severity: str) -> tuple[str, ...]:
    """The marker first (it finds the page again: one per workspace and incident), then the
    labels people search by."""
    marker = f"postmortem-bot-{team_id.lower()}-{key.lower()}"
    return (marker, "postmortem", "incident", key.lower(), severity.lower())


def facts_for(context: PostmortemContext, channel_url: str | None) -> list[Fact]:
    """The Page Properties rows: what the space's report lists for every postmortem."""
    incident, postmortem = context.incident, context.postmortem
    facts = [
        Fact.text("Incident", incident.key),
        Fact.text("Severity", incident.severity),
        Fact.text("Postmortem status", postmortem.status),
        Fact.text("Incident status", incident.status),
        Fact.text("Owner", postmortem.owner.name),
        Fact.text("Incident commander", incident.commander.name),
    ]
    facts += [
        Fact.text(t.label, _utc(t.at) if t.at else "not yet")
        for t in context.figures.times
        if t.name != "impact_ended" or not t.derived
    ]
    channel = "private channel" if incident.private else "incident channel"
    facts.append(Fact.link("Slack", f"{channel} ({incident.channel_id})", channel_url))
    return facts


def channel_url(client: WebClient, channel_id: str) -> str | None:
    """`https://acme.slack.com/archives/C0123` (None when Slack won't say the workspace URL)."""
    try:
        base = client.auth_test().get("url")
    except SlackApiError:
        return None
    return f"{base.rstrip('/')}/archives/{channel_id}" if isinstance(base, str) else None


def channel_readers(
    client: WebClient, gateway: ConfluenceGateway, channel_id: str, group: str | None
) -> Readers:
    """The channel's people who have a Confluence account (by their Slack e-mail address),
    and the configured group."""
    users: list[Account] = []
    unmatched: list[str] = []
    cursor: str | None = None
    members: list[str] = []
    while len(members) < MAX_MEMBERS:
        page = client.conversations_members(channel=channel_id, limit=200, cursor=cursor)
        members += [str(m) for m in page.get("members") or []]
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    for member in members[:MAX_MEMBERS]:
        user = client.users_info(user=member).get("user") or {}
        if user.get("is_bot") or user.get("deleted") or member == "USLACKBOT":
            continue
        profile = user.get("profile") or {}
        email = str(profile.get("email") or "")
        name = str(profile.get("real_name") or user.get("real_name") or member)
        account = gateway.find_user(email) if email else None
        if account is None:
            unmatched.append(name)
        elif account not in users:
            users.append(account)
    return Readers(tuple(users), (group,) if group else (), tuple(unmatched))


class ConfluenceDestination:
    name = "confluence"
    deferred = True

    def __init__(
        self,
        settings: Settings,
        *,
        gateway: ConfluenceGateway | None = None,
        client: WebClient | None = None,
        facts: list[Fact] | None = None,
        readers: Callable[[], Readers] | None = None,
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self.client = client
        self.facts = facts or []
        self.readers = readers
        self.writer = PageWriter(Converter(settings.jira_url))

    def check(self, document: Document, target: Target) -> None:
        missing = self.settings.confluence_missing()
        if missing:
            raise UserError(
                "Postmortems are published to Confluence here (POSTMORTEM_DESTINATION), but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Ask "
                f"whoever runs the bot to set {'it' if len(missing) == 1 else 'them'}. "
                + README_HINT
            )
        if (
            target.private
            and not self.settings.confluence_cloud
            and not self.settings.confluence_private_parent_page_id
        ):
            raise PrivateRefused(
                "This incident's channel is private, and on Confluence Data Center I can't "
                "create a page only its members can read from the first moment. Set "
                "CONFLUENCE_PRIVATE_PARENT_PAGE_ID (a view-restricted page to put private "
                "postmortems under) and CONFLUENCE_PRIVATE_GROUP. Nothing was published."
            )
        self.writer.check_document(document)

    def publish(self, document: Document, previous: Document | None, target: Target) -> Published:
        assert self.gateway is not None, "publishing needs the gateway"
        gateway, facts, writer = self.gateway, self.facts, self.writer

        def refresh(body: str) -> tuple[str, list[str]]:
            spliced = splice(writer, body, document, previous, facts)
            return spliced.body, spliced.notes()

        spec = PageSpec(
            title=page_title(target.key, target.title),
            labels=page_labels(target.team_id, target.key, target.severity),
            private=target.private,
            create=lambda: writer.full(document, facts),
            refresh=refresh,
            readers=self.readers,
        )
        result = publish_page(gateway, spec, target.page_id)
        notes = list(result.notes)
        if result.conflicts:
            notes.append(
                "Someone saved the page while I was updating it; I applied my change to their "
                "version."
            )
        return Published("confluence", result.page.id, result.page.url, notes=tuple(notes))
