"""A modal that shows one item's fields in full: a failure report, a TLS report, a message."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, cast

from rich.console import RenderableType
from rich.protocol import is_renderable
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from dmarctui.tui.safe_text import PlainTable, plain
from dmarctui.tui.widgets.scrolling import KeyScroll


def fields_table(fields: Iterable[tuple[str, object]]) -> Table:
    table = PlainTable.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in fields:
        if value in (None, "", ()):
            continue
        if isinstance(value, tuple | list):
            value = ", ".join(str(v) for v in value)
        table.add_row(name, cast(RenderableType, value) if is_renderable(value) else str(value))
    return table


class FieldsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace,enter,q", "dismiss(None)", "Close", id="fields.close"),
    ]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide-dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            with KeyScroll(id="fields-scroll"):
                yield Static(self.body, id="fields-body")
            yield Label("Esc to close · ↑↓ j k PgUp PgDn g G to scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(KeyScroll).focus()
