"""Untrusted text on the screen: Rich ``Text``, never markup, with controls shown escaped.

Rich tables, DataTable cells, labels and notifications parse a ``str`` as markup: an org name
``[@click=app.quit]X[/]`` would run an action when clicked, and ``[/]`` alone ends the app with a
``MarkupError``. Everything from a mail reaches the screen through ``plain`` (or a table below,
which applies it to every text cell), after ``display_text.visible`` has escaped control and bidi
characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import RenderableType
from rich.style import StyleType
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets._data_table import CellType, RowKey

from dmarctui.display_text import visible


def plain(value: object, style: StyleType = "", **options: Any) -> Text:
    """``value`` as one line of literal text: no markup, controls and line breaks escaped."""
    return Text(visible(value), style=style, **options)


def plain_block(value: object, style: StyleType = "") -> Text:
    """As ``plain`` for multi-line text (a header block): line breaks and tabs are kept."""
    return Text(visible(value, multiline=True), style=style)


def cell(value: object) -> object:
    """A table cell that cannot be markup: ``str`` becomes ``plain`` text; a ``Text`` holding
    a control character is rebuilt escaped; anything else is left as it is."""
    if isinstance(value, str):
        return plain(value)
    if isinstance(value, Text):
        return literal(value)
    return value


def literal(text: Text) -> Text:
    """``text`` itself, or rebuilt with its control characters escaped (styles of parts are
    then lost: only text that held a control character pays for it)."""
    if visible(text.plain, multiline=True) == text.plain:
        return text
    return Text(visible(text.plain, multiline=True), style=text.style, justify=text.justify)


class PlainTable(Table):
    """A Rich ``Table`` whose text cells are literal (``Table.grid`` builds one too)."""

    def add_row(
        self,
        *renderables: RenderableType | None,
        style: StyleType | None = None,
        end_section: bool = False,
    ) -> None:
        cells = [None if r is None else cell(r) for r in renderables]
        super().add_row(*cells, style=style, end_section=end_section)  # type: ignore[arg-type]


class TextTable(DataTable[object]):
    """A ``DataTable`` whose text cells are literal, however they are added or updated."""

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: object = None,
    ) -> RowKey:
        return super().add_row(
            *(cell(c) for c in cells),
            height=height,
            key=key,
            label=None if label is None else cell(label),  # type: ignore[arg-type]
        )

    def add_rows(self, rows: Iterable[Iterable[CellType]]) -> list[RowKey]:
        return [self.add_row(*row) for row in rows]

    def update_cell(self, row_key: Any, column_key: Any, value: CellType, **options: Any) -> None:
        super().update_cell(row_key, column_key, cell(value), **options)

    def update_cell_at(self, coordinate: Any, value: CellType, **options: Any) -> None:
        super().update_cell_at(coordinate, cell(value), **options)
