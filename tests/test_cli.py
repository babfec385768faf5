"""The headless commands as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dmarctui.cli import main


def test_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dmarctui", "scan", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert str(tmp_path / "nope") in proc.stderr
    assert not (tmp_path / "nope").exists()


def test_scan_json(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(corpus / "mail" / "Maildir"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "maildir"
    assert data["messages"] == 69
    assert sum(data["buckets"].values()) == 69


def test_scan_forced_format(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(corpus / "mail" / "mbox"), "--format", "mbox", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "mbox"


def test_scan_text_summary_piped_has_no_progress(corpus: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dmarctui", "scan", str(corpus / "mail" / "MH")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "69 messages" in proc.stdout
    assert "aggregate" in proc.stdout
    assert "\r" not in proc.stderr
