"""Each signed request is taken in once, whichever replica gets it (bot.slack.request_replays):
the claim is one INSERT … ON CONFLICT DO NOTHING (for every request arriving together), so
racing replicas cannot both win."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bot.slack.request_replays import claim_request, request_claims, request_digest
from storage.db import Database

EXPIRES = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)


def test_a_request_is_claimed_once(db: Database) -> None:
    claims = request_claims(db.single_statement)
    digest = request_digest("1800000000", "v0=" + "a" * 64)
    assert claim_request(claims, digest=digest, expires_at=EXPIRES)
    assert not claim_request(claims, digest=digest, expires_at=EXPIRES)
    other = request_digest("1800000001", "v0=" + "a" * 64)  # signed again: a new request
    assert claim_request(claims, digest=other, expires_at=EXPIRES + timedelta(seconds=1))


def test_racing_claims_have_one_winner(db: Database) -> None:
    """Two replicas (each with its claims), eight threads each, given the same request."""
    replicas = [request_claims(db.single_statement) for _ in range(2)]
    digest = request_digest("1800000000", "v0=" + "b" * 64)

    def claim(n: int) -> bool:
        return claim_request(replicas[n % 2], digest=digest, expires_at=EXPIRES)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(16)))
    assert results.count(True) == 1


def test_the_digest_is_a_fixed_size_hash_of_both() -> None:
    digest = request_digest("1800000000", "v0=" + "c" * 64)
    assert len(digest) == 64 and int(digest, 16) >= 0  # hex SHA-256, whatever the input
    assert digest != request_digest("1800000000", "v0=" + "d" * 64)
    assert digest != request_digest("1800000001", "v0=" + "c" * 64)


def test_claims_arriving_together_are_written_together_each_once(db: Database) -> None:
    """A burst of requests: the claims that arrive while one is being written go in the next
    statement together (fewer write turns and commits), and every digest, asked by several
    threads at once, still has exactly one winner, within a group too."""
    import threading
    import time
    from contextlib import contextmanager

    from sqlalchemy import event

    gate, gated = threading.Event(), [False]

    @contextmanager
    def transaction():  # type: ignore[no-untyped-def]
        if not gated[0]:  # the first group waits until all 16 threads have asked
            gated[0] = True
            assert gate.wait(10)
        with db.single_statement() as session:
            yield session

    claims = request_claims(transaction)
    digests = [request_digest("1800000000", f"v0={n:064x}") for n in range(40)]
    statements: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().startswith("INSERT INTO seen_slack_requests"):
            statements.append(1)

    def claim(n: int) -> tuple[int, bool]:
        return n % 40, claim_request(claims, digest=digests[n % 40], expires_at=EXPIRES)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with ThreadPoolExecutor(16) as pool:
            asked = pool.map(claim, range(160))
            deadline = time.monotonic() + 10
            while len(claims._waiting) < 16:  # the leader and 15 more, each its own digest
                assert time.monotonic() < deadline, "the claims did not arrive"
                time.sleep(0.005)
            gate.set()
            results = list(asked)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    winners = sorted(n for n, first in results if first)
    assert winners == list(range(40))  # each digest won once, whoever asked it
    assert len(statements) <= 160 - 15  # the first 16 claims went in one statement
    again = request_claims(db.single_statement)  # another replica sees what the groups recorded
    assert not claim_request(again, digest=digests[0], expires_at=EXPIRES)


def test_a_digest_asked_twice_in_one_group_wins_once(db: Database) -> None:
    """A replay sent at the same moment as its original lands in the same group."""
    import threading
    import time
    from contextlib import contextmanager

    gate, gated = threading.Event(), [False]

    @contextmanager
    def transaction():  # type: ignore[no-untyped-def]
        if not gated[0]:
            gated[0] = True
            assert gate.wait(10)
        with db.single_statement() as session:
            yield session

    claims = request_claims(transaction)
    digest = request_digest("1800000000", "v0=" + "f" * 64)
    with ThreadPoolExecutor(4) as pool:
        asked = pool.map(
            lambda _: claim_request(claims, digest=digest, expires_at=EXPIRES), range(4)
        )
        deadline = time.monotonic() + 10
        while len(claims._waiting) < 4:
            assert time.monotonic() < deadline, "the claims did not arrive"
            time.sleep(0.005)
        gate.set()
        assert sorted(asked) == [False, False, False, True]


def test_a_group_that_fails_fails_each_member_and_the_next_group_goes_on(db: Database) -> None:
    from contextlib import contextmanager

    failing = [True]

    @contextmanager
    def transaction():  # type: ignore[no-untyped-def]
        with db.single_statement() as session:
            if failing[0]:
                raise RuntimeError("the database is away")
            yield session

    claims = request_claims(transaction)
    digest = request_digest("1800000000", "v0=" + "e" * 64)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(
                lambda _: _outcome(
                    lambda: claim_request(claims, digest=digest, expires_at=EXPIRES)
                ),
                range(8),
            )
        )
    assert outcomes == ["RuntimeError"] * 8
    failing[0] = False
    assert claim_request(claims, digest=digest, expires_at=EXPIRES)  # nobody is stuck
    assert not claim_request(claims, digest=digest, expires_at=EXPIRES)


def _outcome(claim: Callable[[], bool]) -> str:
    try:
        return str(claim())
    except RuntimeError as error:
        return type(error).__name__
