"""The search filter language: tokenizer, recursive-descent parser, field rules.

A filter string (MLflow's grammar, extended with OR and parentheses) becomes a
small syntax tree of frozen dataclasses. Every field name is resolved and every
value checked here, against the fields of the thing searched (models or
versions), so the store only ever sees canonical field names and values of the
right type, and compiles them to bound parameters: user text never reaches SQL
text. Errors are InvalidArgument messages starting with ``filter:`` that give
the 1-based character position and the offending token, so a caller can fix
the exact spot.

Grammar (keywords case-insensitive, field names case-sensitive)::

    filter      := [ or_expr ] END
    or_expr     := and_expr ( OR and_expr )*
    and_expr    := primary ( AND primary )*
    primary     := '(' or_expr ')' | comparison
    comparison  := field operator operand
    field       := WORD ( '.' ( WORD | `quoted` | "quoted" | 'quoted' ) )*
    operator    := '=' | '!=' | '<' | '<=' | '>' | '>=' | [NOT] LIKE | [NOT] ILIKE
    operand     := STRING | INTEGER | '(' value ( ',' value )* ')'   (the list after [NOT] IN)

The order_by clauses (``<key> [ASC|DESC]``) are parsed here too.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from registry_server.domain import validation
from registry_server.domain.entities import Stage, VersionStatus
from registry_server.domain.errors import InvalidArgument
from registry_server.domain.filter_tree import (
    ABSENT_MATCHES_TAGS,
    EQUALITY_OPS,
    LIST_OPS,
    MODELS,
    NEGATED,
    PATTERN_OPS,
    VERSIONS,
    And,
    Comparison,
    FieldRule,
    Kind,
    Node,
    Op,
    Or,
    Target,
    Value,
)

# The parser's answer and what it is checked against, importable from here.
__all__ = [
    "MODELS",
    "VERSIONS",
    "And",
    "Comparison",
    "Node",
    "Op",
    "Or",
    "Target",
    "parse",
    "parse_order_by",
    "tokenize",
]

MAX_FILTER_LENGTH = 4096
MAX_COMPARISONS = 50
MAX_IN_VALUES = 1000
MAX_NESTING = 20
MAX_ORDER_BY = 3
# Bound values go to BIGINT columns; anything wider would fail inside the driver.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


# ------------------------------------------------------------------ tokenizer


class T(enum.Enum):
    FIELD = "field"
    KEYWORD = "keyword"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of filter"


KEYWORDS = frozenset({"AND", "OR", "NOT", "LIKE", "ILIKE", "IN"})


@dataclass(frozen=True, slots=True)
class Token:
    type: T
    # FIELD: the dot-separated parts; KEYWORD: upper-cased; STRING: unescaped;
    # NUMBER: the literal text; OP/punctuation: the symbol.
    value: str | tuple[str, ...]
    # 1-based character position and the raw source text, for messages.
    position: int
    text: str


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_]+")
_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
_DIGITS = "0123456789"
_OPERATORS = ("<=", ">=", "!=", "=", "<", ">")
_PUNCT = {"(": T.LPAREN, ")": T.RPAREN, ",": T.COMMA}


def _fail(message: str) -> InvalidArgument:
    return InvalidArgument(f"filter: {message}")


def _show(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _clip(text: str) -> str:
    """A token's source text, shortened for a message."""
    return text if len(text) <= 40 else text[:37] + "..."


def _quoted(source: str, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted run starting at ``source[start] == quote``; a doubled
    quote stands for one. Returns the content and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == quote:
            if source.startswith(quote * 2, i):
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    what = "quoted name" if quote == "`" else "string"
    raise _fail(f"unterminated {what} starting at position {start + 1}")


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        start = i
        if ch in "'\"":
            value, i = _quoted(source, i, ch)
            tokens.append(Token(T.STRING, value, start + 1, source[start:i]))
        elif ch == "`":
            # A field may start quoted, e.g. `tags`.`my key`: rare but cheap.
            i = _field(source, i, tokens)
        elif _WORD.match(ch):
            word = _WORD.match(source, i)
            assert word is not None
            if word.group().upper() in KEYWORDS and not source.startswith(".", word.end()):
                tokens.append(Token(T.KEYWORD, word.group().upper(), start + 1, word.group()))
                i = word.end()
            else:
                i = _field(source, i, tokens)
        elif ch in _DIGITS or (ch in "+-" and i + 1 < n and source[i + 1] in _DIGITS):
            number = _NUMBER.match(source, i)
            assert number is not None
            i = number.end()
            tokens.append(Token(T.NUMBER, number.group(), start + 1, number.group()))
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, start + 1, ch))
            i += 1
        else:
            op = next((o for o in _OPERATORS if source.startswith(o, i)), None)
            if op is None:
                raise _fail(f"unexpected {_show(ch)} at position {start + 1}")
            tokens.append(Token(T.OP, op, start + 1, op))
            i += len(op)
    tokens.append(Token(T.END, "", n + 1, ""))
    return tokens


