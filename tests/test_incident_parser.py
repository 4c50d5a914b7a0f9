from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import UserError
from bot.incidents.blocks import key_times_modal
from bot.incidents.commands import (
    Declare,
    EditKeyTimes,
    Help,
    Reopen,
    SetKeyTime,
    SetSeverity,
    SetStatus,
    ShowStatus,
    parse_incident,
    read_key_times_edit,
    read_time,
)
from bot.incidents.keytimes import Captured, derive
from bot.incidents.keytimes import SetKeyTime as KeyTimeSetting
from storage.models import Incident, IncidentStatus, KeyTime, KeyTimeVia, Severity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("  HELP ", Help()),
        ("declare Checkout returns 500s", Declare("Checkout returns 500s", None)),
        ("declare Checkout returns 500s sev2", Declare("Checkout returns 500s", Severity.SEV2)),
        ("declare SEV1 Payments down", Declare("Payments down", Severity.SEV1)),
        ("declare Login slow sev-4", Declare("Login slow", Severity.SEV4)),
        ("status", ShowStatus()),
        ("status mitigated", SetStatus(IncidentStatus.MITIGATED)),
        ("mitigated", SetStatus(IncidentStatus.MITIGATED)),
        ("resolve", SetStatus(IncidentStatus.RESOLVED)),
        ("Resolved", SetStatus(IncidentStatus.RESOLVED)),
        ("severity sev1", SetSeverity(Severity.SEV1)),
        ("sev SEV5", SetSeverity(Severity.SEV5)),
        ("sev2", SetSeverity(Severity.SEV2)),
    ],
)
def test_parses(text: str, expected: object) -> None:
    assert parse_incident(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("declare", "Give the incident a title"),
        ("declare sev2", "Give the incident a title"),
        ("severity", "sev1 (worst) to sev5"),
        ("severity sev9", "sev1 (worst) to sev5"),
        ("frobnicate", "I don't know `/incident frobnicate`"),
        ("status bananas", "takes no argument"),
        ("mitigated because db", "takes no text"),
        ("declare " + "x" * 151, "keep it under 150"),
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_incident(text)
    assert says in caught.value.message


def test_unknown_subcommand_error_does_not_echo_a_ping() -> None:
    with pytest.raises(UserError) as caught:
        parse_incident("<!channel> hello")
    assert "<!channel>" not in caught.value.message
    assert "/incident declare" in caught.value.message  # usage follows


# --- strict about severities, times on status changes, key times, reopen -------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('declare "Disk p2 full" sev3', Declare("Disk p2 full", Severity.SEV3)),
        ("declare \u201cSEV9 drill went wrong\u201d", Declare("SEV9 drill went wrong", None)),
        ("declare Checkout down (SEV1)", Declare("Checkout down", Severity.SEV1)),
        ("mitigated at 14:32", SetStatus(IncidentStatus.MITIGATED, "14:32")),
        ("mitigated 14:32 UTC", SetStatus(IncidentStatus.MITIGATED, "14:32 UTC")),
        ("resolved at yesterday 23:50", SetStatus(IncidentStatus.RESOLVED, "yesterday 23:50")),
        ("impact started 13:58 UTC", SetKeyTime(KeyTime.IMPACT_STARTED, "13:58 UTC")),
        ("impact started at 13:58", SetKeyTime(KeyTime.IMPACT_STARTED, "13:58")),
        (
            "Impact ended 2026-11-22T15:10+01:00",
            SetKeyTime(KeyTime.IMPACT_ENDED, "2026-11-22T15:10+01:00"),
        ),
        ("times", EditKeyTimes()),
        ("key times", EditKeyTimes()),
        ("reopen", Reopen()),
    ],
)
def test_parses_times_and_reopen(text: str, expected: object) -> None:
    assert parse_incident(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("declare Checkout down sev9", "`sev9` isn't a severity. Use sev1 (worst) to sev5"),
        ("declare Checkout down sev0", "sev1, sev2, sev3, sev4, sev5"),
        ("declare SEV0 Checkout down", "isn't a severity"),
        ("declare Checkout down p0", "`p0` is a priority"),
        ("declare Checkout down P1", "`P1` is a priority"),
        ("declare Checkout sev2 down", "Put the severity at the end"),
        ("declare Checkout sev7 down", "isn't a severity"),
        ("declare sev1 Checkout down sev2", "Give one severity"),
        ('declare "Checkout down" now', "only a severity can follow"),
        ("sev0", "isn't a severity"),
        ("sev9", "sev1 (worst) to sev5"),
        ("p1", "is a priority"),
        ("severity p2", "is a priority"),
        ("sev2 now", "Did you mean `/incident severity sev2`"),
        ("mitigated because of the rollback", "takes no text after it, or a time"),
        ("mitigated at", "Say when"),
        ("impact", "first or last affected"),
        ("impact began", "Say when"),
        ("impact worse 13:00", "first or last affected"),
        ("reopen please", "takes no text"),
    ],
)
def test_strict_errors_list_what_is_valid(text: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_incident(text)
    assert says in caught.value.message


NOW = datetime(2026, 11, 22, 14, 40, tzinfo=UTC)


def test_times_are_read_like_timeline_times() -> None:
    assert read_time("14:32", now=NOW, tz_name="UTC", what="mitigated") == NOW.replace(minute=32)
    paris = read_time("15:32", now=NOW, tz_name="Europe/Paris", what="mitigated")
    assert paris == NOW.replace(minute=32)
    assert read_time("15:00", now=NOW, tz_name="UTC", what="x") == datetime(
        2026, 11, 21, 15, 0, tzinfo=UTC
    )  # later today hasn't happened: yesterday
    for words, says in (
        ("14:32 after the rollback", "Only a time goes after `mitigated`"),
        ("2026-11-23 10:00", "in the future"),
        ("noonish", "couldn't read the time"),
    ):
        with pytest.raises(UserError) as caught:
            read_time(words, now=NOW, tz_name="UTC", what="mitigated")
        assert says in caught.value.message


def _field(value: str | None) -> dict[str, object]:
    return {"value": {"type": "plain_text_input", "value": value}}


def test_the_key_times_modal_reads_back_with_errors_per_field() -> None:
    values = {
        "impact_started": _field("2026-11-22 13:58"),
        "detected": _field(None),
        "mitigated": _field("tomorrow"),
        "resolved": _field("2026-11-23 10:00"),
        "impact_ended": _field("  "),
    }
    edit = read_key_times_edit(values, '{"incident_id": 7, "channel_id": "C1"}', now=NOW)
    assert (edit.incident_id, edit.channel_id) == (7, "C1")
    assert edit.values[KeyTime.IMPACT_STARTED] == datetime(2026, 11, 22, 13, 58, tzinfo=UTC)
    assert edit.values[KeyTime.DETECTED] is None and edit.values[KeyTime.IMPACT_ENDED] is None
    assert set(edit.errors) == {"mitigated", "resolved"}
    assert "in the future" in edit.errors["resolved"]


def test_the_key_times_modal_shows_what_was_set_and_what_is_derived() -> None:
    declared = NOW.replace(hour=14, minute=0)
    captured = Captured(declared, NOW, None, detections=(NOW,), mitigations=())
    setting = KeyTimeSetting(declared.replace(hour=13), "U1", KeyTimeVia.COMMAND)
    times = derive(captured, {KeyTime.IMPACT_STARTED: setting})
    incident = Incident(id=3, number=42)
    view = key_times_modal(incident, times, channel_id="C1")
    assert (
        view["callback_id"] == "incident_key_times" and view["title"]["text"] == "INC-42 key times"
    )
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["impact_started", "detected", "mitigated", "resolved", "impact_ended"]
    assert inputs["impact_started"]["element"]["initial_value"] == "2026-11-22 13:00"
    assert "initial_value" not in inputs["detected"]["element"]  # derived: left to the bot
    assert inputs["detected"]["element"]["placeholder"]["text"] == (
        "2026-11-22 14:00, from the declaration"
    )
    assert "placeholder" not in inputs["resolved"]["element"]  # not yet
    assert all(b["optional"] for b in inputs.values())
    declared_line = view["blocks"][1]["text"]["text"]
    assert declared_line == "*Declared*: 2026-11-22 14:00 UTC, from when it was declared"
