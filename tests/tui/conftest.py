"""Fixtures for the TUI tests: one demo folder and index per session, frozen clock and cursor."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Callable, Generator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from dmarctui.demo import DEMO_NOW, DemoFolder, build_demo
from dmarctui.index import Index
from dmarctui.scan import Progress, drain
from dmarctui.tui.app import DmarcApp, make_app

FIXED_NOW = float(DEMO_NOW)
MAIN_SIZES = [
    pytest.param((60, 20), id="60x20"),
    pytest.param((80, 24), id="80x24"),
    pytest.param((160, 48), id="160x48"),
]
"""Snapshot sizes of the main panes: a split terminal, the classic default, a large window."""


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would make every snapshot depend on timing."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> DemoFolder:
    return build_demo(tmp_path_factory.mktemp("demo"), now=DEMO_NOW)


@pytest.fixture(scope="session")
def indexed_db(demo_folder: DemoFolder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the demo folder, built once; tests get their own copy."""
    db = tmp_path_factory.mktemp("index") / "demo.sqlite"
    with Index.open(demo_folder.maildir, db=db) as index:
        drain(index.update(workers=1))
    return db


@pytest.fixture
def db_copy(indexed_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo.sqlite"
    shutil.copyfile(indexed_db, target)
    return target


AppFactory = Callable[..., DmarcApp]


@pytest.fixture
def demo_app(demo_folder: DemoFolder, db_copy: Path) -> AppFactory:
    """``demo_app()`` opens the already indexed demo folder with a fixed clock and no polling."""

    def factory(**options: Any) -> DmarcApp:
        options.setdefault("db", db_copy)
        options.setdefault("clock", lambda: FIXED_NOW)
        options.setdefault("poll_seconds", None)
        return make_app(demo_folder.maildir, **options)

    return factory


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the scan and every other worker are done and the screen is drawn."""
    for _ in range(3):
        with suppress(WorkerCancelled):  # a replaced (exclusive) worker is not a failure
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text (the same render a screenshot uses)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system="truecolor",
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def notices(app: App[Any]) -> str:
    """The notifications (toasts) raised so far, one per line."""
    return "\n".join(n.message for n in app._notifications)


def folder_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime: the folder must look exactly the same after a session."""
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    } | {str(d.relative_to(folder)) + "/": (b"", 0) for d in folder.rglob("*") if d.is_dir()}


class GatedIndex:
    """An index whose update stops after its first progress until the test opens the gate."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def update(self, **options: Any) -> Generator[Progress, None, Any]:
        yield Progress(done=0, total=173, reports=0, errors=0, elapsed=0.0)
        self.gate.wait(timeout=5)
        return (yield from self._index.update(**options))
