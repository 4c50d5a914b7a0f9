"""Who owns which part of a postmortem: the `{bot}`/`{people}` markup, the split into sections
and blocks, and what `templates check` says about it (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from bot.postmortem.document import (
    BlockKind,
    Owner,
    markup_problems,
    parse_blocks,
    split_document,
)
from bot.postmortem.render import check_templates, environment, render, render_document
from bot.postmortem.sample import sample_context

BOT_OWNED_STANDARD = [
    "h1",
    "h2:key facts",
    "h3:leadup events",
    "h3:how it was detected",
    "h3:escalations",
    "h3:mitigation events",
    "h2:timeline",
    "h3:decisions taken during the incident",
    "h3:similar earlier incidents",
    "h2:corrective actions",
    "h2:participants",
    "h2:appendix: channel log",
]
PEOPLE_OWNED_STANDARD = [
    "h2:summary",
    "h2:leadup",
    "h2:fault",
    "h2:impact",
    "h2:detection",
    "h2:response",
    "h2:recovery",
    "h2:root cause identification: the five whys",
    "h2:root cause",
    "h2:backlog check",
    "h2:recurrence",
    "h2:lessons learned",
]


def _sample(name: str) -> str:
    return render(environment(), name, sample_context().as_template_vars())


def test_the_standard_template_says_who_owns_every_section() -> None:
    document = render_document(environment(), "standard", sample_context().as_template_vars())
    assert [s.key for s in document.sections if s.owner is Owner.BOT] == BOT_OWNED_STANDARD
    assert [s.key for s in document.sections if s.owner is Owner.PEOPLE] == PEOPLE_OWNED_STANDARD
    assert all(s.declared for s in document.sections)
    assert "{bot}" not in document.markdown and "{people}" not in document.markdown
    assert document.markdown == _sample("standard")
    timeline = document.section("h2:timeline")
    assert timeline is not None and timeline.heading == "Timeline"
    assert timeline.heading_block is not None and timeline.heading_block.markdown == "## Timeline"
    assert [b.kind for b in timeline.body][:2] == [BlockKind.PARAGRAPH, BlockKind.LIST_ITEM]
    assert timeline.body[1].text.startswith("2026-11-20 13:30 · note · Bob Dev — Deployed")


def test_the_concise_template_too() -> None:
    document = split_document(
        render_document(environment(), "concise", sample_context().as_template_vars()).markdown
    )
    # once published, the markers are gone: a re-read canvas is all people's by default
    assert {s.owner for s in document.sections} == {Owner.PEOPLE}
    marked = render_document(environment(), "concise", sample_context().as_template_vars())
    assert [s.key for s in marked.bot_sections] == [
        "h1",
        "h2:key facts",
        "h2:timeline",
        "h2:action items",
    ]


def test_unmarked_headings_belong_to_people_and_h3_inherit() -> None:
    document = split_document(
        "intro\n\n# Title {bot}\n\n### Under the title\n\n## Notes\n\ntext\n\n"
        "### Sub {bot}\n\n- a\n\n## Facts {bot}\n\n### Detail\n"
    )
    found = [(s.key, s.owner, s.declared) for s in document.sections]
    assert found == [
        ("", Owner.PEOPLE, False),  # text before any heading
        ("h1", Owner.BOT, True),
        ("h3:under the title", Owner.BOT, True),
        ("h2:notes", Owner.PEOPLE, False),
        ("h3:sub", Owner.BOT, True),
        ("h2:facts", Owner.BOT, True),
        ("h3:detail", Owner.BOT, True),
    ]


def test_blocks_are_what_a_canvas_makes_sections_of() -> None:
    markdown = (
        "## Log {bot}\n\nline one\nline two\n\n- **14:00** paged\n  - a reply\n"
        "  continued\n1. first\n- [ ] todo\n\n> quoted\n> more\n\n```\n## not a heading {bot}\n```"
        "\n\n---\n\n| a | b |\n| --- | --- |\n"
    )
    blocks = parse_blocks(markdown)
    assert [(b.kind, b.text) for b in blocks] == [
        (BlockKind.HEADING, "Log {bot}"),
        (BlockKind.PARAGRAPH, "line one line two"),
        (BlockKind.LIST_ITEM, "14:00 paged"),
        (BlockKind.LIST_ITEM, "a reply continued"),
        (BlockKind.LIST_ITEM, "first"),
        (BlockKind.LIST_ITEM, "todo"),
        (BlockKind.QUOTE, "quoted\nmore"),
        (BlockKind.CODE, "## not a heading {bot}"),
        (BlockKind.DIVIDER, ""),
        (BlockKind.TABLE, "a b"),
    ]
    document = split_document(markdown)
    assert "## not a heading {bot}" in document.markdown  # code is left alone
    assert [s.key for s in document.sections] == ["h2:log"]


def test_markup_problems_are_explained() -> None:
    source = "# T {bot}\n## Fault\n## {{ x }} {bot}\nsome text {bot}\n"
    rendered = (
        "# T {bot}\n\n# Again {bot}\n\n## Fault\n\n## Timeline {bot}\n\n## Timeline notes {people}"
        "\n\n## Dynamic {bot}\n\nsome text {bot}\n"
    )
    problems = markup_problems(rendered, source)
    assert any("has 2 `#` headings" in p for p in problems)
    assert any("`## Fault` does not say who owns it" in p for p in problems)
    assert any("`Timeline` is part of another heading" in p for p in problems)
    assert any("line 3: a `{bot}` heading must be fixed text" in p for p in problems)
    assert any("line 4: {bot}/{people} only mean something on a heading" in p for p in problems)
    assert markup_problems("# T {bot}\n\n## A {people}\n\n## B {bot}\n", "") == []


def test_templates_check_reports_missing_owners(tmp_path: Path) -> None:
    (tmp_path / "old.md.j2").write_text("# {{ incident.key }}\n\n## Notes\n\nhello\n")
    (tmp_path / "good.md.j2").write_text(
        "# {{ incident.key }} {bot}\n\n## Notes {people}\n\n## Facts {bot}\n\n"
        "{{ figures.impact_started_at | when(figures.day) }}\n"
    )
    results = {
        r.name: r.problem for r in check_templates(tmp_path, sample_context().as_template_vars())
    }
    assert results["good"] is None and results["standard"] is None and results["concise"] is None
    assert results["old"] is not None and "`## Notes` does not say who owns it" in results["old"]


def test_the_when_filter_shows_a_date_off_the_incidents_day() -> None:
    env = environment()
    template = env.from_string("{{ a | when(day) }} / {{ b | when(day) }} / {{ none | when(day) }}")
    shown = template.render(
        a=datetime(2026, 11, 20, 14, 32, tzinfo=UTC),
        b=datetime(2026, 11, 10, 8, 50, tzinfo=UTC),
        day=date(2026, 11, 20),
    )
    assert shown == "14:32 / 2026-11-10 08:50 / n/a"
