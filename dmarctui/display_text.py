"""The one place where text from a mail becomes text for a terminal.

Everything in a report mailbox is written by strangers (DESIGN.md §3). Control characters
(C0, DEL, C1) would reach the terminal as escape sequences: colours, screen clears, OSC 52
clipboard writes. Bidi controls reorder what the user reads. ``visible`` replaces each with a
visible escape (``\\x1b``, ``\\u202e``) so the user sees that something was there, and the
terminal sees only printable text. Markup is the display layer's concern: the TUI turns these
strings into ``Text``/``Content`` objects (``dmarctui.tui.safe_text``), never into markup.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

_BIDI = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
"""Bidi controls, and the Unicode line and paragraph separators (a line break to some tools)."""
_HIDDEN = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
"""C0, DEL, C1, bidi controls, and lone surrogates (undecodable bytes kept by surrogateescape)."""
_SINGLE_LINE_HIDDEN = _HIDDEN
_MULTI_LINE_HIDDEN = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
"""As ``_HIDDEN`` but keeping tab and LF, for multi-line text (headers, raw XML)."""


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that was not valid in its encoding
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"  # valid JSON escapes too


def _json_escape(match: re.Match[str]) -> str:
    """As ``_escape``, but an undecodable byte (a lone surrogate) as ``\\udcNN``: still a
    valid JSON escape, where ``\\xNN`` would not be."""
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x20 else f"\\u{code:04x}"


def visible(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control and bidi character shown as an escape such as ``\\x1b``.

    ``multiline`` keeps tab and LF (for header blocks and documents); otherwise they are escaped
    too, so one value can never forge a second line of output.
    """
    value = "" if text is None else str(text)
    pattern = _MULTI_LINE_HIDDEN if multiline else _SINGLE_LINE_HIDDEN
    return pattern.sub(_escape, value)


def has_hidden(text: str) -> bool:
    """True when ``text`` holds a character ``visible`` would escape on one line."""
    return _HIDDEN.search(text) is not None


class VisibleWriter:
    """A text stream that passes everything written through ``visible`` (lines kept).

    The headless commands print report text (org names, subjects, reasons) to a terminal; with
    ``sys.stdout`` wrapped in this, no control or bidi character from a mail can reach it,
    whatever a command prints. Escapes for DEL, C1 and bidi are ``\\uNNNN``, so JSON output
    stays valid JSON and reads back the same text.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_MULTI_LINE_HIDDEN.sub(_json_escape, text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # flush, fileno, isatty, encoding ...
