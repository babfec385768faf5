"""The scan progress line: a bar with counts and how to cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.scan import Progress


class ScanProgressBar(Horizontal):
    """Hidden until a scan has work; ``show(progress)`` updates it in place."""

    def compose(self) -> ComposeResult:
        yield Label("Scanning", id="scan-title")
        yield Label("Esc to cancel", id="scan-cancel")
        yield ProgressBar(show_eta=False, show_percentage=True, id="scan-bar")
        yield Label("", id="scan-counts")

    def show(self, progress: Progress) -> None:
        self.display = True
        self.query_one(ProgressBar).update(total=max(progress.total, 1), progress=progress.done)
        self.query_one("#scan-counts", Label).update(
            f"{progress.done:,}/{count(progress.total, 'message')},"
            f" {count(progress.reports, 'report')}, {count(progress.errors, 'error')}"
        )

    def hide(self) -> None:
        self.display = False
