"""Shared fixtures: hermetic config/cache dirs and the public corpus beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DMARCTUI_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus" / "public"


@pytest.fixture(autouse=True)
def hermetic_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A developer's own config, cache or drafts never decide a test result."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("EDITOR", raising=False)


@pytest.fixture
def corpus() -> Path:
    """The public corpus; tests that need it skip with a reason when ../shared is absent."""
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"public corpus not found at {CORPUS} (../shared is not beside the checkout)")
    return CORPUS