def _field(source: str, i: int, tokens: list[Token]) -> int:
    """A field reference: segments joined by '.', each a bare word or quoted
    with backticks or quotes (tags.`my key`, tags."my key")."""
    start = i
    parts: list[str] = []
    while True:
        ch = source[i] if i < len(source) else ""
        if ch and ch in "`'\"":
            part, i = _quoted(source, i, ch)
        else:
            word = (_WORD if not parts else _SEGMENT).match(source, i)
            if word is None:
                shown = "end of filter" if not ch else _show(ch)
                raise _fail(f"unexpected {shown} at position {i + 1}, expected a name after '.'")
            part, i = word.group(), word.end()
        parts.append(part)
        if not source.startswith(".", i):
            break
        i += 1
    tokens.append(Token(T.FIELD, tuple(parts), start + 1, source[start:i]))
    return i


# --------------------------------------------------------------------- parser


def _describe(token: Token) -> str:
    if token.type is T.END:
        return "end of filter"
    # A string token shows as written, quotes included: 'x', not "'x'".
    return _clip(token.text) if token.type is T.STRING else _show(token.text)


class _Parser:
    def __init__(self, source: str, target: Target) -> None:
        self.tokens = tokenize(source)
        self.target = target
        self.index = 0
        self.comparisons = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def unexpected(self, expected: str) -> InvalidArgument:
        token = self.token
        return _fail(
            f"unexpected {_describe(token)} at position {token.position}, expected {expected}"
        )

    def at_keyword(self, *words: str) -> bool:
        return self.token.type is T.KEYWORD and self.token.value in words

    def parse(self) -> Node | None:
        if self.token.type is T.END:
            return None
        node = self.or_expr()
        if self.token.type is not T.END:
            raise self.unexpected("AND, OR or end of filter")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.at_keyword("OR"):
            self.advance()
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(_flatten(Or, operands))

    def and_expr(self) -> Node:
        operands = [self.primary()]
        while self.at_keyword("AND"):
            self.advance()
            operands.append(self.primary())
        return operands[0] if len(operands) == 1 else And(_flatten(And, operands))

    def primary(self) -> Node:
        if self.token.type is T.LPAREN:
            opening = self.advance()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _fail(
                    f"parentheses nested deeper than {MAX_NESTING} at position {opening.position}"
                )
            node = self.or_expr()
            if self.token.type is not T.RPAREN:
                raise self.unexpected("AND, OR or ')'")
            self.advance()
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        if self.token.type is not T.FIELD:
            raise self.unexpected("a field name or '('")
        field_token = self.advance()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise _fail(
                f"more than {MAX_COMPARISONS} comparisons (the one at position "
                f"{field_token.position} is one too many)"
            )
        field, key = _resolve_field(field_token, self.target)
        op_token = self.token
        op = self.operator()
        rule = self.target.fields[field]
        shown = _field_label(field, key)
        if op not in rule.ops:
            allowed = ", ".join(o.value for o in rule.ops)
            raise _fail(
                f"operator {op.value} at position {op_token.position} is not supported "
                f"for {shown}; use one of {allowed}"
            )
        if op in LIST_OPS:
            values = tuple(_value(t, rule, op, shown) for t in self.value_list())
            value: Value | tuple[Value, ...] = values
        else:
            if self.token.type not in (T.STRING, T.NUMBER):
                raise self.unexpected("a string or a number")
            value = _value(self.advance(), rule, op, shown)
        if field == "name":
            value = _nfc(value)
        none_match = field == "tags" and key in ABSENT_MATCHES_TAGS and op in NEGATED
        return Comparison(field, op, value, key, field_token.position, none_match)

    def operator(self) -> Op:
        token = self.token
        if token.type is T.OP or self.at_keyword("LIKE", "ILIKE", "IN"):
            self.advance()
            return Op(str(token.value))
        if self.at_keyword("NOT"):
            self.advance()
            if not self.at_keyword("LIKE", "ILIKE", "IN"):
                raise self.unexpected("LIKE, ILIKE or IN after NOT")
            return Op(f"NOT {self.advance().value}")
        raise self.unexpected("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN)")

    def value_list(self) -> list[Token]:
        if self.token.type is not T.LPAREN:
            raise self.unexpected("'(' starting the list of values")
        opening = self.advance()
        values: list[Token] = []
        while True:
            if self.token.type not in (T.STRING, T.NUMBER):
                raise self.unexpected("a string or a number")
            values.append(self.advance())
            if len(values) > MAX_IN_VALUES:
                raise _fail(
                    f"the list at position {opening.position} has more than {MAX_IN_VALUES} values"
                )
            if self.token.type is T.RPAREN:
                self.advance()
                return values
            if self.token.type is not T.COMMA:
                raise self.unexpected("',' or ')'")
            self.advance()


