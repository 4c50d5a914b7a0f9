"""`postmortem-bot demo`: a scripted incident through the real bot and the bundled Slack
simulator, with no workspace.

The incident runs on a simulated clock over about two hours (the bot's `Services.clock`, and
the Slack timestamps of what people post), so the postmortem's key times and metrics are real
numbers a reader can check against the timeline:

    T-25  bob deploys 4812 (the lead-up; alice puts his message on the timeline)
    T+0   customers start getting 500s (nobody knows yet)
    T+7   the pager fires: the detection (carol logs it at T+10, `/timeline at`)
    T+9   alice declares the incident
    T+15  escalation: the payments on-call is paged, severity raised to SEV1
    T+20  alice sets when the impact started, from the dashboards
    T+33  bob rolls 4812 back: the mitigation; alice marks it mitigated at T+35
    T+40  follow-ups, then one assigned by command
    T+85  resolved; alice sets when the impact ended (the rollback, T+33)
    T+90  the postmortem is generated; carol writes its summary in the canvas
    T+100 something changes, and the postmortem is generated again: carol's summary stays

Expected: time to detect 7m, time to mitigate 33m, time to resolve 1h 25m, impact 33m.
Everything goes through the real bot over HTTP with signed requests (sandbox.harness).
"""

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
from sandbox.confluence import FakeConfluence
from sandbox.harness import RunningBot, message_event, running_bot, wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.migrate import upgrade

CHANNEL = "C0DEMOINC"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
ZONES = {ALICE: "Europe/Paris", BOB: "America/Los_Angeles", CAROL: "UTC"}
NAMES = {ALICE: "alice", BOB: "bob", CAROL: "carol"}
HUMAN_SUMMARY = (
    "Deploy 4812 upgraded the payment client, whose new connection pool starved checkout of "
    "connections. Rolling it back ended the impact. (Written by carol in the canvas.)"
)


class SimulatedClock:
    """The bot's business time in the demo: minutes from T0, moved forward by the script.
    T0 is two hours before now, so every moment of the incident is in the past."""

    def __init__(self) -> None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.t0 = now - timedelta(minutes=120 + now.minute % 5)
        self.now = self.t0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: int) -> datetime:
        self.now = self.t0 + timedelta(minutes=minutes)
        return self.now

    def moment(self, minutes: int) -> datetime:
        return self.t0 + timedelta(minutes=minutes)

    def local(self, minutes: int, user: str) -> str:
        """`HH:MM` of T+minutes as `user` reads a clock in their own time zone."""
        return f"{self.moment(minutes).astimezone(ZoneInfo(ZONES[user])):%H:%M}"


