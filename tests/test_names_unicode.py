"""Names in one spelling, and without invisible or control characters.

Model names are normalised to NFC wherever one is accepted (request fields
as they are read, URIs, search filters), so "é" sent as one code point or as
"e" and a combining accent names one model. Model names, tag keys, aliases and
artifact paths refuse controls (C0 and C1), format characters (bidirectional
overrides, zero-width characters) and line/paragraph separators, naming the
field and the code point. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from registry_client import AlreadyExists, InvalidArgument, RegistryClient
from registry_server.domain import validation
from registry_server.domain.errors import InvalidArgument as DomainInvalidArgument

COMPOSED = "caf\u00e9"
DECOMPOSED = "cafe\u0301"

UNSAFE = [
    ("\u202e", "U+202E"),  # right-to-left override
    ("\u200b", "U+200B"),  # zero-width space
    ("\u0085", "U+0085"),  # C1 next line
    ("\u009b", "U+009B"),  # C1 control sequence introducer
    ("\u2028", "U+2028"),  # line separator
    ("\u2029", "U+2029"),  # paragraph separator
    ("\ufeff", "U+FEFF"),  # zero-width no-break space (BOM)
    ("\x1b", "U+001B"),
]
UNSAFE = [(char, code.replace("+", "\\+")) for char, code in UNSAFE]  # as regular expressions


def test_two_spellings_of_a_name_are_one_model(client: RegistryClient, model_name: str) -> None:
    decomposed = f"{model_name}-{DECOMPOSED}"
    composed = f"{model_name}-{COMPOSED}"
    created = client.create_registered_model(decomposed, tags={"k": "v"})
    assert created.name == composed
    with pytest.raises(AlreadyExists):
        client.create_registered_model(composed)
    assert client.get_registered_model(decomposed).name == composed
    assert client.get_registered_model(composed).name == composed
    client.set_registered_model_tag(decomposed, "k2", "v2")
    client.create_model_version(decomposed, source="s3://b/m")
    assert client.resolve(f"models:/{decomposed}/1").resolved_uri == f"models:/{composed}/1"
    found = client.search_registered_models(f"name = '{decomposed}'")
    assert [m.name for m in found] == [composed]
    found = client.search_registered_models(f"name IN ('{decomposed}', 'other')")
    assert [m.name for m in found] == [composed]
    renamed = client.rename_registered_model(composed, f"{decomposed}-2")
    assert renamed.name == f"{composed}-2"


@pytest.mark.parametrize(("char", "code"), UNSAFE)
def test_names_and_tag_keys_refuse_invisible_and_control_characters(
    client: RegistryClient, model_name: str, char: str, code: str
) -> None:
    with pytest.raises(InvalidArgument, match=f"name must not contain {code}"):
        client.create_registered_model(f"{model_name}{char}x")
    client.create_registered_model(model_name)
    with pytest.raises(InvalidArgument, match=f"key must not contain {code}"):
        client.set_registered_model_tag(model_name, f"k{char}", "v")
    with pytest.raises(InvalidArgument, match=f"tags\\[0\\].key must not contain {code}"):
        client.create_model_version(model_name, source="s3://b/m", tags={f"k{char}": "v"})
    version = client.create_model_version(model_name, source="s3://b/m")
    with pytest.raises(InvalidArgument, match="alias"):
        client.set_registered_model_alias(model_name, f"a{char}", version.version)
    # Free text may hold them: descriptions and tag values are not names.
    client.set_registered_model_tag(model_name, "note", f"v{char}")


@pytest.mark.parametrize(("char", "code"), UNSAFE)
def test_artifact_paths_refuse_invisible_and_control_characters(char: str, code: str) -> None:
    with pytest.raises(DomainInvalidArgument, match=f"path must not contain {code}"):
        validation.artifact_path(f"model/we{char}ights.bin")


def test_model_name_returns_the_nfc_spelling() -> None:
    assert validation.model_name(DECOMPOSED) == COMPOSED
