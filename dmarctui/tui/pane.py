"""What every pane of the main screen is: a titled container that re-reads the index on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.containers import Vertical

if TYPE_CHECKING:
    from dmarctui.tui.app import DmarcApp


class Pane(Vertical):
    """A tab of the main screen. Subclasses set ``PANE_ID`` and ``TITLE`` and load in ``reload``.

    Adding a pane = one module with a ``Pane`` subclass + one line in ``dmarctui.tui.panes``.
    """

    PANE_ID: ClassVar[str]
    TITLE: ClassVar[str]
    loaded = False
    """True once mounted with its children: scan messages may arrive before that."""

    def on_mount(self) -> None:
        self.loaded = True
        self.reload()

    @property
    def dmarc(self) -> DmarcApp:
        return cast("DmarcApp", self.app)

    def reload(self) -> None:
        """The index changed (or the pane was just mounted): query it again."""
        raise NotImplementedError

    def scan_changed(self) -> None:
        """A scan the user waits for began or ended (``DmarcApp.reading``): redraw what says
        so. Nothing is queried again here."""
