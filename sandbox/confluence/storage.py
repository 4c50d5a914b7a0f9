"""Storage-format validation: the body must be well-formed XML once wrapped in a root element
that declares the ``ac:``, ``ri:`` and ``at:`` prefixes, as Confluence's own parser does.

Confluence (a Woodstox StAX parser) answers malformed bodies with a 400 whose message is
``Error parsing xhtml: <parser message>\\n at [row,col {unknown-source}]: [r,c]``. The fake
parses with expat and rewrites expat's terse messages into Woodstox's wording for the cases a
bot hits: ``<br>`` (an unclosed tag: "Unexpected close tag </p>; expected </br>."), ``&nbsp;``
('Undeclared general entity "nbsp"'), a stray ``&`` or ``<`` ("Unexpected character ..."),
``]]>`` outside CDATA, unquoted attributes, undeclared prefixes. Rows and columns are 1-based
and count from the start of the body (the wrapper is not counted). Confluence names its wrapper
``xml`` (a body with an unclosed ``<p>`` fails with "Unexpected close tag </xml>; expected
</p>." on Cloud, chesshacker/terraform-provider-confluence#7); so does the fake.

Structurally valid XML is accepted whatever its macros and attributes say (Confluence's parser
is lenient about ``ac:`` content, sooperset/mcp-atlassian#1608). Only XML's five named
entities and numeric references are defined; HTML entities such as ``&nbsp;`` are not.
"""

from __future__ import annotations

import xml.parsers.expat as expat

from sandbox.confluence.model import ConfluenceError

NAMESPACES = {
    "ac": "http://atlassian.com/content",
    "ri": "http://atlassian.com/resource/identifier",
    "at": "http://atlassian.com/template",
}
WRAPPER_OPEN = (
    "<xml " + " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items()) + ">"
)
WRAPPER_CLOSE = "</xml>"
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


class StorageError(ValueError):
    """A body Confluence would refuse; ``message`` is the full "Error parsing xhtml" text."""

    def __init__(self, reason: str, row: int, col: int) -> None:
        self.reason = reason
        self.row = row
        self.col = col
        self.message = (
            f"Error parsing xhtml: {reason}\n at [row,col {{unknown-source}}]: [{row},{col}]"
        )
        super().__init__(self.message)

    def as_http(self) -> ConfluenceError:
        return ConfluenceError(400, self.message)


def _char(ch: str) -> str:
    return f"'{ch}' (code {ord(ch)})"


def _name_at(text: str, index: int) -> str:
    end = index
    while end < len(text) and text[end] in NAME_CHARS:
        end += 1
    return text[index:end]


class _Checker:
    """Runs expat over the wrapped body, tracking open tags and prefix declarations."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.text = WRAPPER_OPEN + body + WRAPPER_CLOSE
        self.lines = self.text.split("\n")
        self.stack: list[tuple[str, set[str]]] = []
        self.parser = expat.ParserCreate()
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.ordered_attributes = True
        self.problem: StorageError | None = None

    def position(self, line: int, column: int) -> tuple[int, int]:
        """Body-relative 1-based (row, col) of a 1-based line / 0-based column of ``text``."""
        if line == 1:
            column -= len(WRAPPER_OPEN)
        return line, max(column, 0) + 1

    def fail(self, reason: str, line: int, column: int) -> StorageError:
        row, col = self.position(line, column)
        return StorageError(reason, row, col)

    def declared(self) -> set[str]:
        prefixes = {"xml", "xmlns"}
        for _name, declared in self.stack:
            prefixes |= declared
        return prefixes

    def start(self, name: str, attributes: list[str]) -> None:
        declared = {attr.split(":", 1)[1] for attr in attributes[::2] if attr.startswith("xmlns:")}
        self.stack.append((name, declared))
        known = self.declared()
        for qualified in [name, *attributes[::2]]:
            prefix = qualified.split(":", 1)[0] if ":" in qualified else None
            if prefix is not None and prefix not in known and self.problem is None:
                self.problem = self.fail(
                    f'Undeclared namespace prefix "{prefix}"',
                    self.parser.CurrentLineNumber,
                    self.parser.CurrentColumnNumber,
                )
                raise _Stop

    def end(self, name: str) -> None:
        self.stack.pop()

    def run(self) -> None:
        try:
            self.parser.Parse(self.text, True)
        except _Stop:
            pass
        except expat.ExpatError as error:
            self.problem = self.translate(error)
        if self.problem is not None:
            raise self.problem

    def translate(self, error: expat.ExpatError) -> StorageError:
        line, column = error.lineno, error.offset
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        here = source[column] if column < len(source) else ""
        before = source[column - 1] if 0 < column <= len(source) else ""
        message = expat.ErrorString(error.code)
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_TAG_MISMATCH]:
            closing = _name_at(source, column)
            expected = self.stack[-1][0] if self.stack else "xml"
            return self.fail(
                f"Unexpected close tag </{closing}>; expected </{expected}>.", line, column
            )
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_UNDEFINED_ENTITY]:
            entity = _name_at(source, column + 1)
            return self.fail(f'Undeclared general entity "{entity}"', line, column)
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_UNBOUND_PREFIX]:
            return self.fail(
                f'Undeclared namespace prefix "{_name_at(source, column)}"', line, column
            )
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
            return self.fail(self._invalid_token(source, column, here, before), line, column)
        if error.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS]:
            return self.fail("Unexpected EOF; was expecting a close tag", line, column)
        return self.fail(message[:1].upper() + message[1:], line, column)

    def _invalid_token(self, source: str, column: int, here: str, before: str) -> str:
        if source.startswith("]]>", max(column - 2, 0)) and here == ">":
            return (
                "String ']]>' not allowed in textual content, except as the end marker of "
                "CDATA section"
            )
        if before == "&":
            return f"Unexpected character {_char(here)} (expected a name start character)"
        amp = source.rfind("&", 0, column)
        if 0 <= amp < column - 1 and all(c in NAME_CHARS for c in source[amp + 1 : column]):
            return (
                f"Unexpected character {_char(here)}; expected a semi-colon after the reference "
                f"for entity '{source[amp + 1 : column]}'"
            )
        if before == "<":
            return (
                f"Unexpected character {_char(here)} in content after '<' "
                "(malformed start element?)."
            )
        if before == "=":
            return f"Unexpected character {_char(here)} in start tag Expected a quote"
        if here == "<" and _inside_tag(source, column):
            return f"Unexpected character {_char(here)} in attribute value"
        if here:
            return f"Unexpected character {_char(here)} excepted space, or '>' or \"/>\""
        return "Unexpected EOF in the middle of a token"


def _inside_tag(source: str, column: int) -> bool:
    return source.rfind('"', 0, column) > source.rfind("<", 0, column)


class _Stop(Exception):
    """Aborts parsing from inside a handler (expat re-raises it unchanged)."""


def validate_storage(body: str) -> None:
    """Raise ``StorageError`` when Confluence would refuse ``body`` as storage format."""
    _Checker(body).run()
