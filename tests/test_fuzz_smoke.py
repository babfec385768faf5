"""A short, fixed-seed run of every fuzz target (``make fuzz`` runs them for longer).

Each target gets a few hundred executions from the public corpus seeds (or ``tests/data``);
any crash, unexpected exception or fast-path disagreement fails the test with the input saved
under the temporary directory.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

RUNS = {"message": 300, "aggregate": 400, "failure": 600, "tls": 3000, "headers": 150,
        "mime_split": 600}  # fmt: skip


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
@pytest.mark.parametrize("target", list(RUNS))
def test_fuzz_target_runs_clean(target: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "fuzz" / "run.py"), target, "--runs", str(RUNS[target]),
         "--seed", "1", "--seconds", "60", "--work", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Done {RUNS[target]} runs" in proc.stderr
