"""Key times and the metrics measured between them (pure: no database, no Slack).

The key times of an incident are impact started, detected, declared, mitigated, resolved and
impact ended. Each is either **set** by a person (a command, the "Edit key times" modal, or by
moving its status event on the timeline) or **derived** from what was captured:

| key time       | derived from                                                                |
| -------------- | --------------------------------------------------------------------------- |
| impact started | assumed to be when it was detected (so time to detect is unknown)           |
| detected       | the first `detection` event, or the declaration if that came first          |
| declared       | when `/incident declare` ran (recorded; it cannot be set)                   |
| mitigated      | once mitigated or resolved: the first `mitigation` event or the status      |
|                | command, whichever came first                                               |
| resolved       | when `/incident resolved` ran                                               |
| impact ended   | assumed to be the resolution                                                |

The metrics all start at impact start, the moment customers were first hurt, so that they add
up along one clock (Atlassian's template asks "how long the impact lasted" and how to cut
time to detection and to mitigation; Datadog measures time to detect from "the earliest
customer impact"):

| metric            | from           | to                              |
| ----------------- | -------------- | ------------------------------- |
| time to detect    | impact started | detected                        |
| time to mitigate  | impact started | mitigated                       |
| time to resolve   | impact started | resolved                        |
| impact duration   | impact started | impact ended (else resolved)    |

Unlike Datadog's, our time to resolve starts at impact start rather than at the declaration,
and we report time to mitigate rather than Datadog's time to repair (detection to the last
impact). A metric whose ends are not both known is None: never a guess shown as a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.models import KeyTime, KeyTimeVia

SETTABLE = (
    KeyTime.IMPACT_STARTED,
    KeyTime.DETECTED,
    KeyTime.MITIGATED,
    KeyTime.RESOLVED,
    KeyTime.IMPACT_ENDED,
)
ORDER = (
    KeyTime.IMPACT_STARTED,
    KeyTime.DETECTED,
    KeyTime.DECLARED,
    KeyTime.MITIGATED,
    KeyTime.RESOLVED,
    KeyTime.IMPACT_ENDED,
)
# Pairs that must not be out of order: (earlier, later).
MUST_PRECEDE = (
    (KeyTime.IMPACT_STARTED, KeyTime.DETECTED),
    (KeyTime.IMPACT_STARTED, KeyTime.MITIGATED),
    (KeyTime.IMPACT_STARTED, KeyTime.RESOLVED),
    (KeyTime.IMPACT_STARTED, KeyTime.IMPACT_ENDED),
    (KeyTime.DETECTED, KeyTime.MITIGATED),
    (KeyTime.DETECTED, KeyTime.RESOLVED),
    (KeyTime.MITIGATED, KeyTime.RESOLVED),
)


@dataclass(frozen=True)
class SetKeyTime:
    """A key time a person set."""

    at: datetime
    by: str
    via: KeyTimeVia


@dataclass(frozen=True)
class Captured:
    """What the bot recorded about an incident, from which key times are derived."""

    declared_at: datetime
    mitigated_at: datetime | None  # when the status became mitigated (or resolved directly)
    resolved_at: datetime | None
    detections: tuple[datetime, ...]  # times of `detection` events
    mitigations: tuple[datetime, ...]  # times of `mitigation` events


@dataclass(frozen=True)
class Moment:
    """One key time: when, and where that came from."""

    kind: KeyTime
    at: datetime | None
    derived: bool  # False: a person set it
    source: str  # how it was derived, or how it was set ("command", "modal", ...)
    set_by: str | None = None  # the Slack id of who set it

    @property
    def label(self) -> str:
        return self.kind.label


@dataclass(frozen=True)
class KeyTimes:
    impact_started: Moment
    detected: Moment
    declared: Moment
    mitigated: Moment
    resolved: Moment
    impact_ended: Moment

    def get(self, kind: KeyTime) -> Moment:
        moment = getattr(self, kind.value)
        assert isinstance(moment, Moment)
        return moment

    def all(self) -> list[Moment]:
        return [self.get(kind) for kind in ORDER]


def _first(times: Iterable[datetime]) -> datetime | None:
    return min(times, default=None)


def derive(captured: Captured, settings: Mapping[KeyTime, SetKeyTime]) -> KeyTimes:
    """The key times: what people set wins, the rest is derived (see the module docstring)."""

    def moment(kind: KeyTime, at: datetime | None, source: str) -> Moment:
        chosen = settings.get(kind)
        if chosen is not None and kind is not KeyTime.DECLARED:
            return Moment(kind, chosen.at, False, chosen.via.value, chosen.by)
        return Moment(kind, at, True, source)

    declared = captured.declared_at
    first_detection = _first(captured.detections)
    if first_detection is not None and first_detection < declared:
        detected = moment(KeyTime.DETECTED, first_detection, "the first detection event")
    else:
        detected = moment(KeyTime.DETECTED, declared, "the declaration")
    impact = moment(KeyTime.IMPACT_STARTED, detected.at, "assumed: when it was detected")
    mitigated_at, mitigated_from = None, "not yet"
    if captured.mitigated_at is not None:
        first_mitigation = _first(captured.mitigations)
        if first_mitigation is not None and first_mitigation < captured.mitigated_at:
            mitigated_at, mitigated_from = first_mitigation, "the first mitigation event"
        else:
            mitigated_at, mitigated_from = captured.mitigated_at, "the status change"
    resolved = moment(
        KeyTime.RESOLVED,
        captured.resolved_at,
        "the status change" if captured.resolved_at else "not yet",
    )
    return KeyTimes(
        impact_started=impact,
        detected=detected,
        declared=Moment(KeyTime.DECLARED, declared, True, "when it was declared"),
        mitigated=moment(KeyTime.MITIGATED, mitigated_at, mitigated_from),
        resolved=resolved,
        impact_ended=moment(
            KeyTime.IMPACT_ENDED,
            resolved.at,
            "assumed: the resolution" if resolved.at else "not yet",
        ),
    )


def out_of_order(times: KeyTimes) -> list[tuple[Moment, Moment]]:
    """Pairs of known key times that contradict each other (the later one comes first)."""
    wrong = []
    for earlier, later in MUST_PRECEDE:
        first, second = times.get(earlier), times.get(later)
        if first.at is not None and second.at is not None and second.at < first.at:
            wrong.append((first, second))
    return wrong


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    value: timedelta | None
    definition: str  # "impact started → detected", shown next to the number


@dataclass(frozen=True)
class Metrics:
    time_to_detect: Metric
    time_to_mitigate: Metric
    time_to_resolve: Metric
    impact_duration: Metric

    def all(self) -> list[Metric]:
        return [
            self.time_to_detect,
            self.time_to_mitigate,
            self.time_to_resolve,
            self.impact_duration,
        ]


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None or end < start:
        return None
    return end - start


def metrics(times: KeyTimes) -> Metrics:
    """The metrics (module docstring). Time to detect is unknown while impact start is only
    assumed to be the detection: it would always read 0."""
    start = times.impact_started.at
    impact_end = times.impact_ended.at or times.resolved.at
    detect = None if times.impact_started.derived else _span(start, times.detected.at)
    return Metrics(
        time_to_detect=Metric(
            "time_to_detect", "Time to detect", detect, "impact started → detected"
        ),
        time_to_mitigate=Metric(
            "time_to_mitigate",
            "Time to mitigate",
            _span(start, times.mitigated.at),
            "impact started → mitigated",
        ),
        time_to_resolve=Metric(
            "time_to_resolve",
            "Time to resolve",
            _span(start, times.resolved.at),
            "impact started → resolved",
        ),
        impact_duration=Metric(
            "impact_duration",
            "Impact duration",
            _span(start, impact_end),
            "impact started → impact ended, else resolved",
        ),
    )
