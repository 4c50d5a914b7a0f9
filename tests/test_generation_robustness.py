"""Generation that survives what goes wrong: runaway templates, passing Slack failures, a canvas
that can't be shared, and two generations at once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import OutboxJob, OutboxState, Postmortem, PostmortemVersion
from tests.bench import INCIDENT_CHANNEL, PRIVATE_CHANNEL, Bench, running_bench

SLOW = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done\n"
HUGE = "{{ 'x' * 10**8 }}\n"
WIDE = "{% for i in range(100000) %}{{ 'y' * 30 }}{% endfor %}\n"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "slow.md.j2").write_text(SLOW)
    (folder / "huge.md.j2").write_text(HUGE)
    (folder / "wide.md.j2").write_text(WIDE)
    return folder


@pytest.fixture
def limited(slack: FakeSlack, db: Database, templates: Path) -> Iterator[Bench]:
    with running_bench(
        slack,
        db,
        postmortem_templates_dir=templates,
        postmortem_render_timeout_seconds=1.0,
        postmortem_max_chars=1_000_000,
    ) as bench:
        yield bench


def declare(bench: Bench, channel: str = INCIDENT_CHANNEL) -> None:
    bench.command("/incident", "declare Checkout returns 500s sev2", channel=channel)
    wait_until(lambda: bench.slack.calls_to("chat.postMessage"), what="the announcement")
    bench.wait_for_backfill()


def versions(db: Database) -> list[int]:
    with db.read_session() as session:
        return list(session.scalars(select(PostmortemVersion.version)))


def generate(bench: Bench, text: str, channel: str = INCIDENT_CHANNEL) -> str:
    """Ask for a generation; the answer the person gets after the ack, if any."""
    reply, url = bench.command("/postmortem", text, channel=channel)
    assert reply.status == 200 and "Writing the postmortem" in reply.json()["text"]
    return url


def test_a_runaway_template_is_stopped_and_named_without_holding_up_others(
    limited: Bench,
) -> None:
    bench = limited
    declare(bench)
    declare(bench, PRIVATE_CHANNEL)
    started = time.monotonic()
    url = generate(bench, "generate slow")
    generate(bench, "generate concise", channel=PRIVATE_CHANNEL)  # another incident, meanwhile
    told = bench.ephemeral_reply(url, timeout=10)["text"]
    assert "slow.md.j2" in told and "longer than 1 s" in told and "not generated" in told
    assert time.monotonic() - started < 8
    wait_until(lambda: versions(bench.db) == [1], what="the other incident's postmortem")
    assert len(bench.slack.canvases()) == 1  # nothing published for the runaway one


@pytest.mark.parametrize(
    ("template", "why"),
    [("huge", "more than the 1,000,000"), ("wide", "grew past 1,000,000 characters")],
)
def test_a_document_past_the_size_cap_is_refused(limited: Bench, template: str, why: str) -> None:
    bench = limited
    declare(bench)
    url = generate(bench, f"generate {template}")
    told = bench.ephemeral_reply(url, timeout=10)["text"]
    assert f"{template}.md.j2" in told and why in told
    assert bench.slack.canvases() == {} and not bench.slack.calls_to("files.getUploadURLExternal")


def test_passing_canvas_failures_are_retried_not_turned_into_a_file(bench: Bench) -> None:
    declare(bench)
    bench.slack.server_error("canvases.create", 500, times=3)  # the client retries twice
    generate(bench, "generate")
    saved = wait_until(
        lambda: (p := _postmortem(bench.db)) is not None and p.canvas_id and p, timeout=15
    )
    assert saved.file_id is None and len(bench.slack.canvases()) == 1
    assert not bench.slack.calls_to("files.getUploadURLExternal")


def test_a_canvas_that_cannot_be_shared_is_deleted_not_orphaned(bench: Bench) -> None:
    declare(bench)
    bench.slack.fail("canvases.access.set", "restricted_action")
    url = generate(bench, "generate")
    told = bench.ephemeral_reply(url, timeout=10)["text"]
    assert "Markdown file" in told and "restricted_action" in told
    assert bench.slack.calls_to("canvases.delete") and bench.slack.canvases() == {}
    saved = wait_until(lambda: (p := _postmortem(bench.db)) is not None and p.file_id and p)
    assert saved.canvas_id is None


def test_two_generations_at_once_make_one_and_say_so(bench: Bench) -> None:
    declare(bench)
    bench.slack.rate_limit("canvases.create", retry_after=2)  # the first one takes a while
    first, _ = bench.command("/postmortem", "generate")
    second, _ = bench.command("/postmortem", "generate")
    answers = [first.json()["text"], second.json()["text"]]
    assert sum("being generated right now" in a for a in answers) == 1, answers
    wait_until(lambda: versions(bench.db) == [1], what="one version")
    with bench.db.session() as session:  # the version and the job's end commit together
        jobs = session.scalars(
            select(OutboxJob.state).where(OutboxJob.kind == "postmortem.generate")
        ).all()
    assert jobs == [OutboxState.DONE]
    third, _ = bench.command("/postmortem", "generate")  # free again afterwards
    assert "Writing the postmortem" in third.json()["text"]
    wait_until(lambda: sorted(versions(bench.db)) == [1, 2], what="a second version")


def _postmortem(db: Database) -> Postmortem | None:
    with db.read_session() as session:
        return session.scalar(select(Postmortem))
