"""Messages from the scan worker to the UI: facts about the index, never widget calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from dmarctui.scan import Progress


class ScanProgress(Message):
    """The update read more messages; only the latest one matters to the progress bar."""

    def __init__(self, progress: Progress, *, quiet: bool = False) -> None:
        super().__init__()
        self.progress = progress
        self.quiet = quiet
        """A background poll: show progress only if it turns out to have work."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ScanProgress)


class ScanDone(Message):
    """The update finished or was cancelled; ``stats`` is what ``Index.update()`` returned.
    ``scan`` is the scan's cancel event: it tells a scan stopped for a newer one (``r`` while
    one runs), whose end must not end the newer one's state."""

    def __init__(
        self, stats: Any, *, cancelled: bool, quiet: bool = False, scan: object = None
    ) -> None:
        super().__init__()
        self.stats = stats
        self.cancelled = cancelled
        self.quiet = quiet
        self.scan = scan


class ScanFailed(Message):
    """The update stopped with an error the user must see (``scan`` as for :class:`ScanDone`)."""

    def __init__(self, error: str, *, scan: object = None) -> None:
        super().__init__()
        self.error = error
        self.scan = scan


class IndexChanged(Message):
    """New data is in the index: panes re-query what they show."""
