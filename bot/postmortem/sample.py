"""A small, realistic postmortem context: for `templates check` and for template authors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.incidents.keytimes import Captured, SetKeyTime, derive
from bot.postmortem.context import (
    Event,
    FollowUpItem,
    IncidentInfo,
    Message,
    Names,
    Participant,
    Person,
    PostmortemContext,
    PostmortemInfo,
    SimilarIncident,
    figures_for,
)
from storage.models import KeyTime, KeyTimeVia


def sample_context() -> PostmortemContext:
    t0 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    alice, bob = Person("U0ALICE", "Alice Ops"), Person("U0BOB", "Bob Dev")

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    timeline = [
        Event(at(-30), "note", bob, "Deployed checkout 4812", None, False),
        Event(at(0), "detection", alice, "Pager fired: checkout 5xx at 40%", None, False),
        Event(
            at(2), "status", alice, "Incident declared (SEV2): Checkout returns 500s", None, False
        ),
        Event(at(10), "escalation", alice, "Paged the payments on-call", None, False),
        Event(at(25), "decision", bob, "Roll back 4812", None, False),
        Event(at(31), "mitigation", bob, "Rollback complete; error rate normal", None, True),
        Event(at(60), "status", alice, "Status changed to resolved", None, False),
    ]
    reply = Message(at(26), alice, "go ahead", False, [])
    messages = [
        Message(at(1), alice, "seeing 500s on checkout", False, []),
        Message(at(24), bob, "I think it's 4812, rolling back?", True, ["graph.png"], [reply]),
    ]
    return PostmortemContext(
        incident=IncidentInfo(
            "INC-7", 7, "Checkout returns 500s", "SEV2", "resolved", "C0INC", False, alice
        ),
        figures=figures_for(
            derive(
                Captured(
                    declared_at=at(2),
                    mitigated_at=at(40),
                    resolved_at=at(60),
                    detections=(at(0),),
                    mitigations=(at(31),),
                ),
                {KeyTime.IMPACT_STARTED: SetKeyTime(at(-20), bob.id, KeyTimeVia.COMMAND)},
            ),
            Names({alice.id: alice.name, bob.id: bob.name}, {}),
        ),
        timeline=timeline,
        messages=messages,
        message_count=3,
        followups=[
            FollowUpItem(
                "INC-7-F1",
                "Canary deploys for checkout",
                bob,
                date(2026, 12, 1),
                "p2",
                "open",
                None,
            )
        ],
        participants=[
            Participant(alice, ["Incident commander", "Postmortem owner"], 2),
            Participant(bob, ["Responder"], 1),
        ],
        recurrence=[
            SimilarIncident(
                "INC-3", "Checkout 500s after deploy", at(-60 * 24 * 30), None, "similar title"
            )
        ],
        postmortem=PostmortemInfo("Draft", alice, 1, "standard"),
        generated_at=at(120),
    )
