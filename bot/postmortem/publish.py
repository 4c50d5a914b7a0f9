"""Publishing a rendered postmortem to the incident channel: a canvas, or a Markdown file.

The canvas is shared with the incident channel only (write access, so the team can write in
it); for a private incident nobody outside that channel can open it. Where canvases are
refused (free plans, admin policy), the Markdown is uploaded as a file to the same channel.

**Regenerating never overwrites what people wrote.** The first generation creates the whole
canvas. After that only the template's `{bot}` sections are refreshed (`refresh_canvas`), and
only the lines the bot itself wrote last time and nobody has changed since: a canvas is a list
of sections, one per block (sandbox/slack/canvas.py explains why), so the bot reads the canvas
(`canvases.getContent`), finds each of its sections by its heading, compares the lines under it
with what it wrote last time (the previous version, kept in the database) and with what it
would write now, and applies the difference block by block with `canvases.sections.lookup` +
`canvases.edit` (`replace`/`insert_*`/`delete` with a `section_id`). Headings are never edited
or deleted, sections people own are never looked at, and a `{bot}` section whose heading cannot
be found exactly once is left alone and reported. Calls grow with the change, not the document:
a run of new lines is one insert.

A Markdown file can't be edited in place: regenerating uploads a new version next to the old
one and says so.

Only where Slack refuses canvases for good (free plans, admin policy, a token or scope that
can't) is the Markdown uploaded as a file instead. A passing failure (5xx, 429, an edit lock)
is raised, and the generation job retries it with backoff: the outcome does not change because
Slack had a bad minute. A canvas that could not be shared is deleted, never left behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.postmortem.document import Block, BlockKind, Document, Owner, Section, join_blocks
from bot.postmortem.document import split_document as read_document

log = logging.getLogger("postmortem_bot.publish")

GONE = {"canvas_not_found", "canvas_deleted", "file_not_found", "file_deleted"}
# Slack's answers that mean canvases can't be used here, however often we ask.
CANVASES_REFUSED = frozenset(
    {
        "access_denied",
        "canvas_creation_failed",
        "canvas_disabled_user_team",
        "ekm_access_denied",
        "enterprise_is_restricted",
        "free_teams_cannot_create_non_tabbed_canvases",
        "free_teams_cannot_create_standalone_canvases",
        "free_teams_cannot_edit_standalone_canvases",
        "missing_scope",
        "no_permission",
        "not_allowed",
        "not_allowed_token_type",
        "restricted_action",
        "team_tier_cannot_create_canvases",
    }
)


def refused_for_good(error: SlackApiError) -> bool:
    """A refusal of canvases themselves (fall back to a file), not a passing failure."""
    status = getattr(error.response, "status_code", 200)
    if status == 429 or status >= 500:
        return False
    return str(error.response.get("error", "")) in CANVASES_REFUSED


MAX_CHANGE_BYTES = 900_000  # Slack takes up to 1 MiB of Markdown per change; keep a margin
MIN_PROBE = 3  # shorter text can't identify a section
MAX_PROBE = 200


@dataclass(frozen=True)
class Published:
    kind: str  # "canvas", "file" or "confluence" (bot.postmortem.destinations)
    id: str
    url: str | None
    fallback_reason: str | None = None  # why a file was used instead of a canvas
    notes: tuple[str, ...] = ()  # what the person who generated it should be told
    refresh: CanvasRefresh | None = None  # what happened to an existing canvas
    pending: bool = False  # a deferred destination: its own outbox job publishes it


@dataclass
class CanvasRefresh:
    """What refreshing an existing canvas did, for the person who asked and for tests."""

    refreshed: list[str] = field(default_factory=list)  # bot sections whose lines changed
    inserted: list[str] = field(default_factory=list)  # bot sections added
    left_alone: list[tuple[str, str]] = field(default_factory=list)  # (heading, why)
    kept_lines: dict[str, int] = field(default_factory=dict)  # people changed them: kept
    failed_lines: dict[str, int] = field(default_factory=dict)  # could not be placed/found
    lookups: int = 0
    edits: int = 0

    def notes(self) -> list[str]:
        notes: list[str] = []
        if self.refreshed or self.inserted:
            done = ", ".join(f"*{h}*" for h in self.refreshed)
            notes.append(
                (f"Refreshed {done} in the canvas. " if done else "")
                + "The sections the team writes were not touched."
            )
        elif not self.left_alone:
            notes.append("The canvas was already up to date; nothing in it changed.")
        notes += [f"Added *{heading}* to the canvas." for heading in self.inserted]
        notes += [f"*{heading}*: {why}" for heading, why in self.left_alone]
        for heading, count in self.kept_lines.items():
            lines = "line" if count == 1 else "lines"
            notes.append(
                f"*{heading}*: {count} {lines} I wrote earlier were changed or removed by "
                "someone; I left them as they are."
            )
        for heading, count in self.failed_lines.items():
            notes.append(
                f"*{heading}*: I couldn't update {count} line{'s' if count != 1 else ''} "
                "(its text is in the canvas more than once, or no longer there); check that part."
            )
        return notes


def _document(markdown: str) -> dict[str, str]:
    return {"type": "markdown", "markdown": markdown}


def _canvas_url(client: WebClient, team_id: str, canvas_id: str) -> str | None:
    try:
        base = client.auth_test().get("url")
    except SlackApiError:
        return None
    return f"{base}docs/{team_id}/{canvas_id}" if isinstance(base, str) else None


def _create_canvas(client: WebClient, *, title: str, channel_id: str, markdown: str) -> str:
    """Create the canvas and share it with the channel; if sharing fails, delete it again (an
    unshared canvas would be an orphan nobody can find) and raise what sharing raised."""
    canvas_id = str(
        client.canvases_create(title=title, document_content=_document(markdown))["canvas_id"]
    )
    try:
        client.canvases_access_set(
            canvas_id=canvas_id, access_level="write", channel_ids=[channel_id]
        )
    except SlackApiError:
        try:
            client.canvases_delete(canvas_id=canvas_id)
        except SlackApiError as error:
            log.warning(
                "could not delete unshared canvas %s: %s", canvas_id, error.response.get("error")
            )
        raise
    return canvas_id


def upload_file(
    client: WebClient,
    *,
    title: str,
    filename: str,
    channel_id: str,
    markdown: str,
    reason: str | None,
    notes: tuple[str, ...],
) -> Published:
    response = client.files_upload_v2(
        channel=channel_id, content=markdown, filename=filename, title=title
    )
    uploaded = response.get("file") or (response.get("files") or [{}])[0]
    return Published(
        "file", str(uploaded.get("id", "")), uploaded.get("permalink"), reason, notes=notes
    )


def publish(
    client: WebClient,
    *,
    team_id: str,
    channel_id: str,
    title: str,
    filename: str,
    document: Document,
    previous: Document | None,
    canvas_id: str | None,
    file_id: str | None = None,
) -> Published:
    """Refresh the existing canvas's `{bot}` sections, or create a canvas; fall back to a
    file upload. `previous` is the last version the bot published (what it wrote then)."""
    notes: tuple[str, ...] = ()
    if canvas_id:
        try:
            refresh = refresh_canvas(client, canvas_id, document, previous)
            url = _canvas_url(client, team_id, canvas_id)
            return Published(
                "canvas", canvas_id, url, notes=tuple(refresh.notes()), refresh=refresh
            )
        except SlackApiError as error:
            if error.response.get("error") not in GONE:
                raise
            log.info("canvas %s is gone; creating a new one", canvas_id)
            notes = ("The earlier canvas was deleted, so this version is a new canvas.",)
    try:
        new_id = _create_canvas(
            client, title=title, channel_id=channel_id, markdown=document.markdown
        )
        return Published("canvas", new_id, _canvas_url(client, team_id, new_id), notes=notes)
    except SlackApiError as error:
        if not refused_for_good(error):
            raise  # a passing failure: the generation job tries again later
        reason = str(error.response.get("error", "unknown_error"))
        log.info("canvases unavailable (%s); uploading a Markdown file instead", reason)
    if file_id or canvas_id:
        notes += (
            f"A file can't be edited in place, so `{filename}` is a new file next to the earlier "
            "version, which is kept as it was: copy over anything you wrote in it.",
        )
    return upload_file(
        client,
        title=title,
        filename=filename,
        channel_id=channel_id,
        markdown=document.markdown,
        reason=reason,
        notes=notes,
    )


# --- refreshing a canvas ------------------------------------------------------------------


def _probe(block: Block) -> str | None:
    """Text that finds `block` with `contains_text`: its first line, or None if too short."""
    first = next((line.strip() for line in block.text.splitlines() if line.strip()), "")
    return first[:MAX_PROBE] if len(first) >= MIN_PROBE else None


def _chunks(blocks: list[Block]) -> list[list[Block]]:
    """Runs of blocks whose Markdown fits in one change."""
    chunks: list[list[Block]] = [[]]
    size = 0
    for block in blocks:
        length = len(block.markdown.encode("utf-8")) + 2
        if chunks[-1] and size + length > MAX_CHANGE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(block)
        size += length
    return chunks


class _Canvas:
    """Section ids found just before each edit (they change as sections are replaced)."""

    def __init__(self, client: WebClient, canvas_id: str, result: CanvasRefresh) -> None:
        self.client, self.canvas_id, self.result = client, canvas_id, result

    def id_of(self, block: Block) -> str | None:
        """The id of the one section that reads like `block`; None if not exactly one."""
        probe = _probe(block)
        if probe is None:
            return None
        criteria: dict[str, object] = {"contains_text": probe}
        if block.kind is BlockKind.HEADING:
            criteria["section_types"] = [f"h{block.level}"]
        self.result.lookups += 1
        found = self.client.canvases_sections_lookup(canvas_id=self.canvas_id, criteria=criteria)
        ids = [str(s["id"]) for s in found.get("sections") or []]
        return ids[0] if len(ids) == 1 else None

    def edit(self, operation: str, section_id: str | None, blocks: list[Block] | None) -> None:
        change: dict[str, object] = {"operation": operation}
        if section_id is not None:
            change["section_id"] = section_id
        if blocks is not None:
            change["document_content"] = _document(join_blocks(blocks))
        self.result.edits += 1
        self.client.canvases_edit(canvas_id=self.canvas_id, changes=[change])

    def insert(self, blocks: list[Block], *, before: Block | None, after: Block | None) -> bool:
        """Put `blocks` before `before` if it can be found, else after `after` (the anchor is
        looked up again for every chunk: an edit may give sections new ids)."""
        for operation, anchor, chunks in (
            ("insert_before", before, _chunks(blocks)),  # each lands just before: in order
            ("insert_after", after, list(reversed(_chunks(blocks)))),  # just after: reversed
        ):
            section_id = self.id_of(anchor) if anchor is not None else None
            if anchor is None or section_id is None:
                continue
            for number, chunk in enumerate(chunks):
                if number:
                    section_id = self.id_of(anchor)
                if section_id is None:
                    return False
                self.edit(operation, section_id, chunk)
            return True
        return False

    def delete(self, block: Block) -> bool:
        section_id = self.id_of(block)
        if section_id is None:
            return False
        self.edit("delete", section_id, None)
        return True


def _locate(current: Document, level: int, heading: str) -> list[Section]:
    return [s for s in current.sections if s.level == level and s.heading == heading]


def _label(section: Section) -> str:
    return section.heading or "the title"


def refresh_canvas(
    client: WebClient, canvas_id: str, new: Document, previous: Document | None
) -> CanvasRefresh:
    """Bring the `{bot}` sections of an existing canvas up to date (see the module docstring)."""
    result = CanvasRefresh()
    # api_call rather than canvases_getContent: older slack_sdk releases we allow lack it.
    content = client.api_call(
        "canvases.getContent", params={"canvas_id": canvas_id, "content_type": "markdown"}
    )
    current = read_document(str(content.get("content") or ""))
    canvas = _Canvas(client, canvas_id, result)
    for index, section in enumerate(new.sections):
        if section.owner is not Owner.BOT or section.heading_block is None:
            continue
        old = previous.section(section.key) if previous is not None else None
        heading = old.heading if old is not None else section.heading
        found = _locate(current, section.level, heading)
        if not found:
            if old is None and previous is not None:
                _insert_section(canvas, current, new, index, previous)
            else:
                result.left_alone.append(
                    (
                        _label(section),
                        f"I couldn't find its heading “{heading}” in the canvas (renamed or "
                        "removed?), so I left that part as it is. Name a heading "
                        f"“{section.heading}” again to have it refreshed.",
                    )
                )
            continue
        if len(found) > 1:
            result.left_alone.append(
                (
                    _label(section),
                    f"the canvas has {len(found)} headings “{heading}”, so I can't tell which is "
                    "mine; I left them as they are.",
                )
            )
            continue
        if old is None:
            result.left_alone.append(
                (
                    _label(section),
                    "I have no record of what I wrote there, so I can't tell my lines from "
                    "people's; I left it as it is.",
                )
            )
            continue
        if old.heading != section.heading:
            result.left_alone.append(
                (_label(section), f"the heading now reads “{section.heading}”; edit it by hand.")
            )
        _refresh_section(canvas, found[0], old, section)
    return result


def _texts(blocks: tuple[Block, ...] | list[Block]) -> list[str]:
    return [block.text for block in blocks]


def _markdown(blocks: tuple[Block, ...] | list[Block]) -> list[str]:
    return [block.markdown for block in blocks]


def _compare(a: list[str], b: list[str]) -> tuple[int, int, SequenceMatcher[str]]:
    """The lines `a` and `b` share at the start and at the end (how many of each), and a
    matcher for what lies between: a channel log that grew by a few messages is compared by
    its new lines, not by all 50,000 of them."""
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    middle = SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False)
    return head, tail, middle


def _matching_lines(a: list[str], b: list[str]) -> dict[int, int]:
    """Line i of `a` is line where[i] of `b`, for the lines the two have in common."""
    head, tail, middle = _compare(a, b)
    where = {i: i for i in range(head)}
    for m in middle.get_matching_blocks():
        where.update({head + m.a + k: head + m.b + k for k in range(m.size)})
    where.update({len(a) - 1 - k: len(b) - 1 - k for k in range(tail)})
    return where


def _changes(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """What turns `a` into `b`: (i1, i2, j1, j2), a[i1:i2] becomes b[j1:j2]."""
    head, _tail, middle = _compare(a, b)
    return [
        (head + i1, head + i2, head + j1, head + j2)
        for tag, i1, i2, j1, j2 in middle.get_opcodes()
        if tag != "equal"
    ]


def _refresh_section(canvas: _Canvas, here: Section, old: Section, new: Section) -> None:
    """Apply the bot's own change (what it wrote last time → what it writes now) to the lines
    under `here`. A line it wrote that someone has changed since is theirs: it is neither
    replaced nor deleted, and not written again if the bot's version did not change."""
    result = canvas.result
    current = list(here.body)
    if _markdown(old.body) == _markdown(current):  # nobody touched it: no need to compare texts
        where = {i: i for i in range(len(current))}
    else:
        where = _matching_lines(_texts(old.body), _texts(current))
    if len(where) < len(old.body):
        result.kept_lines[_label(new)] = len(old.body) - len(where)

    def anchors(i1: int, i2: int) -> tuple[Block | None, Block | None]:
        """The canvas lines around old[i1:i2]: the next and the previous of the bot's lines
        still there (else the heading)."""
        after_range = [where[i] for i in range(i2, len(old.body)) if i in where]
        before_range = [where[i] for i in range(i1) if i in where]
        before = current[after_range[0]] if after_range else None
        after = current[before_range[-1]] if before_range else here.heading_block
        return before, after

    failed, changed = 0, False
    # Old and new are both the bot's renderings, spelled alike: compared as written.
    for i1, i2, j1, j2 in _changes(_markdown(old.body), _markdown(new.body)):
        stale = [current[where[i]] for i in range(i1, i2) if i in where]
        fresh = list(new.body[j1:j2])
        placed = not fresh
        if fresh and stale and len(join_blocks(fresh).encode()) <= MAX_CHANGE_BYTES:
            section_id = canvas.id_of(stale[0])
            if section_id is not None:
                canvas.edit("replace", section_id, fresh)
                stale, placed = stale[1:], True
        if not placed:
            before, after = anchors(i1, i2)
            placed = canvas.insert(fresh, before=before, after=after)
            failed += 0 if placed else len(fresh)
        deleted = [canvas.delete(block) for block in stale]
        failed += deleted.count(False)
        changed = changed or placed and bool(fresh) or any(deleted)
    if failed:
        result.failed_lines[_label(new)] = failed
    if changed:
        result.refreshed.append(_label(new))


