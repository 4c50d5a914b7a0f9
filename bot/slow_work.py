"""Slow work in a process of its own: generation, backfill, Jira exports and Confluence pages
(the outbox's slow lane) run in a child of `postmortem-bot run`, so they never take the CPU
that acks need. One interpreter runs one thread at a time: a 10,000-message generation in the
same process as the HTTP server made every ack wait its turn for the interpreter.

The parent starts the child (`postmortem-bot slow-work`), wakes it through a pipe whenever a
commit writes a slow job down (a byte per wake-up; the child also polls the database, as every
outbox worker does, for jobs written by other replicas or due after a backoff), restarts it if
it dies, and stops it by closing the pipe. The child drains the jobs already due, within its
bound, and exits; it also stops when the parent dies (the pipe's end of file), so it is never
left behind. Nothing is lost while the child is down: the jobs wait in the outbox.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

log = logging.getLogger("postmortem_bot.slow_work")

RESTART_FIRST_WAIT = 1.0  # seconds before restarting a child that died; doubles each time
RESTART_MAX_WAIT = 30.0
HEALTHY_AFTER = 60.0  # a child that ran this long before dying starts the waits over
WAKE = b"."
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def uses_a_child_process(enabled: bool, database_url: str) -> bool:
    """A child shares the database only through a file or a server: an in-memory SQLite
    database exists in one process, so the slow work stays in it."""
    from storage.db import in_memory

    return enabled and not in_memory(database_url)


def share_metrics() -> None:
    """Count the child's work on the parent's `/metrics` (jobs run, API calls, postmortems
    generated): prometheus_client's multiprocess mode, each process writing its values to a
    file in one directory and `/metrics` adding them up. Call before prometheus_client is
    imported; the child inherits the directory through the environment. An operator's own
    PROMETHEUS_MULTIPROC_DIR is used as it is."""
    if os.environ.get(METRICS_DIR):
        return
    directory = tempfile.mkdtemp(prefix="postmortem-bot-metrics-")
    os.environ[METRICS_DIR] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)


class SlowWorkProcess:
    """The parent's side: `start()`, `wake()` after a commit (never blocks), `stop(timeout)`."""

    def __init__(self, drain_seconds: float) -> None:
        self._drain_seconds = drain_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None
        self._supervisor: threading.Thread | None = None

    def start(self) -> SlowWorkProcess:
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="slow-work-supervisor", daemon=True
        )
        self._supervisor.start()
        return self

    def wake(self) -> None:
        """Tell the child a slow job was written down. Never waits: a full pipe already holds
        wake-ups enough, and a child that is down polls when it starts again."""
        with self._lock:
            fd = self._wake_fd
            if fd is None:
                return
            try:
                os.write(fd, WAKE)
            except (BlockingIOError, BrokenPipeError):
                pass

    def request_stop(self) -> None:
        """Close the pipe: the child drains the jobs already due, then exits; none restarts."""
        self._stopping.set()
        with self._lock:
            self._close_pipe()

    def stop(self, timeout: float) -> bool:
        """`request_stop`, then wait up to `timeout` seconds; a child still running then is
        killed. True when it drained and exited in time."""
        deadline = time.monotonic() + timeout
        self.request_stop()
        process = self._process
        if process is None:
            return True
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("the slow-work process did not finish in time; killing it")
            process.kill()
            process.wait()
            return False
        if self._supervisor is not None:
            self._supervisor.join(max(0.0, deadline - time.monotonic()))
        return process.returncode == 0

    # -- the parent's side ---------------------------------------------------------------------

    def _spawn(self) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        try:
            process = subprocess.Popen(
                child_command(read_fd, self._drain_seconds), pass_fds=(read_fd,)
            )
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)  # the child has its own copy
        with self._lock:
            self._close_pipe()
            self._process, self._wake_fd = process, write_fd
            if self._stopping.is_set():  # stopped while this one started: it drains and exits
                self._close_pipe()
        log.info("slow work runs in process %d", process.pid)

    def _close_pipe(self) -> None:
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None

    def _supervise(self) -> None:
        # Not at the top: `run` imports this module before share_metrics() may set up
        # prometheus_client, which reads its mode when first imported.
        from bot.core import metrics

        wait = RESTART_FIRST_WAIT
        while True:
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            metrics.slow_work_exited()
            if time.monotonic() - started >= HEALTHY_AFTER:
                wait = RESTART_FIRST_WAIT
            log.error(
                "the slow-work process %d exited (code %s); starting another in %gs. Its jobs "
                "wait in the database meanwhile.",
                process.pid,
                code,
                wait,
            )
            if self._stopping.wait(wait):
                return
            wait = min(wait * 2, RESTART_MAX_WAIT)
            try:
                self._spawn()
            except OSError:
                log.exception("could not start the slow-work process")


def child_command(wake_fd: int, drain_seconds: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bot",
        "slow-work",
        "--wake-fd",
        str(wake_fd),
        "--drain-seconds",
        f"{drain_seconds:g}",
    ]


# -- the child's side ----------------------------------------------------------------------------


def follow_the_parent() -> None:
    """Leave SIGINT and SIGTERM to the parent (a Ctrl-C reaches the whole process group): the
    child stops when the parent closes the pipe, after the parent has stopped taking requests,
    not before. Call first thing, so that a signal during start-up is ignored too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def serve(wake_fd: int, wake: Callable[[], None]) -> None:
    """Until the pipe's end of file: each byte read is a wake-up for the workers."""
    while True:
        try:
            data = os.read(wake_fd, 4096)
        except InterruptedError:
            continue
        if not data:
            os.close(wake_fd)
            return
        wake()
