"""Acks never wait behind slow work, over real HTTP (issue 15, finding 3).

Listeners run on the request's thread and Slack gets its answer when they return, so anything
slow they did after acking would delay it: a private reply to a response_url that never answers
held the ack for seconds (slack-sdk's retries, then the error report to the same URL). Replies
go on threads of their own with a short timeout and no retries, and a URL that just failed is
not posted to again.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from storage.models import FollowUp, OutboxJob, OutboxState
from tests.bench import ALICE, CAROL, INCIDENT_CHANNEL, Bench
from tests.logcapture import captured_logs
from tests.test_followups import actions_block, announcement_of, declare, followup


@contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose server takes the connection and never answers (a frozen host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # connections complete in the kernel and are never accepted
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/response"
    finally:
        server.close()


class Failing:
    """A response_url server that answers every POST with 500 and counts them."""

    def __init__(self) -> None:
        self.posts: list[str] = []
        failing = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                failing.posts.append(self.rfile.read(length).decode("utf-8", "replace"))
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/response/dead"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_a_response_url_that_never_answers_does_not_delay_acks(bench: Bench) -> None:
    declare(bench)
    item = followup(bench, "Add a circuit breaker")
    statuses = ["in_progress", "open", "in_progress", "open", "in_progress", "done"]
    acks = []
    with black_hole() as dead:
        for n, status in enumerate(statuses):
            message = announcement_of(bench, item)
            reply = bench.requests.block_action(
                f"followup_status:{status}",
                f"{item.id}:{status}",
                user_id=CAROL,
                channel_id=INCIDENT_CHANNEL,
                message=message,
                block_id=actions_block(message)["block_id"],
                response_url=f"{dead}/{n}",
            )
            assert reply.status == 200
            acks.append(reply.seconds)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the change is saved before the ack
                with bench.db.session() as session:
                    now = session.scalars(select(FollowUp).where(FollowUp.id == item.id)).one()
                if now.status.value == status:
                    break
                time.sleep(0.02)
            assert now.status.value == status
    # Each confirmation would have waited 3 s for the dead URL on the request's thread.
    assert max(acks) < 1.5, acks


def test_an_error_report_is_not_sent_again_to_a_url_that_just_failed(bench: Bench) -> None:
    declare(bench)
    failing = Failing()
    # The echo of the event fails twice: first a passing failure (the person is told it is
    # delayed: that reply fails too), then for good (the "gave up" note would follow).
    bench.slack.fail("chat.postMessage", "internal_error")
    bench.slack.fail("chat.postMessage", "channel_not_found")
    try:
        with captured_logs("INFO") as logs:
            reply = bench.requests.slash_command(
                "/timeline",
                "rolled back the deploy",
                user_id=ALICE,
                channel_id=INCIDENT_CHANNEL,
                response_url=failing.url,
            )
            assert reply.status == 200
            assert reply.seconds < 1.5
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the job gave up, and the bot said so
                with bench.db.session() as session:
                    dead = session.scalars(
                        select(OutboxJob).where(OutboxJob.state == OutboxState.DEAD)
                    ).all()
                if dead and "not replying again to a response_url that just failed" in (
                    logs.text()
                ):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError(
                    f"no give-up, or it was posted: {failing.posts}\n{logs.text()}"
                )
        assert len(failing.posts) == 1, failing.posts
        assert "couldn't post" in failing.posts[0]
    finally:
        failing.close()


def test_a_listeners_writes_go_before_work_after_acks_and_the_echo_does_not(bench: Bench) -> None:
    """On SQLite a write for a request not yet acknowledged goes before one done after an ack
    (storage.write_queue). Bolt runs listeners after its middleware has returned, so the mark
    set in the first middleware had ended before the listener wrote: the event a person was
    waiting for queued behind newer requests' replay records, like an echo (at 10 clients a
    tenth of the acks took 60-70 ms, the rest 3)."""
    from sqlalchemy import event

    from storage.write_queue import _ANSWERING

    declare(bench)
    seen: list[tuple[str, bool]] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        words = " ".join(statement.split()[:3])
        if words in ("INSERT INTO timeline_events", "UPDATE outbox_jobs SET"):
            seen.append((words, _ANSWERING.get()))

    event.listen(bench.db.engine, "before_cursor_execute", record)
    try:
        reply, _ = bench.command("/timeline", "Rolled back the deploy")
        assert reply.status == 200
        deadline = time.monotonic() + 10
        while len(after_the_event(seen)) < 2:  # the echo's claim, then its finish
            assert time.monotonic() < deadline, seen
            time.sleep(0.01)
    finally:
        event.remove(bench.db.engine, "before_cursor_execute", record)
    assert ("INSERT INTO timeline_events", True) in seen
    assert after_the_event(seen)[:2] == [("UPDATE outbox_jobs SET", False)] * 2


def after_the_event(seen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    inserted = [n for n, (words, _) in enumerate(seen) if words.startswith("INSERT")]
    return seen[inserted[0] + 1 :] if inserted else []
