"""The real `python -m bot run` as child processes, for tests that need a whole process:
signals, exit codes, several replicas on one database.

Each bot talks to a FakeSlack in the test process and listens on a free loopback port. A
`Launcher` remembers every process it started and kills what is still running at the end of the
test (use it from a fixture), so no test leaves a bot behind, whatever fails.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.settings import Settings
from sandbox.harness import SIGNING_SECRET
from sandbox.slack.fake import FakeSlack
from sandbox.slack.signed_requests import Reply, SlackRequests, sign

STARTUP_TIMEOUT = 45.0  # seconds; importing the bot takes ~2 s, more on a loaded CI machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(slack: FakeSlack, database_url: str, **values: str) -> dict[str, str]:
    """This process's environment without any of the bot's settings, then the fake's, then
    `values` (e.g. WORKING_DAYS="mon-sun")."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        DATABASE_URL=database_url,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        PYTHONFAULTHANDLER="1",  # SIGABRT dumps every thread's stack: see BotProcess.wait
    )
    env.update(values)
    return env


@dataclass
class BotProcess:
    """One `python -m bot run`; its output is collected line by line as it comes."""

    process: subprocess.Popen[str]
    port: int
    team_id: str
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def requests(self) -> SlackRequests:
        """Signed requests as Slack sends them, to this bot."""
        return SlackRequests(self.url, SIGNING_SECRET, team_id=self.team_id)

    def traced(
        self,
        *,
        before_send: Callable[[], object] | None = None,
        after_send: Callable[[], object] | None = None,
    ) -> TracedRequests:
        return TracedRequests(
            self.url,
            SIGNING_SECRET,
            team_id=self.team_id,
            before_send=before_send,
            after_send=after_send,
        )

    def output(self) -> str:
        return "".join(self.lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the bot did not come up:\n{self.output()}")
            time.sleep(0.05)

    def wait_for_output(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the bot's output:\n{self.output()}")
            time.sleep(0.02)

    def terminate(self) -> None:
        """SIGTERM: the graceful stop."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """The exit code. A process still running after `timeout` is aborted, and the test
        fails with its output and where each of its threads was stuck."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints the stacks
            self.process.wait(timeout=10)
            if self._reader is not None:
                self._reader.join(timeout=5)
            raise AssertionError(
                f"the bot was still running after {timeout}s:\n{self.output()}"
            ) from None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def stop(self, timeout: float = 30.0) -> int:
        self.terminate()
        return self.wait(timeout)


@dataclass
class Launcher:
    """Starts bots in `cwd` (no stray .env is read) and kills leftovers in `close()`."""

    cwd: Path
    started: list[BotProcess] = field(default_factory=list)

    def start(
        self,
        env: Mapping[str, str],
        *,
        team_id: str = "T0001",
        args: Sequence[str] = (),
        wait: bool = True,
    ) -> BotProcess:
        port = free_port()
        command = ["run", "--host", "127.0.0.1", "--port", str(port), *args]
        bot = self._spawn(command, env, port=port, team_id=team_id)
        if wait:
            bot.wait_healthy()
        return bot

    def command(self, args: Sequence[str], env: Mapping[str, str]) -> BotProcess:
        """`python -m bot <args>` (e.g. `db upgrade`), its output collected like a bot's, and
        killed at `close()` if still running; it serves nothing (port 0)."""
        return self._spawn(args, env, port=0, team_id="")

    def _spawn(
        self, args: Sequence[str], env: Mapping[str, str], *, port: int, team_id: str
    ) -> BotProcess:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            env=dict(env),
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: `close()` ends its children too
        )
        bot = BotProcess(process=process, port=port, team_id=team_id)
        self.started.append(bot)
        bot._reader = threading.Thread(
            target=bot._read, name=f"bot-{process.pid}-output", daemon=True
        )
        bot._reader.start()
        return bot

    def start_replicas(
        self, count: int, env: Mapping[str, str], *, team_id: str = "T0001"
    ) -> list[BotProcess]:
        """`count` bots started at the same moment (on one database: replicas), then each
        waited for until it answers /healthz."""
        bots = [self.start(env, team_id=team_id, wait=False) for _ in range(count)]
        for bot in bots:
            bot.wait_healthy()
        return bots

    def close(self) -> None:
        for bot in self.started:
            try:  # the bot and what it started (the slow-work process), even if it has exited
                os.killpg(bot.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                bot.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - the kernel kills it
                pass
            if bot._reader is not None:
                bot._reader.join(timeout=5)  # until the last writer to its output is gone
            if bot.process.stdout is not None:
                bot.process.stdout.close()


@dataclass
class TracedRequests(SlackRequests):
    """SlackRequests over http.client, with hooks around the moment the request is written:
    `before_send` runs once the TCP connection is up, `after_send` once the whole request has
    been written. Connection failures (refused, reset) are raised, not turned into replies."""

    before_send: Callable[[], object] | None = None
    after_send: Callable[[], object] | None = None

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        signed: bool = True,
    ) -> Reply:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        all_headers = {"Content-Type": content_type, "Connection": "close"}
        if signed:
            all_headers["X-Slack-Request-Timestamp"] = ts
            all_headers["X-Slack-Signature"] = signature or sign(self.signing_secret, ts, body)
        all_headers.update(headers or {})
        address = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(
            address.hostname or "127.0.0.1", address.port, timeout=self.timeout
        )
        try:
            connection.connect()
            if self.before_send is not None:
                self.before_send()
            started = time.perf_counter()
            connection.request("POST", self.path, body=body, headers=all_headers)
            if self.after_send is not None:
                self.after_send()
            response = connection.getresponse()
            text = response.read().decode()
            return Reply(
                response.status, text, dict(response.getheaders()), time.perf_counter() - started
            )
        finally:
            connection.close()
