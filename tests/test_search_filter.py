"""The search filter parser, order_by parsing, LIKE -> GLOB and page tokens,
without a server: the grammar's corners are cheaper to pin down here."""

from __future__ import annotations

import base64
import json

import pytest

from registry_server.domain.errors import InvalidArgument
from registry_server.domain.search import decode_token, encode_token
from registry_server.domain.search_filter import (
    MAX_COMPARISONS,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    MAX_NESTING,
    MODELS,
    VERSIONS,
    And,
    Comparison,
    Op,
    Or,
    parse,
    parse_order_by,
    tokenize,
)
from registry_server.store.filters import _successor, like_prefix, like_to_glob


def c(field: str, op: Op, value: object, key: str | None = None, position: int = 1) -> Comparison:
    return Comparison(field, op, value, key, position)  # type: ignore[arg-type]


def test_empty_filter_matches_everything() -> None:
    assert parse("", MODELS) is None
    assert parse("  \t\n ", VERSIONS) is None


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("name = 'a'", Op.EQ, "a"),
        ("name != 'a'", Op.NE, "a"),
        ("name LIKE 'a%'", Op.LIKE, "a%"),
        ("name like 'a%'", Op.LIKE, "a%"),
        ("name ILIKE 'a%'", Op.ILIKE, "a%"),
        ("name NOT LIKE 'a%'", Op.NOT_LIKE, "a%"),
        ("name not ilike 'a%'", Op.NOT_ILIKE, "a%"),
        ("name IN ('a', 'b')", Op.IN, ("a", "b")),
        ("name NOT IN ('a')", Op.NOT_IN, ("a",)),
        ('name = "double"', Op.EQ, "double"),
    ],
)
def test_string_operators(text: str, op: Op, value: object) -> None:
    assert parse(text, MODELS) == c("name", op, value)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_numeric_operators(op: str) -> None:
    assert parse(f"version_number {op} 3", VERSIONS) == c("version_number", Op(op), 3)
    assert parse(f"creation_timestamp {op} -5", MODELS) == c("creation_timestamp", Op(op), -5)


def test_operators_need_no_spaces() -> None:
    assert parse("version_number>=3", VERSIONS) == c("version_number", Op.GE, 3)
    assert parse("name='a'AND name!='b'", MODELS) == And(
        (c("name", Op.EQ, "a"), c("name", Op.NE, "b", position=13))
    )


def test_and_binds_tighter_than_or() -> None:
    tree = parse("name = 'a' OR name = 'b' AND name = 'c'", MODELS)
    assert tree == Or(
        (
            c("name", Op.EQ, "a"),
            And((c("name", Op.EQ, "b", position=15), c("name", Op.EQ, "c", position=30))),
        )
    )


def test_parentheses_group() -> None:
    tree = parse("(name = 'a' OR name = 'b') AND name = 'c'", MODELS)
    assert tree == And(
        (
            Or((c("name", Op.EQ, "a", position=2), c("name", Op.EQ, "b", position=16))),
            c("name", Op.EQ, "c", position=32),
        )
    )


def test_same_operators_are_flattened() -> None:
    tree = parse("name = 'a' AND (name = 'b' AND (name = 'c'))", MODELS)
    assert isinstance(tree, And)
    assert [o.value for o in tree.operands] == ["a", "b", "c"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("tags.team = 'x'", "team"),
        ("tag.team = 'x'", "team"),
        ("tags.`key with space` = 'x'", "key with space"),
        ("tags.\"key with space\" = 'x'", "key with space"),
        ("tags.`it``s` = 'x'", "it`s"),
        ("tags.mlflow.runName = 'x'", "mlflow.runName"),
        ("tags.`AND` = 'x'", "AND"),
        ("tags.in = 'x'", "in"),
    ],
)
def test_tag_keys(text: str, key: str) -> None:
    assert parse(text, MODELS) == c("tags", Op.EQ, "x", key=key)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("name = 'it''s'", "it's"),
        ('name = "say ""hi"""', 'say "hi"'),
        ('name = "it\'s"', "it's"),
        ("name = ''", ""),
        ("name = 'a\\b'", "a\\b"),
        ("name = 'ünïcödé ✓'", "ünïcödé ✓"),
    ],
)
def test_quotes_and_escapes(text: str, value: str) -> None:
    assert parse(text, MODELS) == c("name", Op.EQ, value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("attribute.name = 'x'", "name"),
        ("attributes.name = 'x'", "name"),
        ("source = 'x'", "source_path"),
        ("stage = 'Staging'", "current_stage"),
        ("attributes.run_id = 'x'", "run_id"),
    ],
)
def test_field_synonyms(text: str, field: str) -> None:
    tree = parse(text, VERSIONS)
    assert isinstance(tree, Comparison) and tree.field == field
    assert parse("version = 7", VERSIONS) == c("version_number", Op.EQ, 7)