class Demo:
    def __init__(
        self, slack: FakeSlack, bot: RunningBot, clock: SimulatedClock, echo: Callable[[str], None]
    ) -> None:
        self.slack, self.bot, self.clock, self.echo = slack, bot, clock, echo
        self._shown: set[str] = set()

    def line(self, who: str, text: str) -> None:
        self.echo(f"  {self.clock.now:%H:%M} UTC  {who} ▸ {text}")

    def _readable(self, text: str, limit: int = 120) -> str:
        for uid, name in NAMES.items():
            text = text.replace(f"<@{uid}>", f"@{name}")
        text = plain_text(text).replace("*", "")
        first = text.splitlines()[0] if text else ""
        return first if len(first) <= limit else first[: limit - 1] + "…"

    def show_posts(self, wait_for: str | None = None) -> None:
        """Print the bot's new messages in the channel (after one containing `wait_for`)."""

        def bot_posts() -> list[dict[str, Any]]:
            return [m for m in self.slack.messages(CHANNEL) if m.get("bot_id")]

        if wait_for is not None:
            wait_until(
                lambda: any(wait_for in str(m.get("text", "")) for m in bot_posts()),
                what=f"the bot's message ({wait_for})",
            )
        for message in bot_posts():
            if message["ts"] not in self._shown:
                self._shown.add(message["ts"])
                self.echo(f"                 bot ▸ {self._readable(str(message.get('text')))}")

    def private(self, user: str, text: str, *, details: bool = False) -> None:
        """A private answer: its first line, or (`details`) all but the closing hint."""
        lines = [line for line in text.splitlines() if line.strip()]
        if details and len(lines) > 2 and "`/incident" in lines[-1]:
            lines = lines[:-1]
        for line in lines if details else lines[:1]:
            readable = self._readable(line, limit=400 if details else 120)
            self.echo(f"                 bot ▸ (only {NAMES[user]} sees) {readable}")

    def command(
        self,
        user: str,
        command: str,
        text: str,
        *,
        wait_for: str | None = None,
        details: bool = False,
    ) -> str:
        """Run a slash command as `user`; show the private answer and the channel's messages.
        Returns the command's response_url (for answers that come later)."""
        self.line(NAMES[user], f"{command} {text}")
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
        if reply.body:
            self.private(user, str(reply.json().get("text", "")), details=details)
        self.show_posts(wait_for)
        return url

    def later_answer(self, user: str, url: str, needle: str, *, details: bool = False) -> str:
        """An answer the bot sends to a command's response_url after its work is done."""
        text = wait_until(
            lambda: next(
                (str(p["text"]) for p in self.slack.response_posts(url) if needle in p["text"]),
                None,
            ),
            timeout=20,
            what=f"the answer ({needle})",
        )
        self.private(user, text, details=details)
        return text

    def say(
        self, user: str, text: str, *, thread_of: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`user` posts in the channel at the simulated time; Slack tells the bot."""
        ts = f"{self.clock.now.timestamp():.6f}"
        message = self.slack.post_as_user(
            CHANNEL, user, text, thread_ts=thread_of["ts"] if thread_of else None, ts=ts
        )
        self.bot.requests.event(message_event(CHANNEL, message))
        self.line(NAMES[user] + (" (in thread)" if thread_of else ""), text)
        return message

    def add_to_timeline(self, user: str, message: dict[str, Any]) -> None:
        self.line(NAMES[user], f"(Add to timeline, on {NAMES[message['user']]}'s message)")
        self.bot.requests.message_shortcut(
            "add_to_timeline",
            user_id=user,
            channel_id=CHANNEL,
            message=message,
            response_url=self.slack.new_response_url(),
        )
        wait_until(lambda: self.slack.reactions(CHANNEL, message["ts"]), what="the shortcut")

    def pin(self, user: str, message: dict[str, Any]) -> None:
        self.slack.add_reaction(CHANNEL, message["ts"], "pushpin", user)
        self.line(NAMES[user], f"(reacts :pushpin: to {NAMES[message['user']]}'s message)")
        self.bot.requests.event(
            {
                "type": "reaction_added",
                "user": user,
                "reaction": "pushpin",
                "item": {"type": "message", "channel": CHANNEL, "ts": message["ts"]},
                "item_user": message["user"],
                "event_ts": f"{self.clock.now.timestamp():.6f}",
            }
        )


def script(demo: Demo, clock: SimulatedClock, confluence: FakeConfluence | None = None) -> str:
    """The incident, minute by minute; returns the postmortem's Markdown as it ends up (or,
    published to Confluence, the first version's page in its storage format)."""
    slack = demo.slack
    clock.at(-25)
    deploy = demo.say(BOB, "deploying 4812 (payment client upgrade) to checkout")
    clock.at(6)
    first = demo.say(BOB, "seeing 500s on checkout, anyone else?")
    clock.at(9)
    demo.command(ALICE, "/incident", "declare Checkout returns 500s sev2", wait_for="INC-1")
    clock.at(10)
    pager = clock.local(7, CAROL)
    demo.command(
        CAROL,
        "/timeline",
        f"at {pager} detection Pager fired: checkout 5xx at 40%",
        wait_for="Pager",
    )
    clock.at(11)
    demo.add_to_timeline(ALICE, deploy)
    clock.at(12)
    demo.say(CAROL, "deploy 4812 touched the payment client", thread_of=first)
    clock.at(15)
    demo.command(ALICE, "/timeline", "escalation Paged the payments on-call", wait_for="Paged")
    demo.command(ALICE, "/incident", "severity sev1", wait_for="SEV1")
    clock.at(20)
    impact = f"impact started {clock.local(0, ALICE)}"
    demo.command(ALICE, "/incident", impact, wait_for="*impact started* is now", details=True)
    clock.at(33)
    rollback = demo.say(BOB, "rolled back 4812, error rate is back to normal")
    demo.pin(ALICE, rollback)
    demo.command(BOB, "/timeline", "mitigation Rolled back deploy 4812", wait_for="Rolled back")
    clock.at(35)
    demo.command(ALICE, "/incident", "mitigated", wait_for="is now *mitigated*")
    clock.at(40)
    demo.command(
        ALICE,
        "/followup",
        "Add a canary stage to checkout deploys <@U0BOB|bob> due in 7 days p2",
        wait_for="INC-1-F1",
    )
    demo.command(CAROL, "/followup", "Alert on the checkout 5xx rate p1", wait_for="INC-1-F2")
    clock.at(50)
    demo.command(ALICE, "/followup", "assign F2 <@U0CAROL|carol>")
    clock.at(85)
    demo.command(ALICE, "/incident", "resolved", wait_for="is now *resolved*")
    clock.at(86)
    ended = f"impact ended {clock.local(33, ALICE)}"
    demo.command(ALICE, "/incident", ended, wait_for="*impact ended* is now", details=True)

    clock.at(90)
    url = demo.command(ALICE, "/postmortem", "generate")
    if confluence is not None:
        return demo_confluence.published_page(confluence, demo.echo).body
    demo.later_answer(ALICE, url, "version 1")
    demo.show_posts(wait_for="INC-1 postmortem")
    [canvas_id] = slack.canvases()
    demo.line("carol", "(writes the Summary in the canvas, by hand)")
    slack.edit_canvas_as_person(canvas_id, "Summary", HUMAN_SUMMARY)

    clock.at(100)
    demo.command(BOB, "/followup", "start F1")
    decision = "decision Keep 4812 rolled back until the pool fix ships"
    demo.command(ALICE, "/timeline", decision, wait_for="Keep 4812")
    url = demo.command(ALICE, "/postmortem", "generate")
    demo.later_answer(ALICE, url, "version 2", details=True)
    return str(slack.canvases()[canvas_id]["markdown"])


def key_facts(markdown: str) -> str:
    """The postmortem's header and its key facts (key times and metrics)."""
    end = markdown.find("\n## Summary")
    return markdown[: end if end >= 0 else len(markdown)].strip()


def run_demo(
    out: Path, echo: Callable[[str], None] = print, *, destination: str = "canvas"
) -> Path:
    started = time.perf_counter()
    clock = SimulatedClock()
    with (
        tempfile.TemporaryDirectory(prefix="postmortem-demo-") as tmp,
        FakeSlack() as slack,
        demo_confluence.fake_confluence(destination) as confluence,
    ):
        db = Database(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}")
        upgrade(db)
        slack.add_user(ALICE, "alice", real_name="Alice Ops", tz=ZONES[ALICE])
        slack.add_user(BOB, "bob", real_name="Bob Dev", tz=ZONES[BOB])
        slack.add_user(CAROL, "carol", real_name="Carol SRE", tz=ZONES[CAROL])
        slack.add_channel("inc-checkout", members=[ALICE, BOB, CAROL], channel_id=CHANNEL)
        overrides = demo_confluence.bot_settings(destination, confluence)
        with running_bot(slack, db, clock=clock, **overrides) as bot:
            echo(
                f"A Slack simulator and the bot are running (bot at {bot.url}); the incident "
                f"runs on a simulated clock from {clock.moment(-25):%H:%M} UTC.\n#inc-checkout:"
            )
            markdown = script(Demo(slack, bot, clock, echo), clock, confluence)
        db.dispose()
    out.write_text(markdown)
    if confluence is None:
        kept = "kept" if HUMAN_SUMMARY in markdown else "LOST"
        echo(f"\n{key_facts(markdown)}\n")
        echo(f"Carol's summary, written in the canvas between the two generations: {kept}.")
    echo(
        f"The postmortem ({len(markdown.splitlines())} lines) is in {out}. "
        f"Demo took {time.perf_counter() - started:.1f}s."
    )
    return out
