"""The main screen: the pane row, one pane shown at a time, the scan progress line, the key bar.

The pane row is ``PaneTabs`` over a ``ContentSwitcher`` rather than a ``TabbedContent``: the
switcher shows one pane and hides the others (so panes still get ``Show``/``Hide``, which
``LazyPane`` relies on), and the row repaints one line instead of restyling a widget per tab.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Header

from dmarctui.tui.pane import Pane
from dmarctui.tui.panes import PANES
from dmarctui.tui.widgets.key_bar import KeyBar
from dmarctui.tui.widgets.pane_tabs import PaneTabs
from dmarctui.tui.widgets.scan_progress import ScanProgressBar


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_pane(1)", "Next pane", show=False, id="main.next_pane"),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False, id="main.prev_pane"),
        Binding(
            "escape",
            "cancel_scan",
            "Cancel",
            tooltip="Stop the scan (what is read stays)",
            id="main.cancel_scan",
        ),
        *[
            Binding(
                str(number),
                f"show_pane({number - 1})",
                f"Pane {number}",
                show=False,
                id=f"main.pane{number}",
            )
            for number in range(1, 10)
        ],
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        first = PANES[0].PANE_ID
        yield PaneTabs(
            [(p.PANE_ID, f"{n} {p.TITLE}") for n, p in enumerate(PANES, start=1)],
            active=first,
            id="pane-tabs",
        )
        with ContentSwitcher(id="panes", initial=first):
            for pane in PANES:
                yield pane()
        yield ScanProgressBar(id="scan-progress")
        yield KeyBar()

    def on_mount(self) -> None:
        self._focus_active_pane()

    @property
    def panes(self) -> list[Pane]:
        return list(self.query(Pane))

    def pane(self, pane_id: str) -> Pane:
        return self.query_one(f"#{pane_id}", Pane)

    @property
    def active_pane(self) -> Pane | None:
        shown = self.query_one("#panes", ContentSwitcher).visible_content
        return shown if isinstance(shown, Pane) else None

    def reload_panes(self) -> None:
        for pane in self.panes:
            if pane.loaded:
                pane.reload()

    def scan_changed(self) -> None:
        for pane in self.panes:
            if pane.loaded:
                pane.scan_changed()

    def show_pane(self, pane_id: str) -> None:
        """Show ``pane_id`` and focus it; the row and the pane change in the same frame."""
        self.query_one("#panes", ContentSwitcher).current = pane_id
        self.query_one(PaneTabs).active = pane_id
        self._focus_active_pane()

    def action_show_pane(self, position: int) -> None:
        if position < len(PANES):
            self.show_pane(PANES[position].PANE_ID)

    def action_next_pane(self, step: int) -> None:
        ids = [p.PANE_ID for p in PANES]
        current = self.active_pane
        position = ids.index(current.PANE_ID) if current else 0
        self.show_pane(ids[(position + step) % len(ids)])

    def on_pane_tabs_selected(self, event: PaneTabs.Selected) -> None:
        self.show_pane(event.pane_id)

    def _focus_active_pane(self) -> None:
        pane = self.active_pane
        if pane is None:
            return
        focusable = [w for w in pane.query("*") if w.focusable]
        if focusable:
            focusable[0].focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_scan":
            from dmarctui.tui.app import DmarcApp

            return isinstance(self.app, DmarcApp) and self.app.scanning
        return True

    def action_cancel_scan(self) -> None:
        from dmarctui.tui.app import DmarcApp

        if isinstance(self.app, DmarcApp):
            self.app.cancel_scan()
