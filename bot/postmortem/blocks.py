"""The postmortem's message in the incident channel (link, status, owner, buttons) and DMs."""

from __future__ import annotations

from typing import Any

from bot.postmortem.publish import Published
from bot.slack.mrkdwn import plain_text, safe_mrkdwn
from storage.models import Incident, Postmortem, PostmortemStatus

Blocks = list[dict[str, Any]]

STATUS_ACTION = "postmortem_status"
OWNER_ACTION = "postmortem_owner"
STATUS_EMOJI = {
    PostmortemStatus.DRAFT: ":pencil2:",
    PostmortemStatus.IN_REVIEW: ":eyes:",
    PostmortemStatus.COMPLETED: ":white_check_mark:",
}
NEXT_STEPS = {
    PostmortemStatus.DRAFT: [("Ready for review", PostmortemStatus.IN_REVIEW)],
    PostmortemStatus.IN_REVIEW: [
        ("Mark completed", PostmortemStatus.COMPLETED),
        ("Back to draft", PostmortemStatus.DRAFT),
    ],
    PostmortemStatus.COMPLETED: [("Reopen as draft", PostmortemStatus.DRAFT)],
}


def _where(postmortem: Postmortem) -> str:
    if not postmortem.document_url:
        return "no document linked"
    if postmortem.attached:
        label = "written elsewhere"
    elif postmortem.confluence_page_id:
        label = "Confluence page"
    else:
        label = "canvas" if postmortem.canvas_id else "Markdown file"
    return f"<{postmortem.document_url}|open the postmortem> ({label})"


def summary_line(incident: Incident, postmortem: Postmortem) -> str:
    version = f" · version {postmortem.version}" if postmortem.version else ""
    return (
        f"{STATUS_EMOJI[postmortem.status]} *{incident.key} postmortem* · "
        f"*{postmortem.status.label}* · owner <@{postmortem.owner_id}>{version} · "
        f"{_where(postmortem)}"
    )


def postmortem_message(incident: Incident, postmortem: Postmortem) -> tuple[str, Blocks]:
    text = summary_line(incident, postmortem)
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": f"{STATUS_ACTION}_{status.value}",
            "text": {"type": "plain_text", "text": label},
            "value": f"{postmortem.id}:{status.value}",
            **({"style": "primary"} if status is PostmortemStatus.COMPLETED else {}),
        }
        for label, status in NEXT_STEPS[postmortem.status]
    ]
    buttons.append(
        {
            "type": "users_select",
            "action_id": OWNER_ACTION,
            "placeholder": {"type": "plain_text", "text": "Change owner"},
            "initial_user": postmortem.owner_id,
        }
    )
    blocks: Blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": f"postmortem-{postmortem.id}", "elements": buttons},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{safe_mrkdwn(incident.title)} · write it within 24–48 hours, while "
                    "it is fresh · `/postmortem help`",
                }
            ],
        },
    ]
    return f"{incident.key} postmortem: {postmortem.status.label}", blocks


def owner_dm(incident: Incident, postmortem: Postmortem, *, by: str) -> str:
    """What a new owner is told. A private incident's DM names nothing but the key."""
    if incident.channel_private:
        return (
            f"<@{by}> made you the owner of the *{incident.key}* postmortem (a private incident: "
            f"open it from the incident's channel, <#{incident.channel_id}>)."
        )
    link = f" <{postmortem.document_url}|Open it>." if postmortem.document_url else ""
    return (
        f"<@{by}> made you the owner of the *{incident.key}* postmortem "
        f"({plain_text(incident.title)[:100]}), status {postmortem.status.label}.{link} "
        f"Its channel: <#{incident.channel_id}>."
    )


def generated_note(key: str, version: int, published: Published) -> str:
    """What the person who ran `/postmortem generate` is told privately once it is out: where,
    and for a regeneration what was refreshed and what was left as people wrote it."""
    where = {"canvas": "canvas", "confluence": "Confluence page"}.get(
        published.kind, "Markdown file"
    )
    link = f" <{published.url}|Open it>." if published.url else ""
    lines = [f"The {key} postmortem (version {version}) is published as a {where}.{link}"]
    if published.fallback_reason:
        lines.append(
            f"Canvases aren't available here (Slack said `{published.fallback_reason}`), so I "
            "uploaded the postmortem as a Markdown file instead."
        )
    lines += [f"• {note}" for note in published.notes]
    return "\n".join(lines)
