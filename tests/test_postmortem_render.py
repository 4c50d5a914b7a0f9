"""Rendering templates (pure: no Slack, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.errors import UserError
from bot.postmortem.markdown import slack_to_markdown
from bot.postmortem.render import TemplateProblem, check_templates, environment, render
from bot.postmortem.sample import sample_context

STANDARD_SECTIONS = [
    "## Summary",
    "## Leadup",
    "## Fault",
    "## Impact",
    "## Detection",
    "## Response",
    "## Recovery",
    "## Timeline",
    "## Root cause identification: the five whys",
    "## Root cause",
    "## Backlog check",
    "## Recurrence",
    "## Lessons learned",
    "## Corrective actions",
    "## Appendix: channel log",
]
CONCISE_SECTIONS = [
    "## Summary",
    "## Impact",
    "## Timeline",
    "## Root cause",
    "## Action items",
    "## Lessons learned",
]


def _render(name: str, custom: Path | None = None) -> str:
    return render(environment(custom), name, sample_context().as_template_vars())


def test_standard_has_every_section_in_order() -> None:
    text = _render("standard")
    positions = [text.index(section + "\n") for section in STANDARD_SECTIONS]
    assert positions == sorted(positions)


def test_standard_prefills_from_data() -> None:
    text = _render("standard")
    detection = text[text.index("## Detection") : text.index("## Response")]
    assert "Detected at 2026-11-20 14:00 UTC by Alice Ops: Pager fired" in detection
    recovery = text[text.index("## Recovery") : text.index("## Timeline")]
    assert "14:31 UTC — Rollback complete" in recovery
    actions = text[text.index("## Corrective actions") : text.index("## Participants")]
    assert "**INC-7-F1** Canary deploys for checkout — owner Bob Dev · due 2026-12-01" in actions
    appendix = text[text.index("## Appendix") :]
    assert "\n- **2026-11-20 14:24** Bob Dev: I think it's 4812" in appendix
    assert "\n  - **2026-11-20 14:26** Alice Ops: go ahead" in appendix  # reply nested


def test_concise_has_its_sections() -> None:
    text = _render("concise")
    positions = [text.index(section + "\n") for section in CONCISE_SECTIONS]
    assert positions == sorted(positions)
    assert "## Appendix" not in text


def test_custom_templates_add_and_override(tmp_path: Path) -> None:
    (tmp_path / "standard.md.j2").write_text("OVERRIDDEN {{ incident.key }}\n")
    (tmp_path / "security.md.j2").write_text("# {{ incident.key }} security review\n")
    assert _render("standard", tmp_path) == "OVERRIDDEN INC-7\n"
    assert _render("security", tmp_path) == "# INC-7 security review\n"
    assert "OVERRIDDEN" not in _render("concise", tmp_path)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "broken.md.j2").write_text("# ok\n\n{% for x in timeline %}\nno end\n")
    with pytest.raises(TemplateProblem) as caught:
        _render("broken", tmp_path)
    assert caught.value.line == 3  # the unclosed `for`
    assert "`broken.md.j2`, line 3, has a problem" in caught.value.message
    assert "Nothing was published" in caught.value.message


def test_undefined_variable_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "typo.md.j2").write_text("# {{ incident.key }}\n\nOwner: {{ incident.ownr }}\n")
    with pytest.raises(TemplateProblem) as caught:
        _render("typo", tmp_path)
    assert caught.value.line == 3
    assert "ownr" in caught.value.detail


def test_sandbox_refuses_reaching_into_python(tmp_path: Path) -> None:
    (tmp_path / "evil.md.j2").write_text("{{ incident.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(TemplateProblem):
        _render("evil", tmp_path)


def test_sandbox_guards_a_fields_string_methods_too(tmp_path: Path) -> None:
    """The context's fields are read without the sandbox's per-attribute checks (they are
    data); what is reached from them is checked as before: str.format cannot walk into Python."""
    (tmp_path / "fmt.md.j2").write_text(
        '{{ (incident.key ~ " {0.__class__.__mro__}").format(incident) }}\n'
    )
    with pytest.raises(TemplateProblem):
        _render("fmt", tmp_path)
    (tmp_path / "method.md.j2").write_text("{{ incident.key.__class__ }}\n")
    with pytest.raises(TemplateProblem):
        _render("method", tmp_path)


def test_unknown_template_lists_the_available_ones() -> None:
    with pytest.raises(
        UserError, match="no postmortem template `nope`. Available: concise, standard"
    ):
        _render("nope")


def test_check_templates_reports_each(tmp_path: Path) -> None:
    (tmp_path / "typo.md.j2").write_text("{{ nope }}\n")
    results = {
        r.name: r.problem for r in check_templates(tmp_path, sample_context().as_template_vars())
    }
    assert results["standard"] is None and results["concise"] is None
    assert results["typo"] is not None and "line 1" in results["typo"]


@pytest.mark.parametrize(
    ("slack", "markdown"),
    [
        ("hi <@U1> and <@U2|bob>", "hi @Alice and @Bob Dev"),
        (
            "see <https://x.io/a|the graph> &amp; <https://y.io>",
            "see [the graph](https://x.io/a) & <https://y.io>",
        ),
        ("<!channel> 5 &lt; 6", "@channel 5 < 6"),
        ("in <#C9|incidents>", "in #incidents"),
    ],
)
def test_slack_to_markdown(slack: str, markdown: str) -> None:
    assert slack_to_markdown(slack, {"U1": "Alice", "U2": "Bob Dev"}) == markdown


def test_the_documented_example_template_renders(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "templates.md").read_text()
    example = doc.split("```jinja\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.md.j2").write_text(example)
    text = _render("example", tmp_path)
    assert text.startswith("# INC-7: Checkout returns 500s\n")
    assert "- 14:25 — Roll back 4812 (Bob Dev)" in text
    assert "- [ ] Canary deploys for checkout — Bob Dev, due 2026-12-01" in text
    assert "Incident declared" not in text  # status events filtered out as the doc shows


def test_a_50000_message_channel_log_renders_within_the_default_limit() -> None:
    """Issue 15's largest channel (50,000 messages, about 3.5 MB of Markdown) was refused by the
    default POSTMORTEM_MAX_CHARS: such an incident got no postmortem unless an operator knew to
    raise it."""
    from dataclasses import replace
    from datetime import timedelta

    from bot.core.settings import Settings
    from bot.postmortem.context import Message

    context = sample_context()
    first = context.messages[0]
    text = "checkout 5xx at 40% after deploy 4812, rolling back the canary now"
    messages = [
        Message(first.at + timedelta(seconds=n), first.author, f"{text} ({n})", False, [])
        for n in range(50_000)
    ]
    context = replace(context, messages=messages, message_count=len(messages))
    limit = Settings.model_fields["postmortem_max_chars"].default
    env = environment(None, max_chars=limit)
    document = render(env, "standard", context.as_template_vars(), max_chars=limit)
    assert len(document) > 3_500_000 and "(49999)" in document
