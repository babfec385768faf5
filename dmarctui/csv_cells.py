"""CSV cells that a spreadsheet shows as text, never runs as a formula (OWASP CSV injection).

Report fields are written by strangers: an org name such as ``=HYPERLINK(...)`` must reach the
spreadsheet as those characters. A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return gets a leading ``'``, which spreadsheets take as "this is text" and hide.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as it may go into a CSV cell: text that could start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
