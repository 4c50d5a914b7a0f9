"""Each signed request is taken in once, whichever replica gets it (bot.slack.request_replays):
the claim is one INSERT … ON CONFLICT DO NOTHING, so racing replicas cannot both win."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bot.slack.request_replays import claim_request, request_digest
from storage.db import Database

EXPIRES = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)


def test_a_request_is_claimed_once(db: Database) -> None:
    digest = request_digest("1800000000", "v0=" + "a" * 64)
    with db.session() as session:
        assert claim_request(session, digest=digest, expires_at=EXPIRES)
    with db.session() as session:
        assert not claim_request(session, digest=digest, expires_at=EXPIRES)
    other = request_digest("1800000001", "v0=" + "a" * 64)  # signed again: a new request
    with db.session() as session:
        assert claim_request(session, digest=other, expires_at=EXPIRES + timedelta(seconds=1))


def test_racing_claims_have_one_winner(db: Database) -> None:
    digest = request_digest("1800000000", "v0=" + "b" * 64)

    def claim(_: int) -> bool:
        with db.session() as session:
            return claim_request(session, digest=digest, expires_at=EXPIRES)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(16)))
    assert results.count(True) == 1


def test_the_digest_is_a_fixed_size_hash_of_both() -> None:
    digest = request_digest("1800000000", "v0=" + "c" * 64)
    assert len(digest) == 64 and int(digest, 16) >= 0  # hex SHA-256, whatever the input
    assert digest != request_digest("1800000000", "v0=" + "d" * 64)
    assert digest != request_digest("1800000001", "v0=" + "c" * 64)
