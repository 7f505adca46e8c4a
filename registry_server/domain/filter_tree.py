"""What a search filter says, as data: the syntax tree the parser
(domain/search_filter.py) builds and the store compiles (store/filters.py),
and the fields each kind of result can be filtered on."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

Value = str | int


class Op(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    NOT_LIKE = "NOT LIKE"
    ILIKE = "ILIKE"
    NOT_ILIKE = "NOT ILIKE"
    IN = "IN"
    NOT_IN = "NOT IN"


LIST_OPS = frozenset({Op.IN, Op.NOT_IN})
PATTERN_OPS = frozenset({Op.LIKE, Op.NOT_LIKE, Op.ILIKE, Op.NOT_ILIKE})
EQUALITY_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
# Operator sets as the API documents them per field.
STRING_OPS: tuple[Op, ...] = (
    Op.EQ,
    Op.NE,
    Op.LIKE,
    Op.ILIKE,
    Op.NOT_LIKE,
    Op.NOT_ILIKE,
    Op.IN,
    Op.NOT_IN,
)
TEXT_OPS: tuple[Op, ...] = (Op.EQ, Op.NE, Op.LIKE, Op.ILIKE)
RANGE_OPS: tuple[Op, ...] = (Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE)
NUMBER_OPS: tuple[Op, ...] = (*RANGE_OPS, Op.IN, Op.NOT_IN)
#: Each negative operator and the positive one it negates.
NEGATED: dict[Op, Op] = {
    Op.NE: Op.EQ,
    Op.NOT_IN: Op.IN,
    Op.NOT_LIKE: Op.LIKE,
    Op.NOT_ILIKE: Op.ILIKE,
}
#: Tags whose negative comparisons also match rows without the tag. MLflow's
#: client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every model
#: search to leave out its prompt registry's entries, and its stores read it as
#: "not tagged as a prompt" (an anti-join), not as "tagged with another value"
#: (the usual meaning, which would hide every plain model).
ABSENT_MATCHES_TAGS = frozenset({"mlflow.prompt.is_prompt"})


# ---------------------------------------------------------------- syntax tree


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``. ``field`` is canonical (``name``, ``tags``,
    ``version_number``, ...); ``key`` is the tag key for ``tags``. ``value`` is
    a tuple for IN / NOT IN. ``position`` (1-based) is kept for messages.
    ``none_match`` (negative operators on ``ABSENT_MATCHES_TAGS`` only): the
    row matches when none of its tags ``key`` satisfies the positive
    comparison, so rows without the tag match too."""

    field: str
    op: Op
    value: Value | tuple[Value, ...]
    key: str | None = None
    position: int = 0
    none_match: bool = False


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Comparison | And | Or


# -------------------------------------------------------------- field catalog


class Kind(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    STAGE = "stage"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class FieldRule:
    kind: Kind
    ops: tuple[Op, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """What a filter may say about one kind of result (models or versions)."""

    label: str
    # Canonical name -> rule; "tags" stands for tags.<key>.
    fields: Mapping[str, FieldRule]
    # Alternative spellings -> canonical name.
    synonyms: Mapping[str, str]
    # order_by keys, in the order they are listed in messages.
    order_keys: tuple[str, ...]
    default_order: tuple[tuple[str, bool], ...]

    def expected(self) -> str:
        names = [("tags.<key>" if f == "tags" else f) for f in self.fields]
        return ", ".join(names)


_TIMESTAMPS = {
    "creation_timestamp": FieldRule(Kind.INTEGER, RANGE_OPS),
    "last_updated_timestamp": FieldRule(Kind.INTEGER, RANGE_OPS),
}

MODELS = Target(
    label="registered models",
    fields={
        "name": FieldRule(Kind.STRING, STRING_OPS),
        "tags": FieldRule(Kind.STRING, STRING_OPS),
        "alias": FieldRule(Kind.STRING, STRING_OPS),
        "description": FieldRule(Kind.STRING, TEXT_OPS),
        **_TIMESTAMPS,
    },
    synonyms={},
    order_keys=("name", "creation_timestamp", "last_updated_timestamp"),
    default_order=(("name", False),),
)

VERSIONS = Target(
    label="model versions",
    fields={
        "name": FieldRule(Kind.STRING, STRING_OPS),
        "version_number": FieldRule(Kind.INTEGER, NUMBER_OPS),
        "run_id": FieldRule(Kind.STRING, STRING_OPS),
        "source_path": FieldRule(Kind.STRING, STRING_OPS),
        "current_stage": FieldRule(Kind.STAGE, STRING_OPS),
        "status": FieldRule(Kind.STATUS, STRING_OPS),
        "description": FieldRule(Kind.STRING, STRING_OPS),
        "tags": FieldRule(Kind.STRING, STRING_OPS),
        "alias": FieldRule(Kind.STRING, STRING_OPS),
        "dataset.digest": FieldRule(Kind.STRING, STRING_OPS),
        "dataset.name": FieldRule(Kind.STRING, STRING_OPS),
        **_TIMESTAMPS,
    },
    synonyms={"source": "source_path", "stage": "current_stage", "version": "version_number"},
    order_keys=("name", "version_number", "creation_timestamp", "last_updated_timestamp"),
    default_order=(("name", False), ("version_number", True)),
)
