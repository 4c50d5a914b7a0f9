"""A rendered postmortem as sections with owners, and its blocks (pure).

A template says who owns each part of the document by ending a heading with ``{bot}`` or
``{people}`` (docs/templates.md):

    ## Timeline {bot}          the bot rewrites it on every generation
    ## Root cause {people}     written once, as prompts; afterwards it belongs to the team

A section is a heading (h1-h3, the levels a canvas has) and what follows it up to the next
heading. An unmarked h3 takes its owner from the h1/h2 above it; an unmarked h1/h2 belongs to
people (the safe default: the bot never rewrites what it cannot prove is its own), and
`templates check` reports it. The markers never reach the published document.

Blocks are what a canvas makes sections of (see sandbox/slack/canvas.py): a heading line, a
paragraph, one list item, a quote, a code block, a table, a divider. Refreshing a canvas
compares blocks by their plain text (`Block.text`), the text Slack's `contains_text` is
matched against, so a change of Markdown spelling alone is not mistaken for an edit.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

MARKER = re.compile(r"\s+\{(bot|people)\}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,3})\s+(.*?)\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(\[[ xX]\]\s+)?(.*)$")
_DIVIDER = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_ANGLE_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_MARKS = re.compile(r"(\*\*|__|~~|`)")
_EMPHASIS = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")


class Owner(enum.StrEnum):
    BOT = "bot"
    PEOPLE = "people"


class BlockKind(enum.StrEnum):
    HEADING = "heading"
    LIST_ITEM = "list_item"
    PARAGRAPH = "paragraph"
    QUOTE = "quote"
    CODE = "code"
    TABLE = "table"
    DIVIDER = "divider"


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    markdown: str  # without a trailing newline
    level: int = 0  # 1-3 for headings

    @cached_property
    def text(self) -> str:
        """Computed once: a canvas refresh compares every line several times."""
        return plain_text(self)


@dataclass(frozen=True)
class Section:
    """A heading and the blocks under it (the first section may have no heading)."""

    key: str  # "h1" for the title, else "h2:timeline": stable across generations
    level: int  # 0: text before the first heading
    heading: str  # the heading's plain text ("" before the first heading)
    owner: Owner
    declared: bool  # the template said who owns it
    heading_block: Block | None
    body: tuple[Block, ...]

    @property
    def blocks(self) -> tuple[Block, ...]:
        return (self.heading_block, *self.body) if self.heading_block else self.body

    @property
    def markdown(self) -> str:
        return join_blocks(self.blocks)


@dataclass(frozen=True)
class Document:
    sections: tuple[Section, ...]
    markdown: str  # as published: markers removed, the template's own spacing kept
    marked: str = ""  # as rendered, markers included: who owns what, for a later publication

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    @property
    def bot_sections(self) -> list[Section]:
        return [s for s in self.sections if s.owner is Owner.BOT]


def _inline_text(text: str) -> str:
    # Each pattern only where its opening character occurs: most lines have none of them.
    if "[" in text:
        text = _LINK.sub(lambda m: m.group(1), text)
    if "<" in text:
        text = _ANGLE_LINK.sub(lambda m: m[2] or m[1], text)
    if "*" in text or "_" in text or "~" in text or "`" in text:
        text = _MARKS.sub("", text)
        text = _EMPHASIS.sub(lambda m: m.group(1), text)
    return text.replace("\\", "")


def plain_text(block: Block) -> str:
    """A block's words without Markdown marks (links keep their label)."""
    lines = block.markdown.splitlines() or [""]
    if block.kind is BlockKind.HEADING:
        match = _HEADING.match(lines[0])
        return _inline_text(match.group(2) if match else lines[0]).strip()
    if block.kind is BlockKind.LIST_ITEM:
        match = _LIST_ITEM.match(lines[0])
        first = match.group(4) if match else lines[0]
        return _inline_text(" ".join([first, *(line.strip() for line in lines[1:])])).strip()
    if block.kind is BlockKind.QUOTE:
        return "\n".join(_inline_text(re.sub(r"^\s*>\s?", "", ln)) for ln in lines).strip()
    if block.kind is BlockKind.CODE:
        return "\n".join(lines[1:-1] if len(lines) > 1 else lines)
    if block.kind is BlockKind.TABLE:
        cells = [c.strip() for line in lines for c in line.strip().strip("|").split("|")]
        return " ".join(_inline_text(c) for c in cells if c and not set(c) <= set("-: "))
    if block.kind is BlockKind.DIVIDER:
        return ""
    return _inline_text(" ".join(line.strip() for line in lines)).strip()


_MAY_START = frozenset("`~#-*_+>|0123456789")  # the first characters of every kind of block


def _starts_block(line: str) -> bool:
    first = line.lstrip()[:1]
    if first not in _MAY_START:
        return False  # a plain line of text (most lines): no pattern can match
    # Only the patterns that can start with that character (a log line tried all four).
    if first in ">|":
        return True
    if first in "`~":
        return bool(_FENCE.match(line))
    if first == "#":
        return bool(_HEADING.match(line))
    return bool(_LIST_ITEM.match(line) or _DIVIDER.match(line))


