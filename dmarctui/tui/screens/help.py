"""F1 / ? help: the packaged ``help.md``, after the current pane's own notes."""

from __future__ import annotations

from importlib.resources import files
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown

from dmarctui.tui.widgets.scrolling import KeyScroll


def help_text() -> str:
    return files("dmarctui.tui").joinpath("help.md").read_text(encoding="utf-8")


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss(None)", "Close", id="help.close"),
    ]

    def __init__(self, context: str = "") -> None:
        super().__init__()
        self.context = context

    def compose(self) -> ComposeResult:
        text = f"{self.context.rstrip()}\n\n{help_text()}" if self.context else help_text()
        with Vertical(classes="dialog wide-dialog", id="help-dialog"):
            with KeyScroll(id="help-text"):
                yield Markdown(text)
            yield Label("Esc to close · ↑↓ j k PgUp PgDn g G to scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(KeyScroll).focus()
