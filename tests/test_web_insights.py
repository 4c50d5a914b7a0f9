"""The insights page against a seeded history of 200 incidents: every number of every table (and
its CSV) is computed here again, independently, from what was seeded."""

from __future__ import annotations

import csv
import io
import math
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from bot.knowledge.access import forget_memberships
from sandbox.harness import running_bot
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    EventKind,
    EventSource,
    FollowUp,
    FollowUpChange,
    FollowUpField,
    FollowUpStatus,
    Incident,
    IncidentKeyTime,
    IncidentStatus,
    KeyTime,
    KeyTimeVia,
    Postmortem,
    PostmortemStatus,
    Priority,
    Severity,
    TimelineEvent,
)
from tests.bench import ALICE, CAROL, PRIVATE_CHANNEL
from tests.test_web_view import NOW, TEAM, MovableClock, web_view_settings
from tests.webclient import Browser

MONTHS = [f"2025-{m:02d}" for m in (12,)] + [f"2026-{m:02d}" for m in range(1, 12)]


def month(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def nearest_rank_p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * 9 / 10) - 1]


def cell(values: list[float], kind: str) -> str:
    if not values:
        return ""
    value = statistics.median(values) if kind == "median" else nearest_rank_p90(values)
    return str(round(value, 1))


@dataclass
class Expected:
    severity: Counter[tuple[str, str]]
    samples: dict[tuple[str, str], list[float]]
    declared: Counter[str]
    opened: Counter[str]
    closed: Counter[str]
    overdue: Counter[str]
    postmortems: Counter[str]
    completion: dict[str, list[float]]


def seed_history(db: Database) -> Expected:
    """200 incidents over the last 11 months (every tenth private, in a channel Carol is not
    in), plus three older ones outside the window; what Carol should see is tallied as we go."""
    rng = random.Random(1818)
    exp = Expected(Counter(), defaultdict(list), Counter(), Counter(), Counter(), Counter(),
                   Counter(), defaultdict(list))  # fmt: skip
    with db.session() as session:
        for n in range(1, 204):
            old = n > 200
            declared = NOW - timedelta(minutes=rng.randint(60 * 24, 60 * 24 * 330))
            if old:
                declared = NOW - timedelta(days=400 + n)
            private = n % 10 == 0
            roll = rng.random()
            status = IncidentStatus.RESOLVED
            if not private and roll < 0.1:
                status = IncidentStatus.ACTIVE
            elif not private and roll < 0.2:
                status = IncidentStatus.MITIGATED
            to_mitigate = timedelta(minutes=rng.randint(5, 240))
            to_resolve = to_mitigate + timedelta(minutes=rng.randint(10, 600))
            mitigated = declared + to_mitigate if status is not IncidentStatus.ACTIVE else None
            resolved = declared + to_resolve if status is IncidentStatus.RESOLVED else None
            incident = Incident(
                team_id=TEAM, number=n, title=f"Incident {n}", severity=rng.choice(list(Severity)),
                status=status, channel_id=PRIVATE_CHANNEL if private else f"C{n:06d}",
                channel_private=private, commander_id=ALICE, declared_at=declared,
                mitigated_at=mitigated, resolved_at=resolved,
            )  # fmt: skip
            session.add(incident)
            session.flush()
            impact_minutes = rng.randint(1, 120) if rng.random() < 0.5 else None
            if impact_minutes is not None:
                session.add(
                    IncidentKeyTime(
                        team_id=TEAM,
                        incident_id=incident.id,
                        kind=KeyTime.IMPACT_STARTED,
                        at=declared - timedelta(minutes=impact_minutes),
                        set_by=ALICE,
                        set_at=declared,
                        via=KeyTimeVia.COMMAND,
                    )  # fmt: skip
                )
            mitigation_event = None
            if mitigated is not None and rng.random() < 0.25:
                mitigation_event = mitigated - timedelta(minutes=7)
                session.add(
                    TimelineEvent(
                        team_id=TEAM,
                        incident_id=incident.id,
                        occurred_at=mitigation_event,
                        kind=EventKind.MITIGATION,
                        text="rolled back",
                        author_id=ALICE,
                        recorded_at=declared,
                        source=EventSource.COMMAND,
                    )  # fmt: skip
                )
            visible = not private and not old
            start = declared - timedelta(minutes=impact_minutes or 0)
            if visible:
                key = month(declared)
                exp.severity[(key, incident.severity.label)] += 1
                exp.declared[key] += 1
                if impact_minutes is not None:
                    exp.samples[(key, "detect")].append(float(impact_minutes))
                if mitigated is not None:
                    effective = mitigation_event or mitigated
                    exp.samples[(key, "mitigate")].append((effective - start).total_seconds() / 60)
                if resolved is not None:
                    exp.samples[(key, "resolve")].append((resolved - start).total_seconds() / 60)
            for number in range(1, rng.randint(0, 2) + 1):
                created = declared + timedelta(hours=1)
                due = (created + timedelta(days=rng.randint(1, 60))).date()
                wanted = rng.choice(list(FollowUpStatus))
                closed_at = created + timedelta(days=rng.randint(1, 40), hours=3)
                closes = not wanted.is_open and closed_at <= NOW
                final = (
                    wanted
                    if closes or wanted is FollowUpStatus.IN_PROGRESS
                    else FollowUpStatus.OPEN
                )
                followup = FollowUp(
                    team_id=TEAM, incident_id=incident.id, number=number, title="Fix it",
                    owner_id=ALICE, due_date=due, priority=Priority.P3, status=final,
                    created_by=ALICE, created_at=created, updated_at=created,
                )  # fmt: skip
                session.add(followup)
                session.flush()
                if final is FollowUpStatus.IN_PROGRESS:  # a change that closes nothing
                    session.add(
                        FollowUpChange(
                            team_id=TEAM,
                            follow_up_id=followup.id,
                            changed_by=ALICE,
                            changed_at=created + timedelta(hours=5),
                            field=FollowUpField.STATUS,
                            old_value="open",
                            new_value="in_progress",
                        )  # fmt: skip
                    )
                if closes:
                    session.add(
                        FollowUpChange(
                            team_id=TEAM,
                            follow_up_id=followup.id,
                            changed_by=ALICE,
                            changed_at=closed_at,
                            field=FollowUpField.STATUS,
                            old_value="open",
                            new_value=final.value,
                        )  # fmt: skip
                    )
                if visible:
                    exp.opened[month(created)] += 1
                    if closes:
                        exp.closed[month(closed_at)] += 1
                    if final.is_open and due < NOW.date():
                        exp.overdue[f"{due.year:04d}-{due.month:02d}"] += 1
            if resolved is None or rng.random() < 0.1:
                continue
            pm_status = rng.choice(list(PostmortemStatus))
            completed_at = None
            if pm_status is PostmortemStatus.COMPLETED:
                completed_at = resolved + timedelta(hours=rng.randint(12, 24 * 20))
                if completed_at > NOW:
                    pm_status, completed_at = PostmortemStatus.IN_REVIEW, None
            session.add(
                Postmortem(
                    team_id=TEAM,
                    incident_id=incident.id,
                    status=pm_status,
                    owner_id=ALICE,
                    created_at=resolved,
                    updated_at=resolved,
                    status_changed_at=resolved,
                    completed_at=completed_at,
                )  # fmt: skip
            )
            if visible:
                exp.postmortems[pm_status.label] += 1
                if completed_at is not None:
                    days = (completed_at - resolved).total_seconds() / 86400
                    exp.completion[month(completed_at)].append(days)
    return exp