def _insert_section(
    canvas: _Canvas, current: Document, new: Document, index: int, previous: Document
) -> None:
    """A `{bot}` section the canvas never had (new in the template): put it before the next
    section the canvas has, else after the previous one, else at the end."""
    section = new.sections[index]
    blocks = list(section.blocks)

    def heading_in_canvas(other: Section) -> Block | None:
        old = previous.section(other.key)
        text = old.heading if old is not None else other.heading
        found = _locate(current, other.level, text)
        return found[0].heading_block if len(found) == 1 else None

    for later in new.sections[index + 1 :]:
        anchor = heading_in_canvas(later) if later.heading_block is not None else None
        if anchor is not None and canvas.insert(blocks, before=anchor, after=None):
            canvas.result.inserted.append(_label(section))
            return
    for earlier in reversed(new.sections[:index]):
        anchor = heading_in_canvas(earlier) if earlier.heading_block is not None else None
        if anchor is None:
            continue
        span = next(s for s in current.sections if s.heading_block == anchor)
        last = span.body[-1] if span.body else anchor
        if canvas.insert(blocks, before=None, after=last):
            canvas.result.inserted.append(_label(section))
            return
        break
    for chunk in _chunks(blocks):
        canvas.edit("insert_at_end", None, chunk)
    canvas.result.inserted.append(_label(section))
