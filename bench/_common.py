"""What the benchmarks share: a throwaway database (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402


@contextmanager
def temporary_database(url: str | None) -> Iterator[Database]:
    """A migrated, empty database: a temp SQLite file, or a fresh schema dropped afterwards."""
    if not url:
        with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
            upgrade(db)
            try:
                yield db
            finally:
                db.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(scoped.render_as_string(hide_password=False))
    try:
        upgrade(db)
        yield db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def label(url: str | None) -> str:
    return "SQLite" if not url else make_url(url).get_backend_name()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(
    command_for: Callable[[int], list[str]], env: dict[str, str], *, timeout: float = 60
) -> Iterator[tuple[str, int]]:
    """`command_for(port)` in a process of its own on a free port, once it listens; stopped
    with SIGTERM (killed if it has not stopped 30 s later). Yields its URL and pid."""
    port = free_port()
    process = subprocess.Popen(
        command_for(port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server on port {port} did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bot_process(
    env: dict[str, str], *, timeout: float = 60
) -> AbstractContextManager[tuple[str, int]]:
    """`python -m bot run` in a process of its own (as in production: the benchmark's fake
    Slack does not share its interpreter). Yields its URL and pid."""
    return server_process(
        lambda port: [
            sys.executable,
            "-m",
            "bot",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env,
        timeout=timeout,
    )


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by a process and the children it runs (Linux: the
    bot's slow-work process), or by this one."""
    if pid is None:
        return time.process_time()
    try:
        _name, own = _process_ticks(Path(f"/proc/{pid}/stat").read_text())
    except FileNotFoundError:  # a child that just exited
        return 0.0
    return own / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(child) for child in children_of(pid))


def database_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL processes (0 when it has none: SQLite
    runs inside the bot). With the database on another machine, this counts nothing."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, ticks = _process_ticks(stat.read_text())
        except OSError:  # a process that just exited
            continue
        if name.startswith("postgres"):
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


def _process_ticks(stat: str) -> tuple[str, int]:
    """A /proc/<pid>/stat line's command name and CPU ticks (user + system)."""
    name, _, rest = stat[stat.index("(") + 1 :].rpartition(")")
    fields = rest.split()
    return name, int(fields[11]) + int(fields[12])


def machine_idle() -> tuple[int, int]:
    """(idle, all) CPU ticks of the whole machine so far, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found
