"""A yes/no question in a modal; only an explicit "y" (or the Send button) answers yes."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from dmarctui.tui.safe_text import plain, plain_block
from dmarctui.tui.screen_stack import ClosesOnlyItself


class ConfirmScreen(ClosesOnlyItself, ModalScreen[bool]):
    """Dismisses with True on ``y`` or the yes button, False on ``n``, Esc or the no button.

    The no button has the focus, so a stray enter never confirms. With ``draft`` (a question
    about unsaved edits) ``d`` saves them first and then answers yes, as the question says.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", tooltip="Confirm", id="confirm.yes"),
        Binding(
            "n,escape", "answer(False)", "No", tooltip="Cancel: nothing happens", id="confirm.no"
        ),
        Binding(
            "d", "draft", "Save draft", tooltip="Save the edits as a draft", id="confirm.draft"
        ),
    ]

    def __init__(
        self,
        title: str,
        question: str,
        *,
        yes: str = "Yes",
        no: str = "Cancel",
        draft: Callable[[], bool] | None = None,
    ):
        super().__init__()
        self.draft = draft
        """Saves the edits; True when saved (then the answer is yes)."""
        self.title_text = title
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            yield Static(plain_block(self.question), id="confirm-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.no} (n)", id="confirm-no")
                if self.draft is not None:
                    yield Button("Save draft (d)", id="confirm-draft")
                yield Button(f"{self.yes} (y)", id="confirm-yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm-draft":
            self.action_draft()
            return
        self.dismiss(event.button.id == "confirm-yes")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "draft" or self.draft is not None

    def action_draft(self) -> None:
        if self.draft is not None and self.draft():
            self.dismiss(True)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