def test_stage_and_status_are_canonicalised_for_equality() -> None:
    assert parse("current_stage = 'production'", VERSIONS) == c(
        "current_stage", Op.EQ, "Production"
    )
    assert parse("stage IN ('none', 'ARCHIVED')", VERSIONS) == c(
        "current_stage", Op.IN, ("None", "Archived")
    )
    assert parse("status = 'ready'", VERSIONS) == c("status", Op.EQ, "READY")
    # Patterns are matched against the canonical spelling, as written.
    assert parse("current_stage LIKE 'Prod%'", VERSIONS) == c("current_stage", Op.LIKE, "Prod%")


def test_keywords_are_case_insensitive_fields_are_not() -> None:
    assert parse("name = 'a' aNd name NoT iN ('b')", MODELS) is not None
    with pytest.raises(InvalidArgument, match="unknown field 'NAME'"):
        parse("NAME = 'a'", MODELS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name = 'abc' AN name = 'x'",
            "filter: unexpected 'AN' at position 14, expected AND, OR or end of filter",
        ),
        (
            "name = ",
            "filter: unexpected end of filter at position 8, expected a string or a number",
        ),
        ("name = 'x' AND", "unexpected end of filter at position 15, expected a field name or '('"),
        ("(name = 'x'", "unexpected end of filter at position 12, expected AND, OR or ')'"),
        ("name = 'x')", "unexpected ')' at position 11, expected AND, OR or end of filter"),
        ("()", "unexpected ')' at position 2, expected a field name or '('"),
        ("name 'x'", "unexpected 'x' at position 6, expected a comparison operator"),
        ("name == 'x'", "unexpected '=' at position 7, expected a string or a number"),
        ("name NOT = 'x'", "unexpected '=' at position 10, expected LIKE, ILIKE or IN after NOT"),
        ("name IN 'x'", "unexpected 'x' at position 9, expected '(' starting the list"),
        ("name IN ('x',)", "unexpected ')' at position 14, expected a string or a number"),
        ("name IN ('x' 'y')", "unexpected 'y' at position 14, expected ',' or ')'"),
        ("name = 'x", "filter: unterminated string starting at position 8"),
        ("tags.`x = 'y'", "unterminated quoted name starting at position 6"),
        ("name ~ 'x'", "filter: unexpected '~' at position 6"),
        ("name = 'x'; DROP TABLE t", "unexpected ';' at position 11"),
        ("tags. = 'x'", "unexpected ' ' at position 6, expected a name after '.'"),
        ("foo = 'x'", "unknown field 'foo' at position 1 for registered models"),
        ("tags = 'x'", "unknown field 'tags' at position 1"),
        ("version_number = 1", "unknown field 'version_number' at position 1 for registered"),
        ("dataset.digest = 'x'", "unknown field 'dataset.digest'"),
        ("name < 'x'", "operator < at position 6 is not supported for name"),
        ("description IN ('x')", "operator IN at position 13 is not supported for description"),
        ("creation_timestamp LIKE '1%'", "not supported for creation_timestamp"),
        ("name = 3", "name compares with quoted strings, got the number 3 at position 8"),
        ("tags.k = 3", "tags.k compares with quoted strings"),
        (
            "creation_timestamp > '5'",
            "creation_timestamp compares with integers, got the string '5'",
        ),
        ("creation_timestamp > 5.5", "creation_timestamp compares with integers, got '5.5'"),
        ("creation_timestamp > 1e3", "compares with integers, got '1e3'"),
        ("creation_timestamp > 99999999999999999999", "out of range"),
        ("name LIKE 'abc\\'", "LIKE pattern at position 11 ends with the escape character"),
        ("name = 'a\x00'", "filter: NUL character at position 10"),
    ],
)
def test_bad_filters_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(text, MODELS)
    assert info.value.message.startswith("filter: ")
    assert message in info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version_number = '3'", "version_number compares with integers"),
        ("version_number LIKE '3%'", "not supported for version_number"),
        ("run_id = 5", "run_id compares with quoted strings"),
        ("current_stage = 'prod'", "current_stage at position 17: 'prod' is not one of None"),
        ("status = 'DONE'", "status at position 10: 'DONE' is not one of PENDING_REGISTRATION"),
        ("dataset.size = 'x'", "unknown field 'dataset.size'"),
    ],
)
def test_bad_version_filters(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^filter: ") as info:
        parse(text, VERSIONS)
    assert message in info.value.message


def test_limits() -> None:
    longest = "name = '" + "x" * (MAX_FILTER_LENGTH - 9) + "'"
    assert parse(longest, MODELS) is not None
    with pytest.raises(InvalidArgument, match=f"filter: longer than {MAX_FILTER_LENGTH}"):
        parse(longest + " ", MODELS)
    many = " OR ".join(["name = 'x'"] * MAX_COMPARISONS)
    assert parse(many, MODELS) is not None
    with pytest.raises(InvalidArgument, match=f"filter: more than {MAX_COMPARISONS} comparisons"):
        parse(many + " OR name = 'x'", MODELS)
    values = ",".join(["1"] * MAX_IN_VALUES)
    assert parse(f"version_number IN ({values})", VERSIONS) is not None
    with pytest.raises(InvalidArgument, match=f"more than {MAX_IN_VALUES} values"):
        parse(f"version_number IN ({values},1)", VERSIONS)
    nested = "(" * MAX_NESTING + "name = 'x'" + ")" * MAX_NESTING
    assert parse(nested, MODELS) is not None
    with pytest.raises(InvalidArgument, match="nested deeper than"):
        parse("(" + nested + ")", MODELS)
    # Far deeper than Python's recursion limit: still a clean error.
    with pytest.raises(InvalidArgument, match="nested deeper than"):
        parse("(" * 2000 + "name = 'x'" + ")" * 2000, MODELS)


def test_tokens_keep_positions() -> None:
    tokens = tokenize("tags.`a b` >= -3")
    assert [(t.type.name, t.position) for t in tokens] == [
        ("FIELD", 1),
        ("OP", 12),
        ("NUMBER", 15),
        ("END", 17),
    ]
    assert tokens[0].value == ("tags", "a b")


def test_order_by() -> None:
    assert parse_order_by([], MODELS) == (("name", False),)
    assert parse_order_by([], VERSIONS) == (("name", False), ("version_number", True))
    assert parse_order_by(["last_updated_timestamp desc", " name  ASC "], MODELS) == (
        ("last_updated_timestamp", True),
        ("name", False),
    )
    assert parse_order_by(["version_number"], VERSIONS) == (("version_number", False),)


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["version_number"], "order_by[0]: unknown key 'version_number'"),
        (["name", "nme"], "order_by[1]: unknown key 'nme'"),
        (["name UP"], "order_by[0]: unknown direction 'UP'"),
        (["name ASC extra"], "order_by[0]: 'name ASC extra' must be"),
        ([""], "order_by[0]: '' must be"),
        (["name", "name DESC"], "order_by[1]: 'name' is given twice"),
        (["name", "creation_timestamp", "last_updated_timestamp", "name"], "at most 3 keys"),
    ],
)
def test_bad_order_by(order_by: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^order_by") as info:
        parse_order_by(order_by, MODELS)
    assert message in info.value.message


@pytest.mark.parametrize(
    ("like", "glob"),
    [
        ("abc", "abc"),
        ("a%", "a*"),
        ("a_c", "a?c"),
        ("a*b?c[d]", "a[*]b[?]c[[]d]"),
        ("100\\%", "100%"),
        ("a\\_b", "a_b"),
        ("a\\\\b", "a\\b"),
        ("\\x", "x"),
    ],
)
def test_like_to_glob(like: str, glob: str) -> None:
    assert like_to_glob(like) == glob


def test_page_token_round_trip_and_checks() -> None:
    order = (("name", False), ("creation_timestamp", True))
    token = encode_token("fp", ("model-a", 1700000000000, 42))
    assert decode_token(token, "fp", order) == ("model-a", 1700000000000, 42)
    assert decode_token("", "fp", order) is None
    with pytest.raises(InvalidArgument, match=r"^page_token: it was issued for a different"):
        decode_token(token, "other", order)

    def forged(payload: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    for bad in [
        "not a token!",
        "%%%",
        "x" * 5000,
        forged([1, 2]),
        forged({"f": "fp"}),
        forged({"f": "fp", "c": ["a", 1]}),  # too short
        forged({"f": "fp", "c": [1, 1, 42]}),  # name must be a string
        forged({"f": "fp", "c": ["a", "1", 42]}),  # timestamp must be an integer
        forged({"f": "fp", "c": ["a", 1, True]}),  # booleans are not ids
        forged({"f": "fp", "c": ["a", 2**70, 1]}),
        forged({"f": "fp", "c": ["a\x00", 1, 1]}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]:
        with pytest.raises(InvalidArgument, match=r"^page_token: malformed"):
            decode_token(bad, "fp", order)


@pytest.mark.parametrize(
    ("like", "prefix"),
    [
        ("abc%", "abc"),
        ("abc", "abc"),
        ("a_c%", "a"),
        ("%abc", ""),
        ("a\\%b%", "a%b"),
        ("a\\_b_", "a_b"),
        ("a\\\\b%", "a\\b"),
        ("é中%", "é中"),
    ],
)
def test_like_prefix(like: str, prefix: str) -> None:
    assert like_prefix(like) == prefix


def test_prefix_successor_bounds_every_match() -> None:
    assert _successor("ab") == "ac"
    assert _successor("a\ud7ff") == "a\ue000"  # surrogates are skipped
    assert _successor("a\U0010ffff") == "b"
    assert _successor("\U0010ffff") is None
    for prefix in ("ab", "a\ud7ff", "a\U0010ffff", "z\x7f"):
        upper = _successor(prefix)
        assert upper is not None
        for match in (prefix, prefix + "\x00", prefix + "\U0010ffff" * 3):
            # The pattern index compares UTF-8 bytes.
            assert prefix.encode() <= match.encode() < upper.encode("utf-8", "surrogatepass")
