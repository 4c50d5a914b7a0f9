"""Canvases as Slack models them: an ordered list of sections, found and edited by section id.

**What a section is.** Slack documents that ``canvases.sections.lookup`` "identif[ies] sections
within a canvas" so that ``canvases.edit`` can "edit the section or apply edits relative to that
section", that headers (h1, h2, h3) are sections, and that "other types of sections exist ...
You may discover these when using a query with no section type provided". It does not say how
far a header section reaches. The fake follows the evidence we have:

* canvases are Quip documents, and ``canvases.edit``'s six operations are Quip's
  ``edit_document`` locations one for one (``AFTER_SECTION``, ``BEFORE_SECTION``, ``PREPEND``,
  ``APPEND``, ``REPLACE_SECTION``, ``DELETE_SECTION``), with Quip's section ids
  (``temp:C:`` + 28 characters); in Quip every block is a section: a heading, a paragraph,
  each list item, a code block;
* Slack's own example replaces an h2 section with ``"## After"``, a heading line alone;
* a section id of a plain paragraph exists (slackapi/slack-skills-plugin#30).

So a section here is **one block**: a heading line (h1-h3), a paragraph, one list item (nested
items are sections of their own), a block quote, a fenced code block, a table, a divider. A
header section is the heading line only: replacing or deleting it leaves the text under it in
place. Callers that want "the heading and what follows" must address each block.

Section ids are stable while a section lives; replacing a section gives its content new ids.
Text matching (``contains_text``) is a case-insensitive substring test on a section's plain
text (Markdown marks removed), the looser of the two readings, so a caller that needs exactly one
match is tested against the harder case.

Errors are Slack's documented codes where Slack documents one (``canvas_not_found``,
``canvas_deleted``, ``canvas_editing_failed`` with a ``detail``, ``canvas_too_large``); a
request that breaks the documented shape of ``changes``/``criteria`` gets Slack's generic
schema answer, ``invalid_arguments`` with ``response_metadata.messages``.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from functools import cached_property

from sandbox.slack.base import ApiError, JsonDict

HEADER_TYPES = ("h1", "h2", "h3")
SECTION_TYPE_CRITERIA = frozenset({*HEADER_TYPES, "any_header"})
LIST_TYPES = frozenset({"bullet", "ordered", "checklist"})
MAX_CHANGE_BYTES = 1024 * 1024  # "each change's markdown is limited to 1 MiB"
_LIST_IN_QUOTE = "Unsupported block type (List) within block quote"  # Slack's documented detail
SECTION_ID = re.compile(r"^temp:C:[A-Za-z0-9]{28}$")

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,3})\s+(.*?)\s*#*\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(\[[ xX]\]\s+)?(.*)$")
_DIVIDER = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_ANGLE = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_MARKS = re.compile(r"(\*\*|__|~~|`)")
_EMPHASIS = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")


@dataclass
class Section:
    """One block of a canvas and its id."""

    id: str
    type: str  # h1 h2 h3 paragraph bullet ordered checklist quote code table divider
    markdown: str  # this block's own Markdown, without a trailing newline

    @cached_property
    def text(self) -> str:
        """Once per section (its Markdown never changes; an edit makes new sections): a lookup
        in a 50,000-line canvas reads every section's text."""
        return plain_text(self.type, self.markdown)

    @property
    def is_header(self) -> bool:
        return self.type in HEADER_TYPES


