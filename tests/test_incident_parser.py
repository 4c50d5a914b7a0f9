from __future__ import annotations

import pytest

from bot.core.errors import UserError
from bot.incidents.commands import (
    Declare,
    Help,
    SetSeverity,
    SetStatus,
    ShowStatus,
    parse_incident_command,
)
from storage.models import IncidentStatus, Severity


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
    assert parse_incident_command(text) == expected


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
        parse_incident_command(text)
    assert says in caught.value.message


def test_unknown_subcommand_error_does_not_echo_a_ping() -> None:
    with pytest.raises(UserError) as caught:
        parse_incident_command("<!channel> hello")
    assert "<!channel>" not in caught.value.message
    assert "/incident declare" in caught.value.message  # usage follows
