"""The .proto is the contract: generated code is fresh, every RPC is documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protos" / "modelregistry" / "v1" / "registry.proto"


def test_generated_code_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_every_rpc_documents_its_status_codes() -> None:
    text = PROTO.read_text()
    rpcs = re.findall(r"((?:\s*//[^\n]*\n)+)\s*rpc (\w+)\(", text)
    assert len(rpcs) >= 20
    codes = (
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "FAILED_PRECONDITION",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
    )
    for comment, name in rpcs:
        assert any(code in comment for code in codes), f"{name} lists no status codes"
        # Access control is part of each RPC's contract.
        assert "Role:" in comment or "Needs no role" in comment, f"{name} states no role"
