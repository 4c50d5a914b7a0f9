"""A postmortem as a Confluence page body, and a new rendering spliced into the page people
edited (pure: strings in, strings out).

The page is the template's sections in order, each heading an `<h1>`-`<h3>` element at the top
level of the body, under a Page Properties (`details`) macro that holds the key facts, so the
space's Page Properties Report can list every postmortem. The template's `#` title is not
repeated (the page has its own title); the text under it opens the page.

**Splicing.** Regenerating reads the page's storage body back and cuts it at its top-level
headings, the way `bot.postmortem.document` cuts a rendering: a heading and everything up to
the next one. A page section whose heading matches a `{bot}` section of the new rendering (same
level, same text, once) gets the new body under its heading; every other part of the page (the
team's sections, anything people added, their headings) is copied through byte for byte. The
properties macro is replaced in place. A `{bot}` section the page lacks is put back only if it
is new in the template (the previous rendering did not have it): one people removed stays
removed, and the answer says so.
"""

from __future__ import annotations

import xml.parsers.expat as expat
from collections import Counter
from dataclasses import dataclass, field

from bot.confluence.storage import WRAPPER_CLOSE, WRAPPER_OPEN, Converter, check, escape
from bot.postmortem.document import Document, Owner, Section, join_blocks, section_key

PROPERTIES_ID = "postmortem"
HEADINGS = {"h1": 1, "h2": 2, "h3": 3}


@dataclass(frozen=True)
class Fact:
    """One row of the Page Properties table: a label and its value, already storage format."""

    label: str
    value: str

    @classmethod
    def text(cls, label: str, value: str) -> Fact:
        return cls(label, escape(value))

    @classmethod
    def link(cls, label: str, text: str, url: str | None) -> Fact:
        if not url:
            return cls.text(label, text)
        return cls(label, f'<a href="{escape(url)}">{escape(text)}</a>')


def properties_macro(facts: list[Fact]) -> str:
    """The Page Properties macro (`details`), a two-column table the report reads."""
    rows = "".join(
        f"<tr><th><p>{escape(f.label)}</p></th><td><p>{f.value}</p></td></tr>" for f in facts
    )
    return (
        '<ac:structured-macro ac:name="details" ac:schema-version="1">'
        f'<ac:parameter ac:name="id">{PROPERTIES_ID}</ac:parameter>'
        f"<ac:rich-text-body><table><tbody>{rows}</tbody></table></ac:rich-text-body>"
        "</ac:structured-macro>"
    )


def _label(section: Section) -> str:
    return section.heading or "the title"


class PageWriter:
    """Storage for a rendering's sections (one converter: one Jira site)."""

    def __init__(self, convert: Converter) -> None:
        self.convert = convert

    def heading(self, section: Section) -> str:
        assert section.heading_block is not None
        return self.convert(section.heading_block.markdown)

    def body(self, section: Section) -> str:
        text = self.convert(join_blocks(section.body)) if section.body else ""
        check(text, f"the section *{_label(section)}*")
        return text

    def opening(self, document: Document) -> str:
        """What opens the page: the text under the `#` title (and anything before it)."""
        parts = [
            self.body(s) for s in document.sections if s.level <= 1 and (s.body or s.level == 0)
        ]
        return "\n".join(p for p in parts if p)

    def full(self, document: Document, facts: list[Fact]) -> str:
        """The whole page, for its first version."""
        parts = [properties_macro(facts), self.opening(document)]
        for section in document.sections:
            if section.level < 2 or section.heading_block is None:
                continue
            parts.append(self.heading(section))
            parts.append(self.body(section))
        body = "\n".join(p for p in parts if p)
        check(body, "the page")
        return body

    def check_document(self, document: Document) -> None:
        """Every section converts to valid storage (a StorageProblem names the first that
        doesn't), without the facts: for the check at generation, before anything is saved."""
        self.full(document, [])


# -- reading a page back -----------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A top-level heading of a page and the bytes up to the next one."""

    level: int
    text: str
    start: int  # where the heading element starts
    heading_end: int  # where it ends
    end: int  # where the next heading starts (or the body ends)

    @property
    def key(self) -> str:
        return section_key(self.level, self.text)


@dataclass(frozen=True)
class Macro:
    start: int
    end: int


@dataclass(frozen=True)
class Layout:
    raw: bytes
    segments: list[Segment]
    properties: Macro | None  # the first top-level `details` macro before the first heading

    @property
    def preamble_end(self) -> int:
        return self.segments[0].start if self.segments else len(self.raw)

    def cut(self, start: int, end: int) -> str:
        return self.raw[start:end].decode("utf-8")


