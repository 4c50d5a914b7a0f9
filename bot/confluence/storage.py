"""Markdown (what templates render) → Confluence storage format, and a local check of it.

Storage format is XML, not HTML: every element closed (`<br />`), only XML's five named
entities, `ac:`/`ri:` prefixes for macros. The conversion is markdown-it-py (CommonMark, with
tables and strikethrough) with `html` off, so whatever people typed (`<b>`, `&`, `]]>`) is
text, escaped, never markup, and `xhtmlOut` on, so void elements are closed. Then, for pages:

- fenced and indented code becomes the `code` macro, its text in CDATA with every `]]>`
  split (`]]]]><![CDATA[>`), the only sequence CDATA cannot hold;
- a link to an issue of JIRA_URL (`…/browse/OPS-12`) becomes the Jira issue macro, so the page
  shows the issue's live status;
- an image becomes `ac:image` with an `ri:url`;
- characters XML 1.0 forbids (C0 controls, U+FFFE/U+FFFF, lone surrogates) are dropped.

`check` parses the result the way Confluence does (well-formed XML inside a root that declares
the `ac`, `ri` and `at` prefixes) and turns a problem into a `StorageProblem` that names the
cause: the body is validated before anything is sent, so a page is never half-written.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from html import escape as _escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bot.core.errors import UserError

NAMESPACES = {
    "ac": "http://atlassian.com/content",
    "ri": "http://atlassian.com/resource/identifier",
    "at": "http://atlassian.com/template",
}
WRAPPER_OPEN = "<xml " + " ".join(f'xmlns:{p}="{uri}"' for p, uri in NAMESPACES.items()) + ">"
WRAPPER_CLOSE = "</xml>"
# XML 1.0's Char production, as what to drop: C0 controls but tab/LF/CR, surrogates, FFFE/FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]+-\d+")


class StorageProblem(UserError):
    """The page would not be valid storage format; the message names where and why."""


def escape(text: str) -> str:
    """Text for an element or attribute: `&`, `<`, `>`, `"` escaped; forbidden characters out."""
    return _escape(clean(text), quote=True).replace("&#x27;", "'")


def clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def cdata(text: str) -> str:
    """`text` as CDATA: a `]]>` inside is split across two sections, the rest left as is."""
    return "<![CDATA[" + clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def code_macro(text: str, language: str = "") -> str:
    lang = f'<ac:parameter ac:name="language">{escape(language)}</ac:parameter>' if language else ""
    return (
        f'<ac:structured-macro ac:name="code" ac:schema-version="1">{lang}'
        f"<ac:plain-text-body>{cdata(text)}</ac:plain-text-body></ac:structured-macro>"
    )


def jira_macro(key: str) -> str:
    return (
        '<ac:structured-macro ac:name="jira" ac:schema-version="1">'
        f'<ac:parameter ac:name="key">{escape(key)}</ac:parameter></ac:structured-macro>'
    )


def _fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.strip().split(" ")[0] if token.info else ""
    return code_macro(token.content.rstrip("\n"), language) + "\n"


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    src = str(token.attrs.get("src") or "")
    alt = escape(token.content)
    return f'<ac:image ac:alt="{alt}"><ri:url ri:value="{escape(src)}" /></ac:image>'


class Converter:
    """Markdown → storage for one Jira site (None: Jira links stay links)."""

    def __init__(self, jira_url: str | None = None) -> None:
        self.jira_browse = f"{jira_url.rstrip('/')}/browse/" if jira_url else None
        md = MarkdownIt("commonmark", {"xhtmlOut": True, "html": False, "breaks": False})
        md.enable(["table", "strikethrough"])
        md.add_render_rule("fence", _fence)
        md.add_render_rule("code_block", _fence)
        md.add_render_rule("image", _image)
        md.core.ruler.push("jira_issues", self._jira_issues)
        self._md = md

    def __call__(self, markdown: str) -> str:
        return str(self._md.render(clean(markdown))).strip()

    def _jira_issues(self, state: Any) -> None:
        """`[OPS-12](<JIRA_URL>/browse/OPS-12)` → the Jira issue macro (live status)."""
        if self.jira_browse is None:
            return
        for block in state.tokens:
            children: list[Token] | None = block.children
            if block.type != "inline" or not children:
                continue
            out: list[Token] = []
            i = 0
            while i < len(children):
                token = children[i]
                key = self._issue_key(children, i)
                if key is not None:
                    macro = Token("html_inline", "", 0)
                    macro.content = jira_macro(key)
                    out.append(macro)
                    i += 3
                    continue
                out.append(token)
                i += 1
            block.children = out

    def _issue_key(self, tokens: list[Token], i: int) -> str | None:
        if i + 2 >= len(tokens) or tokens[i].type != "link_open":
            return None
        href = str(tokens[i].attrs.get("href") or "")
        text, close = tokens[i + 1], tokens[i + 2]
        if text.type != "text" or close.type != "link_close" or self.jira_browse is None:
            return None
        key = href[len(self.jira_browse) :] if href.startswith(self.jira_browse) else ""
        return key if JIRA_KEY.fullmatch(key) and text.content.strip() == key else None


def check(body: str, where: str) -> None:
    """Raise StorageProblem unless Confluence would take `body` (see the module docstring)."""
    try:
        ET.fromstring(WRAPPER_OPEN + body + WRAPPER_CLOSE)
    except ET.ParseError as error:
        line, column = error.position
        if line == 1:
            column -= len(WRAPPER_OPEN)
        lines = body.split("\n")
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        near = source[max(column - 30, 0) : column + 30]
        raise StorageProblem(
            f"The postmortem would not make a valid Confluence page: {where} is not valid "
            f"storage format ({error.msg.split(':')[0]}, line {line}, column {column + 1}, "
            f"near `{near}`). Nothing was published. If your template writes raw XML or HTML, "
            "write Markdown instead; otherwise this is a bug worth reporting."
        ) from None
