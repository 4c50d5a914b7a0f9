"""The direction of imports (handlers → flows → services → storage), checked on the source.

A domain package that imports Bolt or a listener module can no longer be used or tested without
Slack's request machinery; a listener that imports another listener module hides orchestration
in the wrong place. These rules keep the layout in docs/architecture.md true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The only modules of `bot` that may host Bolt: the app factory, the HTTP and Socket Mode edges.
BOLT_EDGES = {"bot.app", "bot.socket_mode", "bot.web.server"}
# The only module of `bot` that registers the listeners.
COMPOSITION_ROOT = "bot.app"
# The only module of `bot` that may import the simulators: the `demo` command.
SANDBOX_USERS = {"bot.cli"}
LAYER_FILES = ("commands", "service", "blocks")  # pure or database-only: no orchestration


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported(path: Path) -> Iterator[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_rules_see_the_packages() -> None:
    names = {module_name(p) for p in modules("bot")}
    for feature in ("incidents", "timeline", "capture", "followups", "postmortem", "reminders"):
        assert f"bot.{feature}.flows" in names
        assert f"bot.{feature}.service" in names
    assert {
        "bot.jira.flows",
        "bot.status.service",
        "bot.core.settings",
        "bot.slack.client",
    } <= names
    assert any(m.startswith("handlers.") for m in map(module_name, modules("handlers")))


@pytest.mark.parametrize("path", modules("bot"), ids=lambda p: module_name(p))
def test_domain_code_never_imports_bolt_or_listeners(path: Path) -> None:
    name = module_name(path)
    for target in imported(path):
        if name not in BOLT_EDGES:
            assert not target.startswith("slack_bolt"), f"{name} imports {target}"
        if name != COMPOSITION_ROOT:
            assert not target.startswith("handlers"), f"{name} imports {target}"
        if name not in SANDBOX_USERS:
            assert not target.startswith("sandbox"), f"{name} imports {target}"


@pytest.mark.parametrize("path", modules("bot"), ids=lambda p: module_name(p))
def test_services_commands_and_blocks_never_reach_up_to_flows(path: Path) -> None:
    name = module_name(path)
    if name.rsplit(".", 1)[-1] not in LAYER_FILES:
        return
    for target in imported(path):
        assert not target.endswith(".flows"), f"{name} imports {target}"
        assert target != "bot.services", f"{name} imports the bot's Services"


BOUNDARY = ("handlers.request", "handlers.errors")  # shared by listeners; not listener modules


@pytest.mark.parametrize("path", modules("handlers"), ids=lambda p: module_name(p))
def test_no_listener_module_imports_another(path: Path) -> None:
    name = module_name(path)
    if name == "handlers" or name in BOUNDARY:
        return
    for target in imported(path):
        if target.startswith("handlers"):
            assert target.startswith(BOUNDARY), f"{name} imports {target}"


def test_a_violation_is_caught(tmp_path: Path) -> None:
    """The checker itself: a domain module importing Bolt is seen."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from slack_bolt import App\n    return App\n")
    assert "slack_bolt" in set(imported(bad))
