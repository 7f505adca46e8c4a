"""Registry-held artifacts through the `registry` CLI: `versions create --artifacts`,
`download`, `artifacts upload/list/urls`, `versions finalize/abort`, and the
progress bar (drawn on a terminal only).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from support.artifacts import MiB, file_tree
from support.cli import Run

from registry_client import RegistryClient
from registry_client.cli import _progress


def test_cli_create_with_artifacts_and_download(
    run: Run, model_name: str, src: Path, tmp_path: Path
) -> None:
    assert run("models", "create", model_name)[0] == 0
    code, stdout, err = run(
        "--output", "json", "versions", "create", model_name, "--artifacts", str(src),
        "--run-id", "run-9", "--workers", "2",
    )  # fmt: skip
    assert code == 0, err
    assert err == ""  # no progress bar: stderr is not a terminal
    mv = json.loads(stdout)
    assert (mv["status"], mv["registry_held_artifacts"], mv["run_id"]) == ("READY", True, "run-9")
    dst = tmp_path / "dl"
    code, stdout, err = run("download", f"models:/{model_name}/latest", str(dst))
    assert code == 0, err
    assert f"models:/{model_name}/{mv['version']}" in stdout
    assert "weights/model.bin" in stdout
    assert file_tree(dst) == file_tree(src)
    code, stdout, err = run(
        "--output", "json", "download", f"models:/{model_name}/1", str(dst), "--no-presigned"
    )
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc["downloaded"] == [] and len(doc["skipped"]) == len(file_tree(src))


def test_cli_download_of_a_missing_model_exits_1(run: Run, model_name: str, tmp_path: Path) -> None:
    code, stdout, err = run("download", f"models:/{model_name}/1", str(tmp_path / "d"))
    assert code == 1
    assert stdout == ""
    assert err.startswith("error: NOT_FOUND: ")
    assert not (tmp_path / "d").exists()


def test_cli_missing_artifacts_folder_exits_1(run: Run, model_name: str, tmp_path: Path) -> None:
    run("models", "create", model_name)
    code, _, err = run("versions", "create", model_name, "--artifacts", str(tmp_path / "no"))
    assert code == 1
    assert err.startswith("error: ") and "not a directory" in err


def test_cli_step_by_step_upload_list_urls_finalize_abort(
    run: Run, client: RegistryClient, model_name: str, src: Path
) -> None:
    run("models", "create", model_name)
    # The CLI creates versions whole; a pending one comes from the Python API.
    version = str(client.create_model_version(model_name, registry_held_artifacts=True).version)
    for rel in file_tree(src):
        code, stdout, err = run(
            "artifacts", "upload", model_name, version, str(src / rel), "--path", rel
        )
        assert code == 0, err
        assert repr(rel) in stdout
    code, stdout, err = run("--output", "json", "artifacts", "list", model_name, version)
    assert code == 0, err
    listing = json.loads(stdout)
    assert listing["model_version"]["status"] == "PENDING_REGISTRATION"
    assert [f["path"] for f in listing["files"]] == sorted(file_tree(src))
    code, stdout, err = run(
        "versions", "finalize", model_name, version, "--manifest-from", str(src)
    )
    assert code == 0, err
    assert "READY" in stdout
    code, stdout, err = run("artifacts", "list", f"models:/{model_name}/{version}/conf")
    assert code == 0, err
    assert "conf/params.json" in stdout and "README" not in stdout
    code, stdout, err = run("--output", "json", "artifacts", "urls", model_name, version)
    assert code == 0, err
    urls = json.loads(stdout)
    assert len(urls["urls"]) == (len(file_tree(src)) if urls["supported"] else 0)
    code, stdout, err = run("artifacts", "urls", model_name, version, "--path", "README")
    assert code == 0, err
    assert ("README" in stdout) if urls["supported"] else ("cannot presign" in stdout)

    other = str(client.create_model_version(model_name, registry_held_artifacts=True).version)
    code, stdout, err = run("versions", "abort", model_name, other, "--reason", "bad data")
    assert code == 0, err
    assert "FAILED_REGISTRATION (bad data)" in stdout
    code, _, err = run("versions", "finalize", model_name, other, "--manifest-from", str(src))
    assert code == 1
    assert err.startswith("error: FAILED_PRECONDITION: ")


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    bar = _progress.ProgressBar(tty, "uploading")
    bar(0, 3 * MiB)
    bar(3 * MiB, 3 * MiB)
    bar.close()
    text = tty.getvalue()
    assert text.startswith("\ruploading [")
    assert "3.0 MiB / 3.0 MiB" in text
    assert text.endswith("\n")
    pipe = io.StringIO()
    bar = _progress.ProgressBar(pipe, "uploading")
    bar(1, 2)
    bar.close()
    assert pipe.getvalue() == ""
