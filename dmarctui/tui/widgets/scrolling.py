"""The keys every long view shares, so a view never needs the mouse to reach its end.

``↑↓`` ``j k`` move a line, ``PgUp PgDn`` a page, ``g`` ``Home`` to the top, ``G`` ``End`` to
the bottom, ``← →`` ``h l`` sideways (only where there is something to the side: otherwise the
key goes on to the screen, where ``l`` may mean something else). The README key table lists
these keys and ``tests/tui/test_keys.py`` walks it over every view.
"""

from __future__ import annotations

from typing import ClassVar

from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll

from dmarctui.tui.safe_text import TextTable


class KeyScroll(VerticalScroll):
    """A scrolling view of text (report XML, headers, help, a letter): the keys scroll it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "line(-1)", "Up", show=False, id="scroll.up"),
        Binding("down,j", "line(1)", "Down", show=False, id="scroll.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="scroll.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="scroll.page_down"),
        Binding("home,g", "top", "Top", show=False, id="scroll.top"),
        Binding("end,G", "bottom", "Bottom", show=False, id="scroll.bottom"),
        Binding("left,h", "sideways(-1)", "Left", show=False, id="scroll.left"),
        Binding("right,l", "sideways(1)", "Right", show=False, id="scroll.right"),
    ]

    def action_line(self, step: int) -> None:
        self._scroll_y(self.scroll_y + step)

    def action_page(self, step: int) -> None:
        self._scroll_y(self.scroll_y + step * max(self.scrollable_content_region.height - 1, 1))

    def action_top(self) -> None:
        self._scroll_y(0)

    def action_bottom(self) -> None:
        """To the end, and stay there while the content is still arriving (help, the XML)."""
        self.anchor()

    def action_sideways(self, step: int) -> None:
        if self.max_scroll_x == 0:
            raise SkipAction()
        self.scroll_to(x=self.scroll_x + 4 * step, animate=False, immediate=True)

    def _scroll_y(self, y: float) -> None:
        self.anchor(False)
        self.scroll_to(y=y, animate=False, immediate=True)


class KeyTable(TextTable):
    """A row-cursor table: the keys move the cursor; ``Home``/``End`` go to the first/last row.

    Its text cells are literal (``TextTable``): report text is never markup.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("home,g", "scroll_top", "First", show=False, id="table.first"),
        Binding("end,G", "scroll_bottom", "Last", show=False, id="table.last"),
        Binding("left,h", "sideways(-1)", "Left", show=False, id="table.left"),
        Binding("right,l", "sideways(1)", "Right", show=False, id="table.right"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def action_sideways(self, step: int) -> None:
        if self.max_scroll_x == 0:
            raise SkipAction()
        self.scroll_to(x=self.scroll_x + 4 * step, animate=False, immediate=True)
