"""Choose the column the report list is sorted by; choosing the current one reverses it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from dmarctui.tui.report_cells import SORT_TITLES
from dmarctui.tui.screen_stack import ClosesOnlyItself


class SortScreen(ClosesOnlyItself, ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="sort.cancel"),
    ]

    def __init__(self, current: str, descending: bool) -> None:
        super().__init__()
        self.current = current
        self.descending = descending

    def compose(self) -> ComposeResult:
        arrow = "↓" if self.descending else "↑"
        options = [
            Option(f"{title} {arrow if key == self.current else ''}".rstrip(), id=key)
            for key, title in SORT_TITLES.items()
        ]
        with Vertical(classes="dialog"):
            yield Label("Sort reports by (again to reverse)", classes="dialog-title")
            yield OptionList(*options, id="sort-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = list(SORT_TITLES)
        options.highlighted = keys.index(self.current) if self.current in keys else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)