@pytest.fixture
def history(slack: FakeSlack, db: Database) -> Iterator[tuple[str, Expected]]:
    expected = seed_history(db)
    forget_memberships()
    with running_bot(slack, db, clock=MovableClock(NOW), **web_view_settings()) as bot:
        yield bot.url, expected


def read_csv(browser: Browser, url: str) -> list[list[str]]:
    page = browser.get(url)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(page.body)))


def test_insights_numbers_match_the_seeded_history(
    slack: FakeSlack, history: tuple[str, Expected]
) -> None:
    url, exp = history
    slack.sign_in_browser_as(CAROL)  # not in the private channel: its incidents never count
    browser = Browser()
    page = browser.get(url + "/app/insights")
    assert page.status == 200
    assert page.body.count("<svg") == 7 and "<script" not in page.body
    assert sum(exp.declared.values()) == 180  # 200, less the 20 private ones

    severity = read_csv(browser, url + "/app/insights/incidents-by-severity.csv")
    assert severity[0] == ["month", "SEV1", "SEV2", "SEV3", "SEV4", "SEV5", "total"]
    assert severity[1:] == [
        [m, *(str(exp.severity[(m, s.label)]) for s in Severity), str(exp.declared[m])]
        for m in MONTHS
    ]

    response = read_csv(browser, url + "/app/insights/response-times.csv")
    expected_rows = []
    for m in MONTHS:
        row = [m, str(exp.declared[m])]
        for name in ("detect", "mitigate", "resolve"):
            values = exp.samples[(m, name)]
            row += [str(len(values)), cell(values, "median"), cell(values, "p90")]
        expected_rows.append(row)
    assert response[1:] == expected_rows
    assert sum(int(r[2]) for r in response[1:]) > 50  # enough samples to mean something

    followups = read_csv(browser, url + "/app/insights/follow-ups.csv")
    assert followups[1:] == [
        [m, str(exp.opened[m]), str(exp.closed[m]), str(exp.overdue[m])] for m in MONTHS
    ]
    assert sum(exp.closed.values()) > 0 and sum(exp.overdue.values()) > 0

    statuses = read_csv(browser, url + "/app/insights/postmortems-by-status.csv")
    assert statuses[1:] == [[s.label, str(exp.postmortems[s.label])] for s in PostmortemStatus]

    completion = read_csv(browser, url + "/app/insights/postmortem-completion.csv")
    assert completion[1:] == [
        [m, str(len(exp.completion[m])), cell(exp.completion[m], "median"),
         cell(exp.completion[m], "p90")]
        for m in MONTHS
    ]  # fmt: skip

    # The page's own tables say the same as the CSVs.
    for m in MONTHS:
        assert f'<td>{m}</td><td class="num">{exp.severity[(m, "SEV1")]}</td>' in page.body
    assert browser.get(url + "/app/insights/nope.csv").status == 404
