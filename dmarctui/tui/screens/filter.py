"""The filter form for the report list: domain, reporter, source, period, result."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from dmarctui.index import ReportFilter
from dmarctui.tui.filter_text import DAY, format_day, parse_day
from dmarctui.tui.screen_stack import ClosesOnlyItself

RESULTS = [("any result", "any"), ("failing", "fail"), ("passing", "pass")]
DISPOSITIONS = [
    ("any disposition", "any"),
    ("none", "none"),
    ("quarantine", "quarantine"),
    ("reject", "reject"),
]


class FilterScreen(ClosesOnlyItself, ModalScreen[ReportFilter | None]):
    """Returns the new filter (text search and failing-first are kept), ``None`` on Esc."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="filter.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="filter.apply"),
    ]

    def __init__(self, current: ReportFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        flt = self.current
        with Vertical(classes="dialog", id="filter-dialog"):
            yield Label("Filter reports", classes="dialog-title")
            with Grid(id="filter-grid"):
                yield Label("Domain")
                yield Input(flt.domain or "", placeholder="example.ac.jp", id="f-domain")
                yield Label("Reporter")
                yield Input(flt.reporter or "", placeholder="google.com", id="f-reporter")
                yield Label("Source")
                yield Input(flt.source or "", placeholder="IP or CIDR", id="f-source")
                yield Label("From")
                yield Input(format_day(flt.since), placeholder="YYYY-MM-DD", id="f-since")
                yield Label("Until")
                yield Input(format_day(flt.until), placeholder="YYYY-MM-DD", id="f-until")
                yield Label("Result")
                yield Select(RESULTS, value=flt.result or "any", allow_blank=False, id="f-result")
                yield Label("Disposition")
                yield Select(
                    DISPOSITIONS,
                    value=flt.disposition or "any",
                    allow_blank=False,
                    id="f-disposition",
                )
            yield Label("", id="filter-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="filter-apply")
                yield Button("Clear", id="filter-clear")
                yield Button("Cancel", id="filter-cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "filter-apply":
            self.action_apply()
        elif event.button.id == "filter-clear":
            self.dismiss(
                ReportFilter(text=self.current.text, failing_first=self.current.failing_first)
            )
        else:
            self.dismiss(None)

    def action_apply(self) -> None:
        try:
            since = parse_day(self._text("f-since"))
            until = parse_day(self._text("f-until"))
            source = self._text("f-source")
            if source:
                _check_source(source)
        except ValueError as exc:
            self.query_one("#filter-error", Label).update(str(exc))
            return
        result = self.query_one("#f-result", Select).value
        disposition = self.query_one("#f-disposition", Select).value
        self.dismiss(
            replace(
                self.current,
                domain=self._text("f-domain") or None,
                reporter=self._text("f-reporter") or None,
                source=self._text("f-source") or None,
                since=since,
                until=None if until is None else until + DAY - 1,
                result=None if result == "any" else result,  # type: ignore[arg-type]
                disposition=None if disposition == "any" else str(disposition),
            )
        )

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()


def _check_source(text: str) -> None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or a CIDR network") from None
