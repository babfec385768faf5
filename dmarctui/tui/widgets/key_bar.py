"""The footer line: the keys that work here, redrawn in place when the focus moves.

Textual's ``Footer`` rebuilds one widget per key whenever the active bindings change, which is on
every pane switch; mounting and styling those widgets cost more than everything else a switch
does. This bar is one widget that renders one line, so a change of keys is a repaint of one row.
It keeps what the footer offered: key labels from ``get_key_display``, disabled keys dimmed, the
palette key on the right, a click presses the key, hovering shows the binding's tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

GAP = 1
"""Blank cells between two keys."""


@dataclass(frozen=True)
class KeySpan:
    """One key on the bar and the cells it occupies (``start`` inclusive, ``end`` exclusive)."""

    key: str
    label: Text
    enabled: bool
    tooltip: str
    start: int = 0
    end: int = 0


class KeyBar(Widget, can_focus=False):
    """One line listing the shown bindings of the focused widget and its ancestors."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .key-bar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .key-bar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .key-bar--disabled {
        text-style: dim;
    }
    KeyBar > .key-bar--hover {
        background: $block-hover-background;
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-bar--key",
        "key-bar--description",
        "key-bar--disabled",
        "key-bar--hover",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._spans: list[KeySpan] = []
        self._hover: KeySpan | None = None
        self._shown: tuple[tuple[str, str, str, bool], ...] = ()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        """Repaint only when what the bar lists changed (the signal also fires when it did not)."""
        if screen is not self.screen:
            return
        shown = tuple(
            (key, binding.action, binding.description, enabled)
            for key, (_node, binding, enabled, _tooltip) in screen.active_bindings.items()
            if binding.show or key == self.app.COMMAND_PALETTE_BINDING
        )
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    # ------------------------------------------------------------------ content

    def _label(self, binding: Binding, *, enabled: bool) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        description_style = self.get_component_rich_style("key-bar--description", partial=True)
        text = Text.assemble((self.app.get_key_display(binding), key_style))
        if binding.description:
            text.append(f" {binding.description}", description_style)
        if not enabled:
            text.stylize(self.get_component_rich_style("key-bar--disabled", partial=True))
        return text

    def keys(self) -> tuple[list[KeySpan], KeySpan | None]:
        """The shown keys, one per action, and the command-palette key (shown on the right)."""
        active = self.screen.active_bindings
        palette: KeySpan | None = None
        palette_key = self.app.COMMAND_PALETTE_BINDING
        if self.app.ENABLE_COMMAND_PALETTE and palette_key in active:
            _node, binding, enabled, tooltip = active[palette_key]
            palette = KeySpan(
                binding.key,
                self._label(binding, enabled=enabled),
                enabled,
                tooltip or binding.tooltip or binding.description,
            )
        spans: list[KeySpan] = []
        seen: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            spans.append(
                KeySpan(
                    binding.key,
                    self._label(binding, enabled=enabled),
                    enabled,
                    tooltip or binding.tooltip or binding.description,
                )
            )
        return spans, palette

    def render(self) -> Text:
        width = self.size.width
        spans, palette = self.keys()
        line = Text(no_wrap=True, overflow="crop", end="")
        placed: list[KeySpan] = []
        right = Text(" ") + palette.label if palette is not None else Text()
        room = width - right.cell_len
        for span in spans:
            start = line.cell_len + (GAP if placed else 0)
            end = start + span.label.cell_len
            if end > room:
                break
            if placed:
                line.append(" " * GAP)
            line.append(self._hovered(span))
            placed.append(KeySpan(span.key, span.label, span.enabled, span.tooltip, start, end))
        if palette is not None:
            line.append(" " * max(room - line.cell_len, 0))
            start = line.cell_len + 1
            line.append(Text(" ") + self._hovered(palette))
            placed.append(
                KeySpan(
                    palette.key,
                    palette.label,
                    palette.enabled,
                    palette.tooltip,
                    start,
                    start + palette.label.cell_len,
                )
            )
        self._spans = placed
        return line

    def _hovered(self, span: KeySpan) -> Text:
        if self._hover is None or self._hover.key != span.key:
            return span.label
        label = span.label.copy()
        label.stylize(self.get_component_rich_style("key-bar--hover", partial=True))
        return label

    # ------------------------------------------------------------------ mouse

    def span_at(self, x: int) -> KeySpan | None:
        return next((s for s in self._spans if s.start <= x < s.end), None)

    def on_click(self, event: events.Click) -> None:
        span = self.span_at(event.x)
        if span is None:
            return
        event.stop()
        if span.enabled:
            self.app.simulate_key(span.key.split(",")[0])
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        span = self.span_at(event.x)
        if span != self._hover:
            self._hover = span
            self.tooltip = span.tooltip if span is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()
