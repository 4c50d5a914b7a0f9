"""The Dockerfile and docker-compose.yml against the project they package (no Docker engine is
needed): the entry point is our console script, the port is the bot's port, the health check
passes against the real server, the compose file only sets real settings, the image runs as a
normal user and copies files that exist and reach the build context.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from bot.cli import main as cli
from bot.core.settings import Settings
from sandbox.harness import running_bot
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {name.upper() for name in Settings.model_fields}
DEFAULT_PORT = Settings.model_fields["port"].default


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def dockerfile() -> list[Instruction]:
    """The instructions, continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate((ROOT / "Dockerfile").read_text().splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = ""
    return instructions


def only(keyword: str) -> Instruction:
    found = [i for i in dockerfile() if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the Dockerfile, found {found}"
    return found[0]


def env_of(keyword_args: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in keyword_args:
        for part in args.split():
            key, _, value = part.partition("=")
            values[key] = value
    return values


def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def compose_env(service: dict[str, Any]) -> dict[str, str | None]:
    """Both compose spellings: a mapping, or a list of NAME=value / NAME (pass-through)."""
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return {str(k): None if v is None else str(v) for k, v in environment.items()}
    pairs = (str(item).partition("=") for item in environment)
    return {name: value if sep else None for name, sep, value in pairs}


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern[1:] if negated else pattern
        glob = glob.rstrip("/")
        if any(fnmatch.fnmatchcase(c, glob) for c in candidates):
            excluded = not negated
    return excluded


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_image_is_python_311_slim_and_installs_the_package_from_pyproject() -> None:
    assert dockerfile()[0].keyword == "FROM" and dockerfile()[0].args == "python:3.11-slim"
    runs = " && ".join(i.args for i in dockerfile() if i.keyword == "RUN")
    assert "pip install ." in runs
    copies = [i.args.split() for i in dockerfile() if i.keyword == "COPY"]
    assert any("pyproject.toml" in c[:-1] for c in copies)


def test_the_entry_point_is_our_console_script_running_the_bot() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [program] = only("ENTRYPOINT").exec_form()
    assert scripts[program] == "bot.cli:main"
    command = only("CMD").exec_form()
    assert command == ["run"] and command[0] in cli.commands


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore()
    for instruction in dockerfile():
        if instruction.keyword != "COPY":
            continue
        *sources, _destination = instruction.args.split()
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"line {instruction.line}: COPY {source}: no such file"
            assert not ignored(source, patterns), f"{source} is excluded by .dockerignore"
            for file in [path] if path.is_file() else path.rglob("*"):
                relative = file.relative_to(ROOT).as_posix()
                if file.is_file() and "__pycache__" not in relative:
                    assert not ignored(relative, patterns), f"{relative} is left out"
    for secret in (".env", "bot/.env", "postmortem-bot.sqlite3"):
        assert ignored(secret, patterns), f"{secret} would be sent to the Docker daemon"


def test_the_bot_runs_as_a_normal_user() -> None:
    users = [i for i in dockerfile() if i.keyword == "USER"]
    assert users, "no USER: the bot would run as root"
    last = users[-1]
    assert last.args.split(":")[0] not in ("root", "0")
    assert last.line < only("ENTRYPOINT").line
    created = " ".join(i.args for i in dockerfile() if i.keyword == "RUN" and "useradd" in i.args)
    assert last.args.split(":")[0] in created.split()


def test_the_exposed_port_is_the_bots_port_everywhere() -> None:
    assert only("EXPOSE").args.split("/")[0] == str(DEFAULT_PORT)
    env = env_of([i.args for i in dockerfile() if i.keyword == "ENV"])
    assert env.get("PORT", str(DEFAULT_PORT)) == str(DEFAULT_PORT)
    bot = compose()["services"]["bot"]
    container_ports = {str(mapping).split(":")[-1].split("/")[0] for mapping in bot["ports"]}
    assert container_ports == {str(DEFAULT_PORT)}
    assert compose_env(bot).get("PORT") in (None, str(DEFAULT_PORT))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_healthcheck_passes_against_the_running_server_and_fails_without_it(
    slack: FakeSlack, db: Database
) -> None:
    healthcheck = only("HEALTHCHECK").args
    assert " CMD " in f" {healthcheck} "
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python", "the slim image has python, not curl or wget"
    command[0] = sys.executable

    def check(port: int) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PORT": str(port)}
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    with running_bot(slack, db) as bot:
        port = int(bot.url.rsplit(":", 1)[1])
        passed = check(port)
        assert passed.returncode == 0, passed.stderr
    nobody = check(free_port())
    assert nobody.returncode != 0 and "Connection refused" in nobody.stderr


def test_compose_runs_the_bot_on_a_healthy_postgresql_with_real_settings() -> None:
    services = compose()["services"]
    bot, postgres = services["bot"], services["postgres"]
    assert bot["build"] in (".", {"context": "."})
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    # the data survives the container: a named volume on PostgreSQL's data directory
    [volume] = postgres["volumes"]
    name, _, target = volume.partition(":")
    assert target == "/var/lib/postgresql/data" and name in compose()["volumes"]

    env = compose_env(bot)
    unknown = sorted(set(env) - SETTINGS)
    assert unknown == [], f"not settings of the bot (see bot/settings.py): {unknown}"
    url = make_url(env["DATABASE_URL"] or "")
    pg_env = compose_env(postgres)
    assert url.get_backend_name() == "postgresql" and url.host == "postgres"
    assert (url.username, url.password, url.database) == (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    )
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(env)
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(name for name in env if f"`{name}`" not in readme)
    assert undocumented == [], (
        f"compose passes settings the README does not describe: {undocumented}"
    )
    # docker stops with SIGKILL after stop_grace_period: longer than the bot's own bound
    grace = float(str(bot["stop_grace_period"]).removesuffix("s"))
    assert grace > Settings.model_fields["shutdown_timeout_seconds"].default
