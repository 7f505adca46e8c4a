"""`pip install modelregistry` is the client alone; the server is an extra.

A deployment job that only resolves models:/ URIs must not pull in the
server's database and object-store libraries, and `registry-server` on such
an install must say what to install instead of failing with a traceback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# grpc_health and grpc_reflection are left out: grpcio itself imports them when
# they happen to be installed.
SERVER_ONLY = ("sqlalchemy", "psycopg2", "alembic", "minio")

pytestmark = pytest.mark.slow


def test_importing_the_client_imports_none_of_the_server_libraries() -> None:
    probe = (
        "import sys, registry_client, registry_client.tls, registry_client.cli\n"
        f"print(','.join(m for m in {SERVER_ONLY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def _source_copy(into: Path) -> Path:
    """The tracked files of the checkout, so that a build never sees (or leaves)
    a stale build/ folder whose old modules setuptools would ship."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    target = into / "src"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_the_wheel_ships_the_shared_package_and_its_type_markers(tmp_path: Path) -> None:
    source = _source_copy(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
    )
    import zipfile

    (wheel,) = tmp_path.glob("modelregistry-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "registry_api/proto/modelregistry/v1/registry_pb2.py",
        "registry_api/proto/modelregistry/v1/registry_pb2.pyi",
        "registry_api/wire.py",
        "registry_api/metadata.py",
        "registry_api/py.typed",
        "registry_client/py.typed",
        "registry_client/tls.py",
        "registry_server/py.typed",
        "registry_server/migrations/env.py",
    ):
        assert required in names, required
    # Every package of the source tree is listed in pyproject.toml (setuptools
    # ships only the listed ones; an editable install hides a missing one).
    for top in ("registry_api", "registry_client", "registry_server"):
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                assert init.relative_to(ROOT).as_posix() in names, init
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    base = [
        line
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(re.split(r"[<>=!~ ;]", line.split(":", 1)[1].strip())[0] for line in base) == [
        "grpcio",
        "protobuf",
    ]


def test_a_client_only_install_runs_the_cli_and_refuses_to_serve(tmp_path: Path) -> None:
    env_dir = tmp_path / "client-only"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True, timeout=600)
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for name in ("sqlalchemy", "psycopg2", "alembic", "minio"):
        assert name not in installed, name

    help_out = subprocess.run(
        [str(env_dir / "bin" / "registry"), "--help"], capture_output=True, text=True
    )
    assert help_out.returncode == 0, help_out.stderr
    assert "resolve" in help_out.stdout

    serve = subprocess.run(
        [str(env_dir / "bin" / "registry-server"), "serve"], capture_output=True, text=True
    )
    assert serve.returncode == 2
    lines = serve.stderr.strip().splitlines()
    assert len(lines) == 1, serve.stderr
    assert "pip install 'modelregistry[server]'" in lines[0]
