"""The decision modal of the Sources pane: what this source is, remembered across rebuilds.

Choose a verdict (arrows, or its number), then type the network (the source IP by default, or a
CIDR), the last day for "ignore", and a note; Enter saves, Esc cancels. When the source already
has a decision, the last choice undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from dmarctui.decisions import (
    VERDICT_TEXT,
    VERDICTS,
    Decision,
    DecisionError,
    DecisionStore,
    default_decisions_path,
    normalise_match,
    parse_until,
)

UNDO = "undo"


@dataclass(frozen=True)
class DecisionRequest:
    """What the user asked for: a new decision, or (``verdict == "undo"``) to undo ``match``'s."""

    match: str
    verdict: str
    note: str = ""
    until: str | None = None


class DecisionScreen(ModalScreen[DecisionRequest | None]):
    DEFAULT_CSS = """
    DecisionScreen #decision-current { width: 1fr; }
    DecisionScreen #decision-verdict { height: auto; border: none; padding: 0; margin: 1 0 0 0; }
    DecisionScreen .decision-field { height: 1; margin: 1 0 0 0; }
    DecisionScreen .decision-field Label { width: 9; }
    DecisionScreen Input { border: none; height: 1; padding: 0 1; width: 1fr; }
    DecisionScreen #decision-error { width: 1fr; color: $error; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="decision.cancel"),
    ]

    def __init__(self, source_ip: str, current: Decision | None) -> None:
        super().__init__()
        self.source_ip = source_ip
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="decision-dialog"):
            yield Label(Content(f"Decision for {self.source_ip}"), classes="dialog-title")
            if self.current is not None:
                yield Label(
                    Content(f"Now: {self.current.match} {self.current.summary()}"),
                    id="decision-current",
                )
            options = [Option(f"{n}  {VERDICT_TEXT[v]}", id=v) for n, v in enumerate(VERDICTS, 1)]
            if self.current is not None:
                options.append(Option(f"{len(options) + 1}  undo the current decision", id=UNDO))
            yield OptionList(*options, id="decision-verdict")
            with Horizontal(classes="decision-field"):
                yield Label("Network")
                yield Input(
                    value=self.current.match if self.current else self.source_ip,
                    placeholder="IP address or CIDR network",
                    id="decision-match",
                )
            with Horizontal(classes="decision-field"):
                yield Label("Until")
                yield Input(placeholder="ignore only: last day, YYYY-MM-DD", id="decision-until")
            with Horizontal(classes="decision-field"):
                yield Label("Note")
                yield Input(placeholder="why (free text)", id="decision-note")
            yield Label("", id="decision-error")
            yield Label(
                f"↑↓ or 1–{len(options)} choose · tab to the fields · Enter saves · Esc cancels",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        verdicts = self.query_one("#decision-verdict", OptionList)
        verdicts.highlighted = 0
        verdicts.focus()

    def on_key(self, event: events.Key) -> None:
        key = event.character
        verdicts = self.query_one("#decision-verdict", OptionList)
        if verdicts.has_focus and key and key.isdigit() and 1 <= int(key) <= verdicts.option_count:
            verdicts.highlighted = int(key) - 1
            event.stop()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id == UNDO:
            self._submit()
            return
        field = "#decision-until" if event.option.id == "ignore" else "#decision-note"
        self.query_one(field, Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def _submit(self) -> None:
        verdicts = self.query_one("#decision-verdict", OptionList)
        index = verdicts.highlighted
        if index is None:
            return
        verdict = str(verdicts.get_option_at_index(index).id)
        try:
            match = normalise_match(self.query_one("#decision-match", Input).value)
            if verdict == UNDO:
                assert self.current is not None
                self.dismiss(DecisionRequest(self.current.match, UNDO))
                return
            until_text = self.query_one("#decision-until", Input).value.strip()
            if verdict == "ignore" and not until_text:
                raise DecisionError("ignore needs a last day: YYYY-MM-DD")
            until = parse_until(until_text) if verdict == "ignore" else None
        except DecisionError as exc:
            self.query_one("#decision-error", Label).update(Content(str(exc)))
            return
        note = self.query_one("#decision-note", Input).value
        self.dismiss(DecisionRequest(match, verdict, note.strip(), until))


def record(request: DecisionRequest, path: Path | None = None) -> tuple[list[Decision], str]:
    """Store the request; returns the decisions now in force and what to tell the user.

    Raises:
        DecisionError: the decisions file cannot be written.
    """
    with DecisionStore.open(path) as store:
        if request.verdict == UNDO:
            done = store.undo(request.match)
            told = f"Undone: {done.match} {done.text()}"
        else:
            done = store.add(request.match, request.verdict, request.note, until=request.until)
            told = f"Decided: {done.match} {done.text()}"
        return store.effective(), told


def load_decisions(path: Path | None = None) -> list[Decision]:
    """The decisions in force; none when the file does not exist yet (nothing is created)."""
    if not (path or default_decisions_path()).exists():
        return []
    with DecisionStore.open(path) as store:
        return store.effective()
