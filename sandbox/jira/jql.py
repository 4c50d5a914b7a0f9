"""A JQL parser for the subset a sync job writes (and a little more).

Grammar (keywords and field names are case-insensitive, as in Jira)::

    query   := [or] [ORDER BY field [ASC|DESC] {, field [ASC|DESC]}]
    or      := and {OR and}
    and     := not {AND not}
    not     := NOT not | "(" or ")" | clause
    clause  := field op operand
    op      := = | != | < | <= | > | >= | ~ | !~ | IN | NOT IN | IS | IS NOT
    operand := value | "(" value {, value} ")" | EMPTY | NULL | function "(" ")"

Values are bare words (``OPS-1``, ``-1d``, ``2026-11-22``) or quoted strings; a bare word may
not contain spaces, so ``updated >= 2026-11-22 10:00`` is a syntax error, as in Jira. Syntax
errors raise ``JqlError`` with Jira's "Error in the JQL Query: ..." wording.
"""

from __future__ import annotations

from dataclasses import dataclass

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc",
                      "desc", "was", "changed"})  # fmt: skip
OPERATORS = ("!=", "!~", ">=", "<=", "=", ">", "<", "~")
SPECIAL = frozenset("()\"',=!<>~") | frozenset(" \t\r\n")
OPERATOR_LIST = "'=', '!=', '~', '!~', '<', '>', '<=', '>=', 'in', 'not in', 'is', 'is not'"


class JqlError(Exception):
    """A JQL query Jira would refuse with 400; ``messages`` go to ``errorMessages``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class Token:
    kind: str  # word | string | op | ( | ) | , | eof
    text: str
    pos: int

    def is_kw(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


@dataclass(frozen=True)
class Operand:
    kind: str  # value | empty | func
    text: str


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class BoolNode:
    op: str  # and | or | not
    children: tuple[Clause | BoolNode, ...]


Node = Clause | BoolNode


@dataclass(frozen=True)
class Query:
    where: Node | None
    order: tuple[tuple[str, bool], ...]  # (field, descending)


def _syntax(message: str, pos: int) -> JqlError:
    return JqlError([f"Error in the JQL Query: {message} (line 1, character {pos + 1})"])


def tokenize(jql: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(jql)
    while i < n:
        ch = jql[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch in "\"'":
            start, i, text = i, i + 1, []
            while i < n and jql[i] != ch:
                if jql[i] == "\\" and i + 1 < n:
                    i += 1
                text.append(jql[i])
                i += 1
            if i >= n:
                partial = "".join(text)
                raise _syntax(f"The quoted string '{partial}' has not been completed.", start)
            tokens.append(Token("string", "".join(text), start))
            i += 1
        elif op := next((o for o in OPERATORS if jql.startswith(o, i)), None):
            tokens.append(Token("op", op, i))
            i += len(op)
        elif ch == "!":
            raise _syntax(
                "The character '!' is a reserved JQL character. You must enclose it in a "
                "string or use the escape '\\u0021' instead.",
                i,
            )
        else:
            start = i
            while i < n and jql[i] not in SPECIAL:
                i += 1
            tokens.append(Token("word", jql[start:i], start))
    tokens.append(Token("eof", "", n))
    return tokens


class Parser:
    def __init__(self, jql: str) -> None:
        self.tokens = tokenize(jql)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expecting: str) -> JqlError:
        tok = self.tok
        got = "the end of the query." if tok.kind == "eof" else f"'{tok.text}'."
        return _syntax(f"Expecting {expecting} but got {got}", tok.pos)

    def parse(self) -> Query:
        where = None if self.tok.kind == "eof" or self.tok.is_kw("order") else self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.tok.is_kw("order"):
            self.next()
            if not self.tok.is_kw("by"):
                raise self.fail("'by'")
            self.next()
            while True:
                order.append((self.field_name(), False))
                if self.tok.is_kw("asc", "desc"):
                    order[-1] = (order[-1][0], self.next().text.lower() == "desc")
                if self.tok.kind != ",":
                    break
                self.next()
        if self.tok.kind != "eof":
            raise self.fail("either 'OR' or 'AND'" if where is not None else "a field name")
        return Query(where, tuple(order))

    def or_expr(self) -> Node:
        nodes = [self.and_expr()]
        while self.tok.is_kw("or"):
            self.next()
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else BoolNode("or", tuple(nodes))

    def and_expr(self) -> Node:
        nodes = [self.not_expr()]
        while self.tok.is_kw("and"):
            self.next()
            nodes.append(self.not_expr())
        return nodes[0] if len(nodes) == 1 else BoolNode("and", tuple(nodes))

    def not_expr(self) -> Node:
        if self.tok.is_kw("not"):
            self.next()
            return BoolNode("not", (self.not_expr(),))
        if self.tok.kind == "(":
            self.next()
            node = self.or_expr()
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.next()
            return node
        return self.clause()

    def field_name(self) -> str:
        tok = self.tok
        if tok.kind == "string" or (tok.kind == "word" and tok.text.lower() not in KEYWORDS):
            self.next()
            return tok.text
        raise self.fail("a field name")

    def clause(self) -> Clause:
        field = self.field_name()
        op = self.operator()
        if op in ("in", "not in"):
            if self.tok.kind == "word" and self.tokens[self.i + 1].kind == "(":
                return Clause(field, op, (self.operand(),))
            if self.tok.kind != "(":
                raise self.fail("'('")
            self.next()
            operands = [self.operand()]
            while self.tok.kind == ",":
                self.next()
                operands.append(self.operand())
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.next()
            return Clause(field, op, tuple(operands))
        if op in ("is", "is not"):
            if not self.tok.is_kw("empty", "null"):
                raise self.fail("'EMPTY' or 'NULL'")
            self.next()
            return Clause(field, op, (Operand("empty", ""),))
        return Clause(field, op, (self.operand(),))

    def operator(self) -> str:
        tok = self.tok
        if tok.kind == "op":
            self.next()
            return tok.text
        if tok.is_kw("in"):
            self.next()
            return "in"
        if tok.is_kw("is"):
            self.next()
            if self.tok.is_kw("not"):
                self.next()
                return "is not"
            return "is"
        if tok.is_kw("not") and self.tokens[self.i + 1].is_kw("in"):
            self.i += 2
            return "not in"
        if tok.is_kw("was", "changed"):
            raise JqlError([f"The fake Jira does not support the '{tok.text}' operator."])
        raise self.fail(f"operator. The valid operators are {OPERATOR_LIST}.")

    def operand(self) -> Operand:
        tok = self.tok
        if tok.kind == "string":
            self.next()
            return Operand("value", tok.text)
        if tok.kind != "word" or tok.text.lower() in KEYWORDS - {"empty", "null"}:
            raise self.fail("either a value, list or function")
        self.next()
        if tok.text.lower() in ("empty", "null"):
            return Operand("empty", "")
        if self.tok.kind == "(":
            self.next()
            while self.tok.kind not in (")", "eof"):
                self.next()  # function arguments are accepted and ignored
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.next()
            return Operand("func", tok.text)
        return Operand("value", tok.text)


def parse(jql: str) -> Query:
    return Parser(jql).parse()
