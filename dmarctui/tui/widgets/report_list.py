"""The report list: a Line-API view over the index that holds only the pages it shows.

The virtual height is the number of matching reports; each visible line pulls its row from an LRU
page cache filled by ``Index.reports_page``, so 100,000 reports cost no more than 100.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dmarctui.tui.report_cells import column_widths, header_cells, layout_line, row_cells
from dmarctui.tui.widgets.page_cache import PageCache

if TYPE_CHECKING:
    from dmarctui.index import ReportRow

STRIPS_KEPT = 400
"""Rendered lines kept, so moving the cursor redraws nothing it has drawn before."""
Counter = Callable[[], int]
Fetcher = Callable[[int, int], "list[ReportRow]"]


class ReportList(ScrollView, can_focus=True):
    """One line per report; enter opens it."""

    HELP = """\
## Reports

One line per aggregate report. **Pass** is the share of messages whose DMARC evaluation passed
(aligned DKIM or SPF); **Q/R** counts quarantined / rejected messages. Badges: **R** recovered
from invalid XML, **D** has duplicate copies, **C** shares its report_id with another report,
**~** merged into another report (not counted twice).
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="list.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="list.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="list.page_up"),
        Binding("pagedown,space", "page(1)", "Page down", show=False, id="list.page_down"),
        Binding("home,g", "first", "First", show=False, id="list.first"),
        Binding("end,G", "last", "Last", show=False, id="list.last"),
        Binding(
            "enter",
            "open",
            "Open",
            tooltip="Show the report's records, XML and headers",
            id="list.open",
        ),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "report-list--header",
        "report-list--cursor",
    }

    cursor: reactive[int] = reactive(0, always_update=True, init=False)

    class Opened(Message):
        """The user asked to open the report under the cursor."""

        def __init__(self, row: ReportRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._count_rows: Counter = lambda: 0
        self._cache: PageCache[ReportRow] = PageCache(lambda offset, limit: [])
        self.row_count = 0
        self._strips: LRUCache[tuple[ReportRow, int, Style], Strip] = LRUCache(STRIPS_KEPT)

    # ------------------------------------------------------------------ data

    def set_source(self, count: Counter, fetch: Fetcher, *, keep_cursor: bool = False) -> None:
        """Show another query (filter or sort changed); the cursor returns to the top."""
        self._count_rows = count
        self._cache = PageCache(fetch)
        self.reload(keep_cursor=keep_cursor)

    def reload(self, *, keep_cursor: bool = True) -> None:
        """The index changed: drop cached pages and count again."""
        self._cache.clear()
        self.row_count = self._count_rows()
        self.virtual_size = Size(self.size.width, self.row_count + 1)
        cursor = min(self.cursor, self.row_count - 1) if keep_cursor else 0
        self.cursor = max(cursor, 0)
        self.refresh()

    @property
    def cache(self) -> PageCache[ReportRow]:
        return self._cache

    @property
    def current(self) -> ReportRow | None:
        if self.row_count == 0:
            return None
        return self._cache.get(self.cursor)

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, old: int, new: int) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        top = round(self.scroll_offset.y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False, immediate=True)
        else:  # only the two lines whose highlight changed need drawing again
            self.refresh_line(old + 1)
            self.refresh_line(new + 1)
            return
        self.refresh()

    def _move_to(self, index: int) -> None:
        if self.row_count:
            self.cursor = max(0, min(index, self.row_count - 1))

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(self.scrollable_content_region.height - 2, 1))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(self.row_count - 1)

    def action_open(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.Opened(row))

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.row_count + 1)

    # ------------------------------------------------------------------ rendering

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        widths = column_widths(width)
        if y == 0:
            style = self.get_component_rich_style("report-list--header")
            return self._strip(layout_line(header_cells(), widths), width, base + style)
        index = round(self.scroll_offset.y) + y - 1
        if index >= self.row_count:
            return Strip.blank(width, base)
        row = self._cache.get(index)
        if row is None:
            return Strip.blank(width, base)
        style = base
        if index == self.cursor:
            style = base + self.get_component_rich_style("report-list--cursor")
        key = (row, width, style)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strip(layout_line(row_cells(row), widths), width, style)
            self._strips[key] = strip
        return strip

    def _strip(self, line: Text, width: int, style: Style) -> Strip:
        segments = list(line.render(self.app.console))
        return Strip(segments).adjust_cell_length(width).apply_style(style)
