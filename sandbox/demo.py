"""`postmortem-bot demo`: a scripted incident through the real app and the bundled Slack
simulator, with no workspace: declare, timeline (command, shortcut, reaction), a conversation
with a thread, a follow-up, resolution, and the generated postmortem written to a file."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.slack.mrkdwn import plain_text
from sandbox import demo_confluence
from sandbox.harness import RunningBot, message_event, running_bot, wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.migrate import upgrade

CHANNEL = "C0DEMOINC"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"


class Demo:
    def __init__(self, slack: FakeSlack, bot: RunningBot, echo: Callable[[str], None]) -> None:
        self.slack, self.bot, self.echo = slack, bot, echo
        self._seen = 0

    def _bot_posts(self) -> list[str]:
        posts = [m for m in self.slack.messages(CHANNEL) if m.get("bot_id") and m.get("ts")]
        names = {f"<@{uid}>": f"@{_name(uid)}" for uid in (ALICE, BOB, CAROL)}
        texts = []
        for message in posts:
            text = message.get("text", "")
            for token, name in names.items():
                text = text.replace(token, name)
            texts.append(plain_text(text))
        return texts

    def _show_new_posts(self, expect: int) -> None:
        wait_until(lambda: len(self._bot_posts()) >= self._seen + expect, what="the bot's reply")
        for text in self._bot_posts()[self._seen :]:
            self.echo(f"    bot ▸ {text.splitlines()[0][:110]}")
        self._seen = len(self._bot_posts())

    def command(self, user: str, command: str, text: str, *, posts: int = 1) -> None:
        self.echo(f"  {_name(user)} ▸ {command} {text}")
        url = self.slack.new_response_url()
        reply = self.bot.requests.slash_command(
            command,
            text,
            user_id=user,
            channel_id=CHANNEL,
            response_url=url,
            trigger_id=self.slack.new_trigger_id(),
        )
        if reply.status != 200:
            raise RuntimeError(f"{command} {text} answered HTTP {reply.status}")
        if posts:
            self._show_new_posts(posts)

    def say(
        self, user: str, text: str, *, thread_of: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        message = self.slack.post_as_user(
            CHANNEL, user, text, thread_ts=thread_of["ts"] if thread_of else None
        )
        self.bot.requests.event(message_event(CHANNEL, message))
        self.echo(f"  {_name(user)}{' (in thread)' if thread_of else ''} ▸ {text}")
        return message


def _name(user: str) -> str:
    return {ALICE: "alice", BOB: "bob", CAROL: "carol"}.get(user, user)


def run_demo(
    out: Path, echo: Callable[[str], None] = print, *, destination: str = "canvas"
) -> Path:
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="postmortem-demo-") as tmp,
        FakeSlack() as slack,
        demo_confluence.fake_confluence(destination) as confluence,
    ):
        db = Database(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}")
        upgrade(db)
        slack.add_user(ALICE, "alice", real_name="Alice Ops", tz="Europe/Paris")
        slack.add_user(BOB, "bob", real_name="Bob Dev", tz="America/Los_Angeles")
        slack.add_user(CAROL, "carol", real_name="Carol SRE", tz="UTC")
        slack.add_channel("inc-checkout", members=[ALICE, BOB, CAROL], channel_id=CHANNEL)
        overrides = demo_confluence.bot_settings(destination, confluence)
        with running_bot(slack, db, **overrides) as bot:
            demo = Demo(slack, bot, echo)
            echo(f"A Slack simulator and the bot are running (bot at {bot.url}).\n#inc-checkout:")
            demo.command(ALICE, "/incident", "declare Checkout returns 500s sev2")
            first = demo.say(BOB, "seeing 500s on checkout since the 14:00 deploy")
            clue = demo.say(CAROL, "deploy 4812 touched the payment client", thread_of=first)
            demo.command(CAROL, "/timeline", "detection Pager fired: checkout 5xx at 40%")
            twenty_ago = (datetime.now(UTC) - timedelta(minutes=20)).astimezone(
                ZoneInfo("America/Los_Angeles")
            )
            demo.command(BOB, "/timeline", f"at {twenty_ago:%H:%M} note Deploy 4812 went out")
            echo("  alice ▸ (Add to timeline, on carol's thread reply)")
            bot.requests.message_shortcut(
                "add_to_timeline",
                user_id=ALICE,
                channel_id=CHANNEL,
                message=clue,
                response_url=slack.new_response_url(),
            )
            wait_until(lambda: slack.reactions(CHANNEL, clue["ts"]), what="the shortcut")
            rollback = demo.say(BOB, "rolled back 4812, error rate is back to normal")
            slack.add_reaction(CHANNEL, rollback["ts"], "pushpin", ALICE)
            echo("  alice ▸ (reacts :pushpin: to bob's message)")
            bot.requests.event(
                {
                    "type": "reaction_added",
                    "user": ALICE,
                    "reaction": "pushpin",
                    "item": {"type": "message", "channel": CHANNEL, "ts": rollback["ts"]},
                    "item_user": BOB,
                    "event_ts": f"{time.time():.6f}",
                }
            )
            demo.command(
                ALICE,
                "/followup",
                "Add a canary stage to checkout deploys <@U0BOB|bob> due in 7 days p2",
            )
            demo.command(ALICE, "/incident", "mitigated")
            demo.command(ALICE, "/incident", "resolved")
            demo.command(ALICE, "/postmortem", "generate", posts=0)
            if confluence is not None:
                page = demo_confluence.published_page(confluence, echo)
                markdown = page.body  # the page's storage format, as Confluence keeps it
            else:
                canvas = wait_until(
                    lambda: next(iter(slack.canvases().values()), None), what="the canvas"
                )
                markdown = str(canvas["markdown"])
            wait_until(lambda: len(demo._bot_posts()) > demo._seen, what="the postmortem link")
            demo._show_new_posts(1)
        db.dispose()
    out.write_text(markdown)
    echo(
        f"\nThe postmortem ({len(markdown.splitlines())} lines) is in {out}. "
        f"Demo took {time.perf_counter() - started:.1f}s."
    )
    return out