class MarkdownProblem(ValueError):
    """Content the canvas refuses, with the 1-based line it is on."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(f"'content' error: line {line}: {what}")


def _inline_text(text: str) -> str:
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _ANGLE.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MARKS.sub("", text)
    text = _EMPHASIS.sub(lambda m: m.group(1), text)
    return text.replace("\\", "")


def plain_text(kind: str, markdown: str) -> str:
    """What a section says, without Markdown: what ``contains_text`` is matched against."""
    lines = markdown.splitlines() or [""]
    if kind in HEADER_TYPES:
        match = _HEADING.match(lines[0])
        return _inline_text(match.group(2) if match else lines[0]).strip()
    if kind in LIST_TYPES:
        match = _LIST_ITEM.match(lines[0])
        first = match.group(4) if match else lines[0]
        rest = [line.strip() for line in lines[1:]]
        return _inline_text(" ".join([first, *rest])).strip()
    if kind == "quote":
        return "\n".join(_inline_text(re.sub(r"^\s*>\s?", "", line)) for line in lines).strip()
    if kind == "code":
        return "\n".join(lines[1:-1] if len(lines) > 1 else lines)
    if kind == "table":
        cells = [c.strip() for line in lines for c in line.strip().strip("|").split("|")]
        return " ".join(_inline_text(c) for c in cells if c and not set(c) <= set("-: "))
    if kind == "divider":
        return ""
    return _inline_text(" ".join(line.strip() for line in lines)).strip()


def _list_type(match: re.Match[str]) -> str:
    if match.group(3):
        return "checklist"
    return "bullet" if match.group(2) in "-*+" else "ordered"


def parse_blocks(markdown: str, *, strict: bool) -> list[tuple[str, str]]:
    """Split Markdown into (type, markdown) blocks, one per section.

    ``strict`` (edits) refuses what canvases refuse: a list inside a block quote, with the
    detail Slack's documented error gives. Creation is lenient (the quote keeps the lines).
    """
    lines = markdown.replace("\r\n", "\n").split("\n")
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if fence := _FENCE.match(line):
            end = i + 1
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            blocks.append(("code", "\n".join(lines[i : end + 1])))
            i = end + 1
            continue
        if heading := _HEADING.match(line):
            blocks.append((f"h{len(heading.group(1))}", line.rstrip()))
            i += 1
            continue
        if _DIVIDER.match(line):
            blocks.append(("divider", line.strip()))
            i += 1
            continue
        if item := _LIST_ITEM.match(line):
            end = i + 1
            while end < len(lines) and _continues_item(lines[end]):
                end += 1
            blocks.append((_list_type(item), "\n".join(lines[i:end]).rstrip()))
            i = end
            continue
        if line.lstrip().startswith(">"):
            end = i
            while end < len(lines) and lines[end].lstrip().startswith(">"):
                inner = re.sub(r"^\s*>\s?", "", lines[end])
                if strict and _LIST_ITEM.match(inner):
                    raise MarkdownProblem(end + 1, _LIST_IN_QUOTE)
                end += 1
            blocks.append(("quote", "\n".join(lines[i:end])))
            i = end
            continue
        if line.lstrip().startswith("|"):
            end = i
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            blocks.append(("table", "\n".join(lines[i:end])))
            i = end
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
            end += 1
        blocks.append(("paragraph", "\n".join(lines[i:end]).rstrip()))
        i = end
    return blocks


def _starts_block(line: str) -> bool:
    return bool(
        _FENCE.match(line)
        or _HEADING.match(line)
        or _DIVIDER.match(line)
        or _LIST_ITEM.match(line)
        or line.lstrip().startswith((">", "|"))
    )


def _continues_item(line: str) -> bool:
    """An indented line under a list item that is not a list item of its own."""
    return bool(line.strip()) and line[:1] in (" ", "\t") and not _starts_block(line)


def serialize(sections: list[Section]) -> str:
    """The canvas as Markdown: blank lines between blocks, none between list items."""
    out: list[str] = []
    previous: Section | None = None
    for section in sections:
        if previous is not None:
            both_lists = previous.type in LIST_TYPES and section.type in LIST_TYPES
            out.append("\n" if both_lists else "\n\n")
        out.append(section.markdown)
        previous = section
    return "".join(out)


def to_html(sections: list[Section]) -> str:
    """A plain HTML rendering for ``content_type=html`` (the fake's own; Slack's is richer)."""
    parts: list[str] = []
    for section in sections:
        text = html.escape(section.text)
        if section.is_header:
            parts.append(f"<{section.type}>{text}</{section.type}>")
        elif section.type in LIST_TYPES:
            parts.append(f"<ul><li>{text}</li></ul>")
        elif section.type == "quote":
            parts.append(f"<blockquote>{text}</blockquote>")
        elif section.type == "code":
            parts.append(f"<pre>{text}</pre>")
        elif section.type == "divider":
            parts.append("<hr/>")
        else:
            parts.append(f"<p>{text}</p>")
    return "".join(parts)


class CanvasDocument:
    """The sections of one canvas and the operations ``canvases.edit`` offers on them."""

    def __init__(self, markdown: str = "") -> None:
        self._prefix = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(3))
        self.sections: list[Section] = self._build(markdown, strict=False)

    def _new_id(self) -> str:
        return f"temp:C:{self._prefix}{secrets.token_hex(13)[:25]}"

    def _build(self, markdown: str, *, strict: bool) -> list[Section]:
        blocks = parse_blocks(markdown, strict=strict)
        return [Section(self._new_id(), kind, md) for kind, md in blocks]

    def new_sections(self, markdown: str) -> list[Section]:
        """Sections for edited content; raises ApiError as canvases.edit does."""
        if len(markdown.encode("utf-8")) > MAX_CHANGE_BYTES:
            raise ApiError("canvas_too_large")
        try:
            return self._build(markdown, strict=True)
        except MarkdownProblem as problem:
            raise ApiError("canvas_editing_failed", detail=str(problem)) from None

    @property
    def markdown(self) -> str:
        return serialize(self.sections)

    def index_of(self, section_id: str) -> int:
        if not SECTION_ID.match(section_id):
            raise ApiError("canvas_editing_failed", detail=f"invalid section_id {section_id!r}")
        for index, section in enumerate(self.sections):
            if section.id == section_id:
                return index
        raise ApiError("canvas_editing_failed", detail=f"section {section_id} not found")

    def lookup(self, section_types: list[str] | None, contains_text: str | None) -> list[str]:
        wanted = set(section_types or ())
        if "any_header" in wanted:
            wanted |= set(HEADER_TYPES)
        needle = (contains_text or "").casefold()
        return [
            s.id
            for s in self.sections
            if (not wanted or s.type in wanted) and needle in s.text.casefold()
        ]

    def apply(self, operation: str, section_id: str | None, markdown: str | None) -> None:
        """One documented operation (fields already checked by the caller)."""
        new = self.new_sections(markdown) if markdown is not None else []
        if operation == "insert_at_start":
            self.sections[:0] = new
        elif operation == "insert_at_end":
            self.sections.extend(new)
        elif operation == "replace" and section_id is None:
            self.sections = new
        else:
            assert section_id is not None
            index = self.index_of(section_id)
            if operation == "insert_before":
                self.sections[index:index] = new
            elif operation == "insert_after":
                self.sections[index + 1 : index + 1] = new
            elif operation == "replace":
                self.sections[index : index + 1] = new
            elif operation == "delete":
                del self.sections[index]

    def person_edits_under(self, heading: str, markdown: str) -> None:
        """A person rewrites what is under ``heading`` (up to the next heading of any level)."""
        index = self._heading_index(heading)
        end = index + 1
        while end < len(self.sections) and not self.sections[end].is_header:
            end += 1
        self.sections[index + 1 : end] = self._build(markdown, strict=True)

    def person_renames(self, heading: str, new_heading: str) -> None:
        index = self._heading_index(heading)
        old = self.sections[index]
        level = int(old.type[1])
        self.sections[index] = Section(old.id, old.type, f"{'#' * level} {new_heading}")

    def _heading_index(self, heading: str) -> int:
        found = [i for i, s in enumerate(self.sections) if s.is_header and s.text == heading]
        if len(found) != 1:
            raise ValueError(f"{len(found)} headings read {heading!r}; expected exactly one")
        return found[0]

    def as_dicts(self) -> list[JsonDict]:
        return [
            {"id": s.id, "type": s.type, "text": s.text, "markdown": s.markdown}
            for s in self.sections
        ]
