"""A pane whose content is computed by a worker from the whole index (triage, readiness).

Such work is too heavy to repeat on every index update while nobody looks, so it runs only while
the pane is shown, one run at a time, and once more if the index changed during a run.
"""

from __future__ import annotations

from dmarctui.tui.pane import Pane


class LazyPane(Pane):
    """Subclasses start their worker in ``compute`` and call ``computed`` when it reported."""

    def __init__(self) -> None:
        super().__init__(id=self.PANE_ID)
        self._visible = False
        self._computing = False
        self._stale = True

    def reload(self) -> None:
        self._stale = True
        if self._visible and not self._computing:
            self._computing = True
            self._stale = False
            self.compute()

    def on_show(self) -> None:
        self._visible = True
        if self._stale:
            self.reload()

    def on_hide(self) -> None:
        self._visible = False

    def compute(self) -> None:
        """Start the worker that reads the index."""
        raise NotImplementedError

    def computed(self) -> None:
        """The worker's result is on screen: run again if the index changed meanwhile."""
        self._computing = False
        if self._stale:
            self.reload()
