"""The live capture write path: listeners queue message events, one background thread writes
them, many per transaction.

Why not write in the listener itself: Bolt runs every listener, slash commands included, on one
shared thread pool, and a command is acknowledged only once its listener gets a thread. During a
burst of channel messages, one transaction per event queued on that pool delayed a command past
Slack's 3-second deadline (bench/ingest.py sends a command mid-burst to check). A single writer
also means no write-lock contention on SQLite and one commit per batch on PostgreSQL.

Each event is still claimed (event_claims) in the transaction that stores it. If a batch fails,
its events are written again one by one, so one bad event cannot take the others with it.
The writer thread is not a daemon: on exit, the interpreter waits for queued events to be written.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from bot.capture.events import Delivery
from bot.capture.service import IncidentChannels, apply_delivery
from storage.db import Database

log = logging.getLogger("postmortem_bot.capture")

BATCH_SIZE = 100  # events per transaction (bounds how long SQLite's write lock is held)
MAX_PENDING = 50_000  # beyond this, events are dropped (and logged): memory stays bounded


class CaptureWriter:
    def __init__(
        self,
        db: Database,
        *,
        channels: IncidentChannels | None = None,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._db = db
        self._channels = channels or IncidentChannels()
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: deque[Delivery] = deque()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self.dropped = 0

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery (returns at once); False if the queue is full and it was dropped."""
        with self._lock:
            if len(self._pending) >= self._max_pending:
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.error(
                        "capture queue full (%d events waiting for the database): dropped %d "
                        "so far; a backfill of the channel recovers them",
                        len(self._pending),
                        self.dropped,
                    )
                return False
            self._pending.append(delivery)
            if self._worker is None:
                self._worker = threading.Thread(target=self._drain, name="capture-writer")
                self._worker.start()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._worker is None, timeout)

    def _next_batch(self) -> list[Delivery]:
        with self._lock:
            count = min(self._batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            if not batch:
                self._worker = None  # a later submit starts a new thread
                self._idle.notify_all()
            return batch

    def _drain(self) -> None:
        try:
            while batch := self._next_batch():
                self._write(batch)
        finally:
            with self._lock:
                if self._worker is threading.current_thread():  # died on BaseException
                    self._worker = None
                    self._idle.notify_all()

    def _write(self, batch: list[Delivery]) -> None:
        try:
            with self._db.session() as session:
                for delivery in batch:
                    apply_delivery(session, delivery, self._channels)
        except Exception:
            if len(batch) > 1:
                log.warning("writing %d message events failed; one by one now", len(batch))
                for delivery in batch:
                    self._write([delivery])
                return
            [delivery] = batch
            log.exception(
                "could not store message event %s in %s; a backfill of the channel recovers it",
                delivery.event_id,
                delivery.channel_id,
            )
