"""Per-team counters that stay unique under concurrent writers (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import TeamSequence


def next_value(session: Session, team_id: str, name: str) -> int:
    """Return the next value of counter `name` for `team_id`, starting at 1.

    The UPDATE takes a row lock, so two transactions never get the same value; the first use of a
    counter inserts its row, and a concurrent first insert is resolved by retrying the UPDATE.
    """
    for _ in range(3):
        bumped = session.execute(
            update(TeamSequence)
            .where(TeamSequence.team_id == team_id, TeamSequence.name == name)
            .values(value=TeamSequence.value + 1)
            .returning(TeamSequence.value)
        ).scalar_one_or_none()
        if bumped is not None:
            return bumped
        try:
            with session.begin_nested():
                session.add(TeamSequence(team_id=team_id, name=name, value=1))
            return 1
        except IntegrityError:
            continue  # another transaction created it first; bump that row instead
    raise RuntimeError(f"could not allocate the next {name} number for team {team_id}")
