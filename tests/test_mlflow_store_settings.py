"""The registry store URI: ``modelregistry+grpc[s]://host[:port][?options]``."""

from __future__ import annotations

import re

import pytest

from registry_client.mlflow._settings import DEFAULT_PORT, StoreSettings, parse_store_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "modelregistry+grpc://registry.internal:50051",
            StoreSettings("registry.internal:50051", False),
        ),
        (
            "modelregistry+grpcs://registry.internal:443",
            StoreSettings("registry.internal:443", True),
        ),
        (
            "modelregistry+grpc://registry.internal",
            StoreSettings(f"registry.internal:{DEFAULT_PORT}", False),
        ),
        (
            "modelregistry+grpc://registry.internal/",
            StoreSettings(f"registry.internal:{DEFAULT_PORT}", False),
        ),
        ("MODELREGISTRY+GRPC://h:1", StoreSettings("h:1", False)),
        ("modelregistry+grpc://[::1]:50051", StoreSettings("[::1]:50051", False)),
        (
            "modelregistry+grpcs://h:1?tls_ca=/etc/ca.pem&tls_server_name=registry",
            StoreSettings("h:1", True, tls_ca="/etc/ca.pem", tls_server_name="registry"),
        ),
        (
            "modelregistry+grpcs://h:1?tls_cert=/c.pem&tls_key=/k.pem&timeout=2.5",
            StoreSettings("h:1", True, tls_cert="/c.pem", tls_key="/k.pem", timeout=2.5),
        ),
        # Read by the files mixin, accepted here.
        ("modelregistry+grpc://h:1?copy_artifacts=true", StoreSettings("h:1", False)),
    ],
)
def test_store_uris(uri: str, expected: StoreSettings) -> None:
    assert parse_store_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("modelregistry://h:1", "scheme must be"),
        ("modelregistry+http://h:1", "scheme must be"),
        ("modelregistry+grpc://", "no host"),
        ("modelregistry+grpc://user:pw@h:1", "credentials do not belong"),
        ("modelregistry+grpc://h:1?token=abc", "token does not belong"),
        ("modelregistry+grpc://h:1/models", "unexpected path"),
        ("modelregistry+grpc://h:port", "registry URI"),
        ("modelregistry+grpc://h:1?colour=blue", "unknown option 'colour'"),
        ("modelregistry+grpc://h:1?timeout=1&timeout=2", "given twice"),
        ("modelregistry+grpc://h:1?tls_ca=/ca.pem", "need the modelregistry+grpcs scheme"),
        ("modelregistry+grpc://h:1?timeout=0", "timeout must be a positive"),
        ("modelregistry+grpc://h:1?timeout=soon", "timeout must be a positive"),
    ],
)
def test_bad_store_uris_say_what_is_wrong(uri: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse_store_uri(uri)


def test_plaintext_ignores_the_tls_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheme decides: REGISTRY_TLS=1 (set for the CLI) does not turn
    a +grpc URI into TLS."""
    from registry_client.mlflow.store import RegistryStore

    monkeypatch.setenv("REGISTRY_TLS", "1")
    store = RegistryStore("modelregistry+grpc://127.0.0.1:1")
    assert store.client.tls is False
    store.close()


def test_tls_takes_its_files_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    from registry_client.mlflow.store import RegistryStore

    monkeypatch.setenv("REGISTRY_TLS_CA", "/no/such/ca.pem")
    with pytest.raises(MlflowException, match="REGISTRY_TLS_CA") as excinfo:
        RegistryStore("modelregistry+grpcs://127.0.0.1:1")
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