def parse_blocks(markdown: str) -> list[Block]:
    """Markdown → blocks, one per canvas section."""
    lines = markdown.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        end = i + 1
        first = line.lstrip()[:1]
        if first not in _MAY_START:  # plain text (no pattern below can match): a paragraph
            while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
                end += 1
            blocks.append(Block(BlockKind.PARAGRAPH, "\n".join(lines[i:end]).rstrip()))
            i = end
            continue
        if first in "`~" and (fence := _FENCE.match(line)):
            while end < len(lines) and not lines[end].strip().startswith(fence.group(1)):
                end += 1
            blocks.append(Block(BlockKind.CODE, "\n".join(lines[i : end + 1])))
            i = end + 1
            continue
        if first == "#" and (heading := _HEADING.match(line)):
            level = len(heading.group(1))
            blocks.append(Block(BlockKind.HEADING, line.rstrip(), level))
        elif _DIVIDER.match(line):
            blocks.append(Block(BlockKind.DIVIDER, line.strip()))
        elif _LIST_ITEM.match(line):
            while end < len(lines) and lines[end].strip() and lines[end][:1] in (" ", "\t"):
                if _starts_block(lines[end]):
                    break
                end += 1
            blocks.append(Block(BlockKind.LIST_ITEM, "\n".join(lines[i:end]).rstrip()))
        elif line.lstrip().startswith((">", "|")):
            prefix = line.lstrip()[0]
            while end < len(lines) and lines[end].lstrip().startswith(prefix):
                end += 1
            kind = BlockKind.QUOTE if prefix == ">" else BlockKind.TABLE
            blocks.append(Block(kind, "\n".join(lines[i:end])))
        else:
            while end < len(lines) and lines[end].strip() and not _starts_block(lines[end]):
                end += 1
            blocks.append(Block(BlockKind.PARAGRAPH, "\n".join(lines[i:end]).rstrip()))
        i = end
    return blocks


def join_blocks(blocks: tuple[Block, ...] | list[Block]) -> str:
    """Blocks back to Markdown: a blank line between blocks, none between list items."""
    out: list[str] = []
    previous: Block | None = None
    for block in blocks:
        if previous is not None:
            lists = previous.kind is BlockKind.LIST_ITEM and block.kind is BlockKind.LIST_ITEM
            out.append("\n" if lists else "\n\n")
        out.append(block.markdown)
        previous = block
    return "".join(out)


def strip_markers(rendered: str) -> str:
    """The document as published: `{bot}`/`{people}` removed from heading lines."""
    out: list[str] = []
    fence: str | None = None
    for line in rendered.split("\n"):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None and _HEADING.match(line):
            line = MARKER.sub("", line)
        out.append(line)
    return "\n".join(out)


def section_key(level: int, heading: str) -> str:
    if level == 1:
        return "h1"  # one title per document, whatever it says
    return f"h{level}:" + " ".join(heading.casefold().split())


@lru_cache(maxsize=4)
def split_document(rendered: str) -> Document:
    """Sections with owners, from a rendering (markers read, then removed). Remembered for the
    last few documents (a Document is immutable): one generation reads the previous version
    twice (as the last published one, and for the search index), and it is the last
    generation's rendering; a 50,000-message log takes a quarter of a second to read."""
    sections: list[Section] = []
    level, heading, owner, declared = 0, "", Owner.PEOPLE, False
    heading_block: Block | None = None
    body: list[Block] = []
    parent_owner: tuple[Owner, bool] = (Owner.PEOPLE, False)

    def close() -> None:
        if heading_block is not None or body:
            sections.append(
                Section(
                    key=section_key(level, heading) if heading_block else "",
                    level=level,
                    heading=heading,
                    owner=owner,
                    declared=declared,
                    heading_block=heading_block,
                    body=tuple(body),
                )
            )

    for block in parse_blocks(rendered):
        if block.kind is not BlockKind.HEADING:
            body.append(block)
            continue
        close()
        mark = MARKER.search(block.markdown)
        clean = Block(BlockKind.HEADING, MARKER.sub("", block.markdown), block.level)
        level, heading_block, body = block.level, clean, []
        heading = clean.text
        if mark:
            owner, declared = Owner(mark.group(1)), True
        elif level == 3:
            owner, declared = parent_owner
        else:
            owner, declared = Owner.PEOPLE, False
        if level < 3:
            parent_owner = (owner, declared)
    close()
    return Document(tuple(sections), strip_markers(rendered), rendered)


def markup_problems(rendered: str, source: str) -> list[str]:
    """What is wrong with a template's ownership markup, from one rendering and its source.

    The bot finds its sections in a canvas by heading text (`canvases.sections.lookup`
    matches a substring of a heading of one level), so a bot heading must be fixed text and
    no other heading of its level may contain it.
    """
    document = split_document(rendered)
    problems: list[str] = []
    titles = [s for s in document.sections if s.level == 1]
    if len(titles) > 1:
        problems.append(f"has {len(titles)} `#` headings; a postmortem has one title")
    for section in document.sections:
        if section.heading_block is not None and section.level < 3 and not section.declared:
            shown = "#" * section.level + " " + section.heading
            problems.append(
                f"`{shown}` does not say who owns it: end the heading with {{bot}} (the bot "
                "rewrites it each time) or {people} (the team writes it)"
            )
    for section in document.bot_sections:
        if section.level < 2:
            continue
        needle = section.heading.casefold()
        clashes = [
            other.heading
            for other in document.sections
            if other is not section
            and other.level == section.level
            and needle in other.heading.casefold()
        ]
        if clashes:
            problems.append(
                f"the bot's heading `{section.heading}` is part of another heading of its level "
                f"({', '.join(repr(c) for c in clashes)}); the bot could not tell them apart"
            )
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        heading = re.match(r"^(#{2,3})\s", stripped)
        if heading and stripped.endswith("{bot}") and ("{{" in stripped or "{%" in stripped):
            problems.append(
                f"line {number}: a `{{bot}}` heading must be fixed text (the bot finds it again "
                "by what it says), not built from variables"
            )
        if not heading and not stripped.startswith("#") and MARKER.search(stripped):
            problems.append(f"line {number}: {{bot}}/{{people}} only mean something on a heading")
    return problems
