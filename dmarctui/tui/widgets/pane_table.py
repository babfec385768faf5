"""The DataTable of a pane: enter shown in the key bar, rendered rows kept across pane switches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Self

from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey

from dmarctui.tui.widgets.scrolling import KeyTable

ROWS_PAGE = 200
"""Rows of :meth:`PaneTable.show_rows` put in the table at once: more than a screenful."""


class PaneTable(KeyTable):
    """A row-cursor table whose enter (open the line) is listed in the key bar.

    A plain DataTable forgets every rendered cell on each Resize and on each style update. A
    pane shown again gets a Resize of unchanged size and a focus change, so each switch to a
    pane re-rendered its whole screenful of rows. Neither needs that: the size did not change,
    and the focus state is part of the table's own cache keys. Only a real resize or a theme
    change empties the caches here.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Open",
            tooltip="Show everything about this line",
            id="table.open",
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn_size = Size(0, 0)
        self._drawn_virtual = Size(0, 0)
        self._drawn_theme = ""
        self._rows: Sequence[Sequence[object]] = ()
        self.fill_all: Callable[[], None] | None = None
        """For an owner that pages rows itself (Sources): adds the rest before End goes there."""

    def show_rows(self, rows: Sequence[Sequence[object]]) -> None:
        """Make ``rows`` the table's rows: a page goes in now, the next as the cursor nears the
        end, the rest on End. Adding a row costs a quarter of a millisecond and every pane is
        filled when the app opens: 10,000 problem messages delayed its first frame by 3 s."""
        self.clear()
        self._rows = rows
        self._add_rows_upto(ROWS_PAGE)

    def _add_rows_upto(self, upto: int) -> None:
        for row in self._rows[self.row_count : upto]:
            self.add_row(*row)

    def clear(self, columns: bool = False) -> Self:
        self._rows = ()
        super().clear(columns)
        return self

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Not stopped: the pane hears it too.
        loaded = self.row_count
        if event.data_table is self and event.cursor_row >= loaded - ROWS_PAGE // 4:
            self._add_rows_upto(loaded + ROWS_PAGE)

    def action_scroll_bottom(self) -> None:
        self._add_rows_upto(len(self._rows))
        if self.fill_all is not None:
            self.fill_all()
        super().action_scroll_bottom()

    def _on_resize(self, event: events.Resize) -> None:
        # Handlers run down the class hierarchy: preventing the default skips DataTable's own.
        # New column widths come as a Resize of the same size but another virtual size: the
        # lines drawn with the old widths must go then, or they stay on screen.
        if event.size == self._drawn_size and event.virtual_size == self._drawn_virtual:
            event.prevent_default()
        self._drawn_size = event.size
        self._drawn_virtual = event.virtual_size

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Column widths follow the rows added, but only once the table is idle: lines drawn
        # before that (the header first, with its labels' widths) are cached under the same
        # keys and would stay squeezed on screen. New widths drop them.
        before = [column.get_render_width(self) for column in self.ordered_columns]
        super()._update_dimensions(new_rows)
        if [column.get_render_width(self) for column in self.ordered_columns] != before:
            self._clear_caches()
            self.refresh()

    def notify_style_update(self) -> None:
        theme = self.app.theme
        if theme != self._drawn_theme:
            self._drawn_theme = theme
            super().notify_style_update()
            return
        # Focus or hover changed: only the cell styles chosen per state are looked up again.
        Widget.notify_style_update(self)
        self._get_styles_to_render_cell.cache_clear()
        self.refresh()
