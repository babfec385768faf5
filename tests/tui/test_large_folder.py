"""The TUI's first open of a real-sized folder, through the real worker pool.

Above ``PARALLEL_FROM`` new messages the scan parses in worker processes started from inside
Textual; these tests never pass ``workers=1``, so they run what a user runs.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dmarctui import index_triage
from dmarctui.config import Config
from dmarctui.index import Index
from dmarctui.scan import PARALLEL_FROM, Progress
from dmarctui.synthetic import build_synthetic
from dmarctui.triage import is_problem
from dmarctui.tui.app import DmarcApp, make_app
from dmarctui.tui.messages import ScanDone, ScanFailed
from dmarctui.tui.ranking import LISTED
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.widgets.report_list import ReportList
from dmarctui.tui.widgets.scan_progress import ScanProgressBar

from .conftest import FIXED_NOW, notices, screen_text, settle

MESSAGES = 1_000
REPORTS = 996
"""The synthetic folder's distinct aggregate reports: messages 0 and 503 are personal mail,
499 and 998 are truncated gzip reports, and message 509 repeats message 508."""


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("big"), MESSAGES)


class PausedMidScan:
    """An index whose update, once the worker pool has sent back its first results, waits for
    the test to press its keys: the keys then land while the pool is busy."""

    def __init__(self, index: Index) -> None:
        self._index = index
        self.paused_at: Progress | None = None
        self.first: Progress | None = None
        self.gate = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def update(self, **options: Any) -> Generator[Progress, None, Any]:
        updates = self._index.update(**options)
        try:
            while True:
                progress = next(updates)
                self.first = self.first or progress
                if self.paused_at is None and 0 < progress.done < progress.total:
                    self.paused_at = progress
                    yield progress
                    self.gate.wait(timeout=30)
                    continue
                yield progress
        except StopIteration as stop:
            return stop.value
        finally:
            updates.close()


def paused_app(folder: Path, tmp_path: Path) -> tuple[DmarcApp, PausedMidScan]:
    """The app on ``folder`` with a fresh index whose first scan pauses mid-way."""
    app = make_app(folder, db=tmp_path / "index.sqlite", poll_seconds=None, clock=lambda: FIXED_NOW)
    paused = PausedMidScan(app.index)
    app.index = paused  # type: ignore[assignment]
    return app, paused


async def until_paused(pilot: Pilot[Any], app: DmarcApp, paused: PausedMidScan) -> None:
    while paused.paused_at is None and app.scanning:
        await pilot.pause(0.05)
    assert paused.paused_at is not None, "the scan ended before the pool sent results"


def test_the_folder_is_big_enough_for_the_pool() -> None:
    assert MESSAGES >= PARALLEL_FROM


async def test_first_open_of_a_big_folder_lists_every_report(
    big_folder: Path, tmp_path: Path
) -> None:
    app = make_app(big_folder, db=tmp_path / "index.sqlite", poll_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Scan failed" not in notices(app)
        assert f"{MESSAGES:,} new messages" in notices(app)
        assert app.last_stats.bodies_read == MESSAGES
        assert app.screen.query_one(ReportList).row_count == REPORTS
        assert f"{REPORTS} reports · all reports" in screen_text(app)
    assert multiprocessing.active_children() == []


async def test_escape_cancels_a_parallel_scan_and_r_scans_again(
    big_folder: Path, tmp_path: Path
) -> None:
    app, paused = paused_app(big_folder, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_paused(pilot, app, paused)
        # The bar came up before the workers had started, not after they sent results.
        assert paused.first is not None
        assert (paused.first.done, paused.first.total) == (0, MESSAGES)
        await pilot.press("escape")
        paused.gate.set()
        await settle(pilot)
        assert not app.scanning
        assert app.last_stats.cancelled
        assert "Scan cancelled" in notices(app)
        assert app.last_stats.bodies_read < MESSAGES
        assert not app.screen.query_one(ScanProgressBar).display
        assert multiprocessing.active_children() == []  # the pool is shut down, not left behind

        await pilot.press("r")
        await settle(pilot)
        assert not app.last_stats.cancelled
        assert app.last_stats.bodies_read + app.last_stats.unchanged == MESSAGES
        assert app.screen.query_one(ReportList).row_count == REPORTS
        assert f"{REPORTS} reports · all reports" in screen_text(app)
        assert "Scan failed" not in notices(app)


async def test_while_the_first_scan_reads_nothing_says_nothing_was_found(
    big_folder: Path, tmp_path: Path
) -> None:
    """Opened mid-scan, Sources and Reports say the scan is still reading: an empty ranking then
    is not "nothing to act on" (the folder's reports are accounted when the scan has read it)."""
    app, paused = paused_app(big_folder, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_paused(pilot, app, paused)
        assert "No reports listed yet" in screen_text(app)
        await pilot.press("2")
        sources = app.screen.query_one(SourcesPane)
        for _ in range(200):
            if sources.run is not None:
                break
            await pilot.pause(0.05)
        assert sources.run is not None, "Sources never ranked"
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "Nothing ranked yet: the scan is still reading the folder" in text
        assert "Nothing to act on" not in text and "0 sources need action" not in text
        paused.gate.set()
        seen = []  # the screens from the scan's end to the final ranking
        for _ in range(400):
            seen.append(screen_text(app))
            if not app.scanning and "sources need action" in seen[-1]:
                break
            await pilot.pause(0.02)
        assert not any("Nothing to act on" in text or "0 sources" in text for text in seen)
        await settle(pilot)
        text = screen_text(app)
        assert "sources need action" in text and "still reading" not in text
        await pilot.press("1")
        await settle(pilot)
        assert f"{REPORTS} reports · all reports" in screen_text(app)


async def test_the_end_of_a_scan_stopped_for_a_newer_one_does_not_end_the_newer_one(
    big_folder: Path, tmp_path: Path
) -> None:
    """``r`` while a scan runs stops it and starts another; the stopped one's end arrives while
    the new one reads, and must leave it running (progress, Esc, "still reading")."""
    app, paused = paused_app(big_folder, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_paused(pilot, app, paused)
        app.post_message(ScanDone(None, cancelled=True, scan=threading.Event()))
        app.post_message(ScanFailed("an older scan's error", scan=threading.Event()))
        await pilot.pause(0.2)
        assert app.scanning and app.reading
        assert "No reports listed yet" in screen_text(app)
        assert "Scan failed" not in notices(app) and "Scan cancelled" not in notices(app)
        paused.gate.set()
        await settle(pilot)
        assert not app.scanning and not app.reading
        assert f"{REPORTS} reports · all reports" in screen_text(app)


async def test_a_big_folder_ranked_in_two_halves_shows_what_one_count_shows(
    big_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranking of the first open counts on two connections at once from 100,000 records
    (forced here for 1,000 messages): Sources shows what a count in one piece finds."""
    monkeypatch.setattr(index_triage, "PARALLEL_RECORDS", 1)
    monkeypatch.setattr(index_triage, "_cores", lambda: 2)
    halves: list[str] = []
    count_part = index_triage._count_part

    def spied(*args: Any) -> Any:
        halves.append(threading.current_thread().name)
        return count_part(*args)

    monkeypatch.setattr(index_triage, "_count_part", spied)
    db = tmp_path / "index.sqlite"
    app = make_app(big_folder, db=db, poll_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        shown = [(f.source_ip, f.kind, f.messages) for f in app.screen.query_one(SourcesPane).shown]
        status = screen_text(app)
    assert "dmarctui-count" in halves
    monkeypatch.setattr(index_triage, "PARALLEL_RECORDS", 10**12)
    with Index.open(big_folder, db=db) as index:
        index._conn.execute("DELETE FROM triage_results")  # counted again, in one piece
        found = [f for f in index.triage(Config()).findings() if is_problem(f.kind)]
    assert shown == [(f.source_ip, f.kind, f.messages) for f in found][: len(shown)]
    assert len(shown) == min(len(found), LISTED)
    assert f"{len({f.source_ip for f in found}):,} sources need action" in status
