"""Socket Mode (the manifest's default): the bot opens a websocket to Slack instead of serving
HTTP, and stops as gracefully as HTTP mode does.

A graceful stop, bounded by SHUTDOWN_TIMEOUT_SECONDS:
1. No new envelope is taken off the socket (the client's message processor stops); an envelope
   Slack sent but we never acknowledged is redelivered by Slack, to this or another connection.
2. Envelopes already being handled finish: their listeners run until they ack, and the acks go
   out while the socket is still open.
3. The socket closes (no reconnect).
4. `on_drained` runs: the work listeners started after their ack, the captured-message queue,
   the scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger("postmortem_bot.socket_mode")


class SocketModeRunner:
    """The Bolt app over Socket Mode, with a bounded graceful stop (see the module docstring)."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        shutdown_timeout: float = 20.0,
        on_drained: Callable[[], object] | None = None,
    ) -> None:
        self._handler = SocketModeHandler(app, app_token)
        self._shutdown_timeout = shutdown_timeout
        self._on_drained = on_drained
        self._stopping = threading.Lock()
        self._stopped = threading.Event()
        self._finished_in_time = True

    def start(self) -> SocketModeRunner:
        """Connect (apps.connections.open, then the websocket); returns once connected."""
        self._handler.connect()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
        return self

    def wait(self) -> None:
        """Block until `stop` has finished (the process's main thread waits here)."""
        self._stopped.wait()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully in at most `timeout` seconds (default: `shutdown_timeout`). True when
        everything finished in time; False when the bound cut it short (exit the process)."""
        with self._stopping:
            if self._stopped.is_set():
                return self._finished_in_time
            bound = self._shutdown_timeout if timeout is None else timeout
            deadline = time.monotonic() + bound
            try:
                self._finished_in_time = self._stop(deadline)
            except Exception:
                log.exception("graceful stop failed; closing the socket anyway")
                self._finished_in_time = False
                self._handler.client.close()
            self._stopped.set()
            return self._finished_in_time

    def _stop(self, deadline: float) -> bool:
        client = self._handler.client
        client.auto_reconnect_enabled = False
        client.closed = True  # the message processor takes no further envelope off the queue
        finished = _join(lambda: client.message_workers.shutdown(wait=True), deadline)
        if not finished:
            log.warning("listeners still acknowledging at the shutdown deadline; closing anyway")
        client.close()
        if self._on_drained is not None:
            if not _join(self._on_drained, deadline):
                log.warning("work started by requests is still running at the shutdown deadline")
                finished = False
        return finished


def _join(work: Callable[[], object], deadline: float) -> bool:
    """Run `work` in a thread of its own and wait for it until `deadline`; True if it ended."""
    worker = threading.Thread(target=work, name="socket-mode-drain", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    return not worker.is_alive()
