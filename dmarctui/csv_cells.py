"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV injection").

Cells hold report text written by strangers: an org name ``=HYPERLINK(…)`` or a source IP
``@SUM(…)`` would run when the file is opened in a spreadsheet. Every CSV the tool writes goes
through ``SafeCsvWriter``, which prefixes such text cells with ``'``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""OWASP's list, plus the full-width forms some spreadsheets also accept."""


def safe_cell(value: object) -> object:
    """``value`` as a cell: text that a spreadsheet would read as a formula gets a ``'`` prefix.

    Numbers stay numbers: a negative count is data, not a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` with every cell neutralised."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])