def _flatten(kind: type[And] | type[Or], operands: list[Node]) -> tuple[Node, ...]:
    """(a AND b) AND c is a AND b AND c: keeps trees (and the SQL) shallow."""
    out: list[Node] = []
    for operand in operands:
        out.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(out)


def _field_label(field: str, key: str | None) -> str:
    return f"tags.{key}" if field == "tags" else field


def _resolve_field(token: Token, target: Target) -> tuple[str, str | None]:
    parts = list(token.value)
    if len(parts) > 1 and parts[0] in ("tags", "tag"):
        key = ".".join(parts[1:])
        if not key:
            raise _fail(f"empty tag key at position {token.position}")
        return "tags", key
    if len(parts) == 2 and parts[0] in ("attribute", "attributes"):
        parts = parts[1:]
    name = ".".join(parts)
    name = target.synonyms.get(name, name)
    if name in target.fields and name != "tags":
        return name, None
    raise _fail(
        f"unknown field {_show(token.text)} at position {token.position} for "
        f"{target.label}, expected one of {target.expected()}"
    )


def _value(token: Token, rule: FieldRule, op: Op, shown: str) -> Value:
    """Check the literal's type against the field and canonicalise it."""
    where = f"at position {token.position}"
    if rule.kind is Kind.INTEGER:
        if token.type is not T.NUMBER:
            raise _fail(
                f"{shown} compares with integers, got the string {_clip(token.text)} {where}"
            )
        if not re.fullmatch(r"[-+]?[0-9]+", token.text):
            raise _fail(f"{shown} compares with integers, got {_show(token.text)} {where}")
        number = int(token.text)
        if not _INT_MIN <= number <= _INT_MAX:
            raise _fail(f"{shown}: {token.text} {where} is out of range")
        return number
    if token.type is not T.STRING:
        raise _fail(f"{shown} compares with quoted strings, got the number {token.text} {where}")
    text = str(token.value)
    if "\x00" in text:
        raise _fail(f"the string {where} contains a NUL character")
    if op in PATTERN_OPS:
        if _ends_with_escape(text):
            raise _fail(
                f"the {op.value} pattern {where} ends with the escape character '\\' "
                "(write '\\\\' for a backslash)"
            )
        return text
    if rule.kind is Kind.STAGE and op in EQUALITY_OPS:
        try:
            return validation.stage(text).value
        except InvalidArgument:
            allowed = ", ".join(s.value for s in Stage)
            raise _fail(f"{shown} {where}: {_show(text)} is not one of {allowed}") from None
    if rule.kind is Kind.STATUS and op in EQUALITY_OPS:
        try:
            return VersionStatus(text.upper()).value
        except ValueError:
            allowed = ", ".join(s.value for s in VersionStatus)
            raise _fail(f"{shown} {where}: {_show(text)} is not one of {allowed}") from None
    return text


def _nfc(value: Value | tuple[Value, ...]) -> Value | tuple[Value, ...]:
    """Model names are stored in NFC (validation.model_name): so are the
    names a filter compares them with."""
    if isinstance(value, tuple):
        return tuple(_nfc_one(v) for v in value)
    return _nfc_one(value)


def _nfc_one(value: Value) -> Value:
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _ends_with_escape(pattern: str) -> bool:
    """True when a LIKE pattern ends with an unpaired backslash."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def parse(source: str, target: Target) -> Node | None:
    """Parse and check a filter; None when it is empty (matches everything)."""
    if len(source) > MAX_FILTER_LENGTH:
        raise _fail(f"longer than {MAX_FILTER_LENGTH} characters ({len(source)})")
    if "\x00" in source:
        raise _fail(f"NUL character at position {source.index(chr(0)) + 1}")
    return _Parser(source, target).parse()


# ------------------------------------------------------------------- order_by


def parse_order_by(clauses: Sequence[str], target: Target) -> tuple[tuple[str, bool], ...]:
    """``["name", "creation_timestamp DESC"]`` -> ((key, descending), ...)."""
    if not clauses:
        return target.default_order
    if len(clauses) > MAX_ORDER_BY:
        raise InvalidArgument(f"order_by: at most {MAX_ORDER_BY} keys, got {len(clauses)}")
    order: list[tuple[str, bool]] = []
    for index, clause in enumerate(clauses):
        words = clause.split()
        if not words or len(words) > 2:
            raise InvalidArgument(
                f"order_by[{index}]: {clause[:100]!r} must be '<key>' or '<key> ASC|DESC'"
            )
        key = words[0]
        if key not in target.order_keys:
            raise InvalidArgument(
                f"order_by[{index}]: unknown key {key[:100]!r}, expected one of "
                f"{', '.join(target.order_keys)}"
            )
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise InvalidArgument(
                f"order_by[{index}]: unknown direction {words[1][:20]!r}, expected ASC or DESC"
            )
        if any(key == seen for seen, _ in order):
            raise InvalidArgument(f"order_by[{index}]: {key!r} is given twice")
        order.append((key, direction == "DESC"))
    return tuple(order)
