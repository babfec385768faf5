"""Fold letter text to 72 columns, in English and in Japanese.

A letter must read well in any mail program, so no body line is wider than :data:`WIDTH`
columns, counting an East-Asian wide character as two. English breaks at spaces; Japanese has
no spaces and breaks between characters, with the basic kinsoku rules: a line never starts with
closing punctuation (。、）」 …) and never ends with an opening bracket (（「 …). A continued
bullet or numbered item keeps its hanging indent.
"""

from __future__ import annotations

import re
import unicodedata

WIDTH = 72
NO_LINE_START = frozenset(
    "、。，．・：；？！ー―‐～…‥）〕］｝〉》」』】〙〗〟’”ゝゞヽヾ々"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"
    ",.:;!?)]}%"
)
"""Characters that may not begin a line (gyōtō kinsoku, plus ASCII closers)."""
NO_LINE_END = frozenset("（〔［｛〈《「『【〘〖〝‘“([{")
"""Characters that may not end a line (gyōmatsu kinsoku)."""
_MARKER = re.compile(r"(?:・|■ ?|[-*] |\d{1,2}[.)] )")
"""A bullet or item number at the start of a line: continuation lines hang after it."""


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def width(text: str) -> int:
    """Terminal columns of ``text`` (wide and full-width characters count two)."""
    return sum(char_width(ch) for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def _tokens(text: str) -> list[str]:
    """Spaces, runs of narrow non-space characters (words), and single wide characters."""
    tokens: list[str] = []
    for ch in text:
        kind = "s" if ch == " " else ("w" if char_width(ch) == 2 else "n")
        last = tokens[-1] if tokens else ""
        last_kind = (
            ""
            if not last
            else ("s" if last[0] == " " else ("w" if char_width(last[0]) == 2 else "n"))
        )
        if tokens and kind == last_kind and kind != "w":
            tokens[-1] += ch
        else:
            tokens.append(ch)
    return tokens


def _chunks(text: str) -> list[tuple[bool, str]]:
    """Unbreakable pieces, each with whether a space stood before it (dropped at a break)."""
    chunks: list[tuple[bool, str]] = []
    spaced = False
    for token in _tokens(text):
        if token[0] == " ":
            spaced = True
            continue
        glued = (
            chunks
            and not spaced
            and (token[0] in NO_LINE_START or chunks[-1][1][-1] in NO_LINE_END)
        )
        joinable = (
            chunks
            and not spaced
            and char_width(token[0]) == 1
            and char_width(chunks[-1][1][-1]) == 1
        )
        if glued or joinable:
            before, piece = chunks[-1]
            chunks[-1] = (before, piece + token)
        else:
            chunks.append((spaced, token))
        spaced = False
    return chunks


def _split_long(piece: str, room: int) -> list[str]:
    """A piece wider than a whole line (a long URL or host name), cut by columns."""
    parts, current = [], ""
    for ch in piece:
        if current and width(current) + char_width(ch) > room:
            parts.append(current)
            current = ""
        current += ch
    return [*parts, current] if current else parts


def wrap_line(line: str, columns: int = WIDTH) -> list[str]:
    """``line`` folded to ``columns``; continuation lines hang under the item's text."""
    line = line.rstrip()
    if width(line) <= columns:
        return [line]
    body = line.lstrip(" ")
    indent = " " * (len(line) - len(body))
    marker = _MARKER.match(body)
    hang = indent + " " * (width(marker.group(0)) if marker else 0)
    if width(hang) > columns // 2:
        hang = indent if width(indent) <= columns // 2 else ""
    lines: list[str] = []
    current = indent
    fresh = True  # nothing but the indent on the current line yet
    for spaced, piece in _chunks(body):
        sep = " " if spaced and not fresh else ""
        if width(current) + width(sep) + width(piece) <= columns:
            current += sep + piece
            fresh = False
            continue
        if not fresh:
            lines.append(current.rstrip())
            current, fresh = hang, True
        room = columns - width(current)
        if width(piece) <= room:
            current += piece
            fresh = False
            continue
        *full, rest = _split_long(piece, max(1, room))
        lines.extend(current + part for part in full[:1])
        lines.extend(hang + part for part in full[1:])
        current, fresh = hang + rest, False
    if not fresh or current.strip():
        lines.append(current.rstrip())
    return lines


def wrap_text(text: str, columns: int = WIDTH) -> str:
    """Every line of ``text`` folded to ``columns`` (lines that fit are left as they are)."""
    out: list[str] = []
    for line in text.split("\n"):
        out.extend(wrap_line(line, columns))
    return "\n".join(out)


def widest_line(text: str) -> int:
    return max((width(line) for line in text.split("\n")), default=0)
