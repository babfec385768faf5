"""An LRU cache of fixed-size pages of rows, so a list can show any row of a huge result set."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Row = TypeVar("Row")

PageFetcher = Callable[[int, int], list[Row]]
"""``fetch(offset, limit)`` returns at most ``limit`` rows starting at ``offset``."""


class PageCache(Generic[Row]):
    """Holds at most ``max_pages`` pages; a miss costs one ``fetch`` of ``page_size`` rows."""

    def __init__(
        self, fetch: PageFetcher[Row], *, page_size: int = 100, max_pages: int = 8
    ) -> None:
        self._fetch = fetch
        self.page_size = page_size
        self.max_pages = max_pages
        self._pages: OrderedDict[int, list[Row]] = OrderedDict()
        self.fetches = 0
        """How many pages were fetched: tests use it to check the list pages, not loads all."""

    def get(self, index: int) -> Row | None:
        number, within = divmod(index, self.page_size)
        page = self._pages.get(number)
        if page is None:
            page = self._fetch(number * self.page_size, self.page_size)
            self.fetches += 1
            self._pages[number] = page
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page[within] if within < len(page) else None

    def clear(self) -> None:
        self._pages.clear()

    @property
    def rows_held(self) -> int:
        return sum(len(page) for page in self._pages.values())
