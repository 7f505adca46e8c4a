"""`registry-server verify` run in-process, and the store URL of an S3 prefix,
for tests/test_verify.py and tests/test_verify_backup.py."""

from __future__ import annotations

import contextlib
import io

from registry_server.cli import main as server_main

from .s3 import S3Endpoint


def run_verify(*args: str) -> tuple[int, str, str]:
    """`registry-server verify ARGS`: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = server_main(["--log-level", "WARNING", "verify", *args])
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def s3_url(endpoint: S3Endpoint, bucket: str, prefix: str) -> str:
    """The --artifact-store URL of ``prefix`` in ``bucket``."""
    secure = "true" if endpoint.secure else "false"
    return f"s3://{bucket}/{prefix}?endpoint={endpoint.endpoint}&secure={secure}"
