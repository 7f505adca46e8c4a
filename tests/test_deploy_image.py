"""The image deploy/Dockerfile builds: it runs the same `registry-server` console
script the tests run, serves on the port it exposes and health-checks it, runs as a
numeric non-root user, and installs the project with the server extra.
`.dockerignore` keeps what `pip install .` needs, checked by building a wheel from
exactly the files the image build would see (slow lane).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from support.deploy_files import (
    PORT,
    ROOT,
    build_installs,
    build_stage_copies,
    context_files,
    dockerfile_instructions,
    dockerignore_rules,
    exec_form,
    final_stage,
    ignore_rules,
    image_entrypoint,
    is_ignored,
    package_folders,
    pyproject,
    top_level_packages,
)


def test_the_image_runs_the_console_script_the_tests_run() -> None:
    assert image_entrypoint() == ["registry-server"]
    scripts = pyproject()["project"]["scripts"]
    assert scripts["registry-server"] == "registry_server.cli:main"
    from registry_server.cli import main

    assert callable(main)


def test_the_image_serves_on_the_exposed_port_and_checks_it() -> None:
    (command,) = final_stage("CMD")
    assert exec_form(command) == ["serve", "--listen", f"0.0.0.0:{PORT}"]
    assert final_stage("EXPOSE") == [str(PORT)]
    (check,) = final_stage("HEALTHCHECK")
    options, _, probe = check.partition(" CMD ")
    assert "--timeout=" in options
    assert exec_form(probe) == ["python", "-m", "registry_server.healthcheck", f"127.0.0.1:{PORT}"]


def test_the_image_is_python_311_slim_and_runs_as_a_numeric_non_root_user() -> None:
    defaults = dict(
        a.split("=", 1) for kind, a in dockerfile_instructions() if kind == "ARG" and "=" in a
    )
    (final_from,) = final_stage("FROM")
    base = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], final_from.split()[0])
    assert base == "python:3.11-slim"
    assert pyproject()["project"]["requires-python"] == ">=3.11"
    (user,) = final_stage("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "Kubernetes' runAsNonRoot needs a numeric uid"


def test_the_image_copies_only_what_the_context_keeps() -> None:
    copies = build_stage_copies()
    assert copies
    for sources, destination in copies:
        for source in sources:
            assert not is_ignored(source.rstrip("/"), list(dockerignore_rules())), source
            # The wheel test below rebuilds the package from the same layout.
            assert destination in {"./", source}, (source, destination)


def test_the_image_copies_every_package_the_project_declares() -> None:
    copied = {source.rstrip("/") for sources, _ in build_stage_copies() for source in sources}
    project = pyproject()["project"]
    assert {"pyproject.toml", project["readme"]} <= copied
    # registry_api (the generated code both sides import) as much as the server and client.
    assert package_folders() <= copied, package_folders() - copied


def test_the_image_installs_the_project_with_the_server_extra() -> None:
    (install,) = build_installs()
    targets = [word for word in install if not word.startswith("-")]
    assert targets == [".[server]"], install
    # The base install is the client alone; the server's libraries are in the extra.
    server_extra = " ".join(pyproject()["project"]["optional-dependencies"]["server"]).lower()
    for library in ("sqlalchemy", "alembic", "psycopg2", "grpcio-health-checking", "minio"):
        assert library in server_extra, library
    base = " ".join(pyproject()["project"]["dependencies"]).lower()
    assert "sqlalchemy" not in base and "alembic" not in base
    # The build fails at once if the installed console script does not start.
    assert any(
        "registry-server --help" in args
        for kind, args in dockerfile_instructions()
        if kind == "RUN"
    )


# ---------------------------------------------------------------------- .dockerignore


@pytest.mark.parametrize(
    ("rules", "path", "ignored"),
    [
        ("*\n!src/\n", "src/pkg/a.py", False),
        ("*\n!src/\n", "notes.txt", True),
        ("*\n!src\n**/__pycache__/\n", "src/a/b/__pycache__/x.pyc", True),
        ("*.md\n!README.md\n", "README.md", False),
        ("*.md\n!README.md\n", "CHANGES.md", True),
        ("*.md\n", "docs/guide.md", False),
        ("**/*.md\n", "docs/guide.md", True),
        ("/build\n", "build/lib/x.py", True),
    ],
)
def test_dockerignore_matching_follows_docker(rules: str, path: str, ignored: bool) -> None:
    assert is_ignored(path, ignore_rules(rules)) is ignored


def test_dockerignore_keeps_what_pip_install_needs() -> None:
    rules = list(dockerignore_rules())
    project = pyproject()["project"]
    needed = ["pyproject.toml", project["readme"]]
    package_dirs = package_folders()
    assert {"registry_api", "registry_client", "registry_server", "migrations"} <= package_dirs
    for folder in sorted(package_dirs):
        needed += [
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    kept_out = [path for path in needed if is_ignored(path, rules)]
    assert not kept_out
    assert "migrations/env.py" in needed


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "registry-data/registry.db",
        "deploy/.env",
        "tests/conftest.py",
        "registry_server/__pycache__/cli.cpython-311.pyc",
        "modelregistry.egg-info/PKG-INFO",
        ".pytest_cache/README.md",
    ],
)
def test_dockerignore_leaves_out_local_state(path: str) -> None:
    assert is_ignored(path, list(dockerignore_rules()))


# ------------------------------------------------------ the package the image installs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from exactly the files the image's build stage copies."""
    pytest.importorskip("setuptools")
    context = tmp_path_factory.mktemp("image-build-context")
    for sources, _ in build_stage_copies():
        for source in sources:
            for relative in context_files(source.rstrip("/")):
                target = context / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / relative, target)
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("-q", "--disable-pip-version-check", "-w", str(dist), str(context)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    (built,) = dist.glob("*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_has_every_package_and_the_console_scripts(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for top in top_level_packages():
        for init in (ROOT / top).rglob("__init__.py"):
            assert init.relative_to(ROOT).as_posix() in names
        assert f"{top}/py.typed" in names, top
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = wheel.read(entry_points).decode()
    assert "registry-server = registry_server.cli:main" in scripts
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "Provides-Extra: server" in wheel.read(metadata).decode()


@pytest.mark.slow
def test_the_wheel_ships_the_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "registry_server/migrations/env.py" in names
    assert "registry_server/migrations/script.py.mako" in names
    assert "registry_server/migrations/versions/0001_initial_schema.py" in names
    for version in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"registry_server/migrations/versions/{version.name}" in names