def read_layout(body: str) -> Layout:
    """Where the top-level headings (and the properties macro) of a storage body are."""
    raw = body.encode("utf-8")
    wrapped = WRAPPER_OPEN.encode() + raw + WRAPPER_CLOSE.encode()
    offset = len(WRAPPER_OPEN.encode())
    parser = expat.ParserCreate()
    depth = 0
    heads: list[tuple[int, int, int, list[str]]] = []  # level, start, end, text parts
    current: tuple[int, int, list[str]] | None = None
    macros: list[Macro] = []
    macro_start: int | None = None

    def end_of_tag(index: int) -> int:
        return wrapped.index(b">", index) + 1

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, current, macro_start
        depth += 1
        if depth == 2 and name in HEADINGS:
            current = (HEADINGS[name], parser.CurrentByteIndex, [])
        if depth == 2 and name == "ac:structured-macro" and attrs.get("ac:name") == "details":
            macro_start = parser.CurrentByteIndex

    def end(name: str) -> None:
        nonlocal depth, current, macro_start
        if depth == 2 and current is not None and name in HEADINGS:
            level, begin, parts = current
            heads.append((level, begin, end_of_tag(parser.CurrentByteIndex), parts))
            current = None
        if depth == 2 and macro_start is not None and name == "ac:structured-macro":
            macros.append(Macro(macro_start - offset, end_of_tag(parser.CurrentByteIndex) - offset))
            macro_start = None
        depth -= 1

    def text(data: str) -> None:
        if current is not None:
            current[2].append(data)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.Parse(wrapped, True)
    segments: list[Segment] = []
    for number, (level, begin, head_end, parts) in enumerate(heads):
        nxt = heads[number + 1][1] - offset if number + 1 < len(heads) else len(raw)
        label = " ".join("".join(parts).split())
        segments.append(Segment(level, label, begin - offset, head_end - offset, nxt))
    first = segments[0].start if segments else len(raw)
    properties = next((m for m in macros if m.end <= first), None)
    return Layout(raw, segments, properties)


# -- splicing ----------------------------------------------------------------------------------


@dataclass
class Splice:
    body: str
    refreshed: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)
    left_alone: list[tuple[str, str]] = field(default_factory=list)

    def notes(self) -> list[str]:
        notes = [f"Added *{heading}* to the page." for heading in self.inserted]
        notes += [f"*{heading}*: {why}" for heading, why in self.left_alone]
        return notes


def with_properties(body: str, facts: list[Fact]) -> str:
    """`body` with its properties macro replaced (or put first if people removed it)."""
    layout = read_layout(body)
    macro = properties_macro(facts)
    if layout.properties is None:
        return macro + "\n" + body
    found = layout.properties
    return layout.cut(0, found.start) + macro + layout.cut(found.end, len(layout.raw))


def splice(
    writer: PageWriter,
    current: str,
    new: Document,
    previous: Document | None,
    facts: list[Fact],
) -> Splice:
    """The page with the `{bot}` sections of `new` in place of its own (see the module
    docstring); `previous` is the rendering the page was last written from."""
    layout = read_layout(current)
    result = Splice(body="")
    counts = Counter(s.key for s in layout.segments if s.level >= 2)
    bot = {
        s.key: s
        for s in new.sections
        if s.owner is Owner.BOT and s.level >= 2 and s.heading_block is not None
    }
    title = new.section("h1")
    if title is not None and title.owner is Owner.BOT:
        preamble = properties_macro(facts) + "\n" + writer.opening(new)
    else:
        preamble = with_properties(layout.cut(0, layout.preamble_end), facts)
    before: dict[int, list[str]] = {}
    at_end: list[str] = []
    for key, section in bot.items():
        if counts[key] == 1:
            continue
        label = _label(section)
        if counts[key] > 1:
            result.left_alone.append(
                (
                    label,
                    f"the page has {counts[key]} headings “{section.heading}”, so I can't tell "
                    "which is mine; I left them as they are.",
                )
            )
        elif previous is not None and previous.section(key) is not None:
            result.left_alone.append(
                (
                    label,
                    f"I couldn't find its heading “{section.heading}” on the page (renamed or "
                    "removed?), so I left that part as it is. Name a heading "
                    f"“{section.heading}” again to have it refreshed.",
                )
            )
        else:
            block = writer.heading(section) + "\n" + writer.body(section)
            anchor = _next_on_page(new, section, layout)
            (before.setdefault(anchor, []) if anchor is not None else at_end).append(block)
            result.inserted.append(label)
    parts = [preamble]
    for index, segment in enumerate(layout.segments):
        parts += before.get(index, [])
        mine = bot.get(segment.key) if segment.level >= 2 else None
        if mine is not None and counts[segment.key] == 1:
            heading = layout.cut(segment.start, segment.heading_end)
            parts.append(heading + "\n" + writer.body(mine))
            result.refreshed.append(_label(mine))
        else:
            parts.append(layout.cut(segment.start, segment.end).rstrip("\n"))
    parts += at_end
    result.body = "\n".join(p.strip("\n") for p in parts if p.strip())
    check(result.body, "the page")
    return result


def _next_on_page(new: Document, section: Section, layout: Layout) -> int | None:
    """The page segment to put `section` before: the next section of the rendering that the
    page has exactly once (None: at the end)."""
    index = new.sections.index(section)
    positions = {s.key: i for i, s in enumerate(layout.segments) if s.level >= 2}
    counts = Counter(s.key for s in layout.segments)
    for later in new.sections[index + 1 :]:
        if later.level >= 2 and counts.get(later.key) == 1:
            return positions[later.key]
    return None
