"""The subset of CQL (Confluence Query Language) a bot publishing pages uses, parsed and
evaluated against the fake's pages.

Fields: ``label``, ``space`` / ``space.key``, ``type``, ``title``, ``parent``, ``ancestor``,
``id`` / ``content``, ``creator``. Operators: ``=``, ``!=``, ``in``, ``not in`` (all fields),
``~`` / ``!~`` (``title`` only: case-insensitive "contains"). Clauses combine with ``AND``,
``OR``, ``NOT`` and parentheses (keywords in any case); ``ORDER BY title|created|lastmodified|id
[asc|desc]`` may end the query. Values are double- or single-quoted strings or bare words.

Anything else (unknown fields, functions such as ``currentUser()``, dangling operators, an empty
query) is a 400 "Could not parse cql : <the query>", the text Confluence answers for a query it
cannot parse. Without ORDER BY, results come in creation order (Confluence ranks by relevance,
which a fake cannot reproduce meaningfully). Titles, labels and space keys compare
case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.confluence.model import ConfluenceError, PageRecord

FIELDS = (
    "label",
    "space",
    "space.key",
    "type",
    "title",
    "parent",
    "ancestor",
    "id",
    "content",
    "creator",
)
ORDER_FIELDS = ("title", "created", "lastmodified", "id")
TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|=|~|\(|\)|,)
      | (?P<word>[A-Za-z0-9_.:\-@+]+)
    )""",
    re.VERBOSE,
)


class CqlError(Exception):
    pass


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # =, !=, in, not in, ~, !~
    values: tuple[str, ...]


@dataclass(frozen=True)
class Bool:
    op: str  # and, or, not
    parts: tuple[Node, ...]


Node = Clause | Bool


@dataclass(frozen=True)
class Query:
    where: Node
    order_by: str | None = None
    descending: bool = False


@dataclass(frozen=True)
class Token:
    kind: str  # string, op, word
    text: str

    @property
    def keyword(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def tokenize(cql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(cql):
        if cql[pos:].strip() == "":
            break
        match = TOKEN.match(cql, pos)
        if match is None or match.end() == pos:
            raise CqlError(cql)
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(Token(kind, text))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, cql: str) -> None:
        self.cql = cql
        self.tokens = tokenize(cql)
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise CqlError(self.cql)
        self.pos += 1
        return token

    def expect_op(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise CqlError(self.cql)

    def query(self) -> Query:
        where = self.or_expr()
        order_by, descending = None, False
        token = self.peek()
        if token is not None and token.keyword == "order":
            self.take()
            if self.take().keyword != "by":
                raise CqlError(self.cql)
            order_by = self.take().keyword
            if order_by not in ORDER_FIELDS:
                raise CqlError(self.cql)
            direction = self.peek()
            if direction is not None and direction.keyword in ("asc", "desc"):
                descending = self.take().keyword == "desc"
        if self.peek() is not None:
            raise CqlError(self.cql)
        return Query(where, order_by, descending)

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while (token := self.peek()) is not None and token.keyword == "or":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Bool("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.unary()]
        while (token := self.peek()) is not None and token.keyword == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Bool("and", tuple(parts))

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token.keyword == "not":
            self.take()
            return Bool("not", (self.unary(),))
        if token is not None and token.kind == "op" and token.text == "(":
            self.take()
            node = self.or_expr()
            self.expect_op(")")
            return node
        return self.clause()

    def clause(self) -> Clause:
        name = self.take()
        if name.kind != "word" or name.keyword not in FIELDS:
            raise CqlError(self.cql)
        field = "space" if name.keyword == "space.key" else name.keyword
        field = "id" if field == "content" else field
        op_token = self.take()
        if op_token.kind == "op" and op_token.text in ("=", "!=", "~", "!~"):
            op = op_token.text
            if op in ("~", "!~") and field != "title":
                raise CqlError(self.cql)
            return Clause(field, op, (self.value(),))
        if op_token.keyword == "not":
            if self.take().keyword != "in":
                raise CqlError(self.cql)
            return Clause(field, "not in", self.value_list())
        if op_token.keyword == "in":
            return Clause(field, "in", self.value_list())
        raise CqlError(self.cql)

    def value(self) -> str:
        token = self.take()
        if token.kind == "string":
            return token.text
        if token.kind == "word" and token.keyword not in ("and", "or", "not", "order", "in"):
            if self.peek() is not None and self.peek() == Token("op", "("):
                raise CqlError(self.cql)  # functions such as currentUser() are not supported
            return token.text
        raise CqlError(self.cql)

    def value_list(self) -> tuple[str, ...]:
        self.expect_op("(")
        values = [self.value()]
        while (token := self.take()).text == ",":
            values.append(self.value())
        if token.kind != "op" or token.text != ")":
            raise CqlError(self.cql)
        return tuple(values)


def parse(cql: str) -> Query:
    """Parse ``cql``; raises ``ConfluenceError`` 400 as Confluence does for unparsable CQL."""
    if not cql.strip():
        raise ConfluenceError(400, "CQL query parameter is required")
    try:
        return _Parser(cql).query()
    except CqlError:
        raise ConfluenceError(400, f"Could not parse cql : {cql}") from None


@dataclass(frozen=True)
class Context:
    """What evaluation needs from the state: the ancestors chain of a page."""

    ancestors: Callable[[PageRecord], list[PageRecord]]


def _field_values(page: PageRecord, field: str, ctx: Context) -> list[str]:
    if field == "label":
        return [label.name.lower() for label in page.labels]
    if field == "space":
        return [page.space_key.lower()]
    if field == "type":
        return ["page"]
    if field == "title":
        return [page.title.lower()]
    if field == "parent":
        return [page.parent_id] if page.parent_id else []
    if field == "ancestor":
        return [p.id for p in ctx.ancestors(page)]
    if field == "id":
        return [page.id]
    return [page.created_by.lower()]  # creator


def _clause_matches(page: PageRecord, clause: Clause, ctx: Context) -> bool:
    have = _field_values(page, clause.field, ctx)
    wanted = [v.lower() for v in clause.values]
    if clause.op in ("~", "!~"):
        words = wanted[0].split()
        found = all(word in have[0] for word in words) if have else False
        return found if clause.op == "~" else not found
    hit = any(value in have for value in wanted)
    return hit if clause.op in ("=", "in") else not hit


def evaluate(node: Node, page: PageRecord, ctx: Context) -> bool:
    if isinstance(node, Clause):
        return _clause_matches(page, node, ctx)
    if node.op == "not":
        return not evaluate(node.parts[0], page, ctx)
    results = (evaluate(part, page, ctx) for part in node.parts)
    return all(results) if node.op == "and" else any(results)


def run(query: Query, pages: list[PageRecord], ctx: Context) -> list[PageRecord]:
    """The pages (already filtered for visibility and status) that match, in query order."""
    found = [page for page in pages if evaluate(query.where, page, ctx)]
    if query.order_by == "title":
        found.sort(key=lambda p: p.title.lower(), reverse=query.descending)
    elif query.order_by == "created":
        found.sort(key=lambda p: (p.created, int(p.id)), reverse=query.descending)
    elif query.order_by == "lastmodified":
        found.sort(key=lambda p: (p.version.when, int(p.id)), reverse=query.descending)
    elif query.order_by == "id" or query.descending:
        found.sort(key=lambda p: int(p.id), reverse=query.descending)
    return found
