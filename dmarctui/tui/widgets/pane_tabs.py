"""The pane row of the main screen: one line of numbered pane titles, the shown one highlighted.

Textual's ``TabbedContent`` draws its row as a ``Tabs`` widget holding one ``Tab`` widget per pane
over an underline. A pane switch restyles two of those widgets, lays the row out again and moves
the underline in a later refresh, so with a large index the last frame of a switch came tens of
milliseconds after the new pane was already on screen. This row is one widget that renders one
line: a switch repaints that line in the same frame as the pane it shows. A click on a title
posts ``PaneTabs.Selected``; the screen decides what showing a pane means. When the full titles
do not fit, the other panes show only their number, so the shown pane's title is never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

GAP = 0
"""Blank cells between two titles (each is already padded by one blank on both sides)."""


@dataclass(frozen=True)
class TabSpan:
    """One title on the row and the cells it occupies (``start`` inclusive, ``end`` exclusive)."""

    pane_id: str
    label: str
    start: int = 0
    end: int = 0


class PaneTabs(Widget, can_focus=False):
    """One line of ``(pane id, title)`` tabs; ``active`` is the pane id shown highlighted."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    PaneTabs {
        height: 1;
        width: 1fr;
        pointer: pointer;
    }
    PaneTabs > .pane-tabs--tab {
        color: $text-muted;
    }
    PaneTabs > .pane-tabs--active {
        color: $block-cursor-foreground;
        background: $block-cursor-background;
        text-style: bold;
    }
    PaneTabs > .pane-tabs--hover {
        color: $foreground;
        background: $block-hover-background;
    }
    PaneTabs:ansi > .pane-tabs--tab {
        text-style: dim;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pane-tabs--tab",
        "pane-tabs--active",
        "pane-tabs--hover",
    }

    class Selected(Message):
        """A title was clicked: the user asks for the pane ``pane_id``."""

        def __init__(self, pane_id: str) -> None:
            super().__init__()
            self.pane_id = pane_id

    def __init__(
        self, tabs: Sequence[tuple[str, str]], *, active: str, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._tabs = [TabSpan(pane_id, label) for pane_id, label in tabs]
        self._spans = _layout(self._tabs)
        self._active = active
        self._hover: str | None = None

    @property
    def active(self) -> str:
        return self._active

    @active.setter
    def active(self, pane_id: str) -> None:
        if pane_id not in self.pane_ids:
            raise ValueError(f"no pane {pane_id!r} on the tab row")
        if pane_id != self._active:
            self._active = pane_id
            self.refresh()

    @property
    def pane_ids(self) -> list[str]:
        return [tab.pane_id for tab in self._tabs]

    @property
    def labels(self) -> list[str]:
        """The full titles, e.g. ``"1 Reports"``."""
        return [tab.label for tab in self._tabs]

    def render(self) -> Text:
        self._spans = _layout(self._tabs)
        if self._spans and self._spans[-1].end > self.size.width:
            self._spans = _layout(
                [tab if tab.pane_id == self._active else _number_only(tab) for tab in self._tabs]
            )
        line = Text(no_wrap=True, overflow="crop", end="")
        for span in self._spans:
            line.append(" " * (span.start - line.cell_len))
            line.append(f" {span.label} ", self._style(span.pane_id))
        return line

    def _style(self, pane_id: str) -> Style:
        if pane_id == self._active:
            name = "pane-tabs--active"
        elif pane_id == self._hover:
            name = "pane-tabs--hover"
        else:
            name = "pane-tabs--tab"
        return self.get_component_rich_style(name, partial=True)

    # ------------------------------------------------------------------ mouse

    def span_at(self, x: int) -> TabSpan | None:
        return next((s for s in self._spans if s.start <= x < s.end), None)

    def on_click(self, event: events.Click) -> None:
        span = self.span_at(event.x)
        if span is not None:
            event.stop()
            self.post_message(self.Selected(span.pane_id))

    def on_mouse_move(self, event: events.MouseMove) -> None:
        span = self.span_at(event.x)
        hover = span.pane_id if span is not None else None
        if hover != self._hover:
            self._hover = hover
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()


def _layout(tabs: Sequence[TabSpan]) -> list[TabSpan]:
    """Cells of each title, padded by one blank on each side, ``GAP`` cells apart."""
    spans: list[TabSpan] = []
    start = 0
    for tab in tabs:
        end = start + cell_len(tab.label) + 2
        spans.append(TabSpan(tab.pane_id, tab.label, start, end))
        start = end + GAP
    return spans


def _number_only(tab: TabSpan) -> TabSpan:
    """``"3 Readiness"`` -> ``"3"``: the key that shows the pane."""
    return TabSpan(tab.pane_id, tab.label.split(" ", 1)[0])
