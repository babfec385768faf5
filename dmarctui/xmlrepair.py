"""Repairs that let a strictly invalid aggregate report parse, each recorded with its position.

Real reporters send XML that a strict parser rejects: ISO-8859-1 / windows-1252 bytes inside a
document that declares (or defaults to) UTF-8, stray C0 control characters (BEL in Yahoo ARC
comments), ``<`` / ``>`` / ``&`` left unescaped in ``<email>`` or URLs, and an unclosed
``<xs:schema>`` start tag or stray text before the root (IKEA, sitnet.dk). These functions work on
the decoded text, change only what matches their pattern, and say what they changed and where.

Lines are 1-based; columns are 1-based and counted in characters, as a text editor shows them.
Nothing here expands entities or touches DOCTYPEs: the repaired text goes back through defusedxml.
"""

from __future__ import annotations

import bisect
import codecs
import re
from collections.abc import Callable, Iterator

from dmarctui.model import Repair

MAX_LISTED = 50
"""Repairs listed one by one; beyond this one summary repair says how many more there were."""

_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_UTF8_NAMES = {"utf-8", "utf8", "utf_8"}
_FOREIGN_BYTES = re.compile("[\udc80-\udcff]+")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FREE_TEXT_TAGS = (
    r"(email|extra_contact_info|org_name|report_id|comment|human_result|error|generator"
    r"|header_from|envelope_from|envelope_to|domain|selector)"
)
_FREE_TEXT_START = re.compile(rf"<{_FREE_TEXT_TAGS}(?:\s[^<>]*+)?>")
_FREE_TEXT_END = re.compile(rf"</{_FREE_TEXT_TAGS}\s*+>")
"""Start and end tags of the text-only elements; paired by ``_free_text_spans`` in one pass
(a lazy ``(.*?)</\\2>`` regex rescanned the rest of the text for every unclosed start tag)."""
_BARE_AMPERSAND = re.compile(r"&(?!#?\w+;)")
_SCHEMA_START = re.compile(r"<(\w++):schema\b[^<>]*+(?<!/)>")
_PROLOG_JUNK = re.compile(r"^(\ufeff?\s*<\?xml[^>]*\?>)([^<]*?)(?=<)", re.DOTALL)


def declared_encoding(data: bytes) -> str | None:
    """The encoding named in the XML declaration, lower-cased, or None when there is none."""
    match = _DECLARATION.match(data)
    return match.group(1).decode("ascii").lower() if match else None


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and character column of ``text[index]``."""
    line = text.count("\n", 0, index) + 1
    return line, index - text.rfind("\n", 0, index)


def _windows_1252(raw: bytes) -> str:
    """Read bytes as windows-1252; latin-1 for the five bytes windows-1252 leaves undefined."""
    return "".join(codecs.decode(bytes([b]), "cp1252", errors="ignore") or chr(b) for b in raw)


class _Log:
    """Collects repairs, listing the first MAX_LISTED and counting the rest."""

    def __init__(self) -> None:
        self.repairs: list[Repair] = []
        self.unlisted: dict[str, int] = {}

    def add(self, kind: str, text: str, index: int, detail: str) -> None:
        if len(self.repairs) < MAX_LISTED:
            line, column = position(text, index)
            self.repairs.append(Repair(kind, line, column, detail))
        else:
            self.unlisted[kind] = self.unlisted.get(kind, 0) + 1

    def finish(self) -> list[Repair]:
        for kind, count in self.unlisted.items():
            self.repairs.append(Repair(kind, 0, 0, f"{count} more {kind} repairs not listed"))
        return self.repairs


def decode_for_repair(data: bytes, log: _Log | None = None) -> str:
    """Decode the document so that every byte survives: foreign bytes become lone surrogates.

    An encoding name Python does not know is treated as UTF-8 (logged as a repair when ``log``
    is given); the repaired text is fed to the parser as ``str``, so the declaration no longer
    decides how bytes are read.
    """
    encoding = declared_encoding(data)
    if encoding is None or encoding in _UTF8_NAMES:
        return data.decode("utf-8", errors="surrogateescape")
    try:
        return data.decode(encoding, errors="surrogateescape")
    except (LookupError, UnicodeError) as exc:  # unknown, or a codec that still fails (UTF-7)
        text = data.decode("utf-8", errors="surrogateescape")
        if log is not None:
            why = "unknown" if isinstance(exc, LookupError) else "undecodable"
            log.add(
                "reencoded",
                text,
                text.find(encoding) if encoding in text.lower() else 0,
                f"{why} encoding {encoding!r} declared; read as UTF-8",
            )
        return text


def reencode_foreign_bytes(text: str, log: _Log) -> str:
    """Bytes that are not valid in the declared encoding are read as windows-1252 instead."""

    def fix(match: re.Match[str]) -> str:
        raw = match.group().encode("utf-8", errors="surrogateescape")
        value = _windows_1252(raw)
        log.add(
            "reencoded",
            text,
            match.start(),
            (
                f"bytes {_escaped(raw)} are not valid in the declared encoding; "
                f"read as windows-1252 {value!r}"
            ),
        )
        return value

    return _FOREIGN_BYTES.sub(fix, text)


def drop_control_chars(text: str, log: _Log) -> str:
    """C0 control characters other than tab, LF and CR are not allowed in XML 1.0: drop them."""

    def fix(match: re.Match[str]) -> str:
        log.add(
            "control_chars",
            text,
            match.start(),
            f"dropped control character \\x{ord(match.group()):02x}",
        )
        return ""

    return _CONTROL_CHARS.sub(fix, text)


def escape_free_text(text: str, log: _Log) -> str:
    """Escape ``<``, ``>`` and bare ``&`` inside text-only elements such as ``<email>``.

    ``<email><dmarc@example.net></email>`` and ``?a=1&b=2`` URLs occur in real reports.
    """
    pieces: list[str] = []
    done = 0
    for inner_start, inner_end, tag in _free_text_spans(text):
        inner = text[inner_start:inner_end]
        if "</" in inner or "<!" in inner:
            continue  # structure, a comment or CDATA: not a stray character
        escaped = _BARE_AMPERSAND.sub("&amp;", inner).replace("<", "&lt;").replace(">", "&gt;")
        if escaped == inner:
            continue
        log.add(
            "escaped_markup", text, inner_start,
            f"escaped markup characters inside <{tag}>: {inner.strip()!r}",
        )  # fmt: skip
        pieces += [text[done:inner_start], escaped]
        done = inner_end
    return "".join([*pieces, text[done:]]) if pieces else text


def _free_text_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Each text-only element as (content start, content end, tag), in one pass.

    An element runs from its start tag to the first end tag of the same name after it; the
    next element is looked for after that end tag, as a non-overlapping regex search would.
    """
    ends: dict[str, list[tuple[int, int]]] = {}
    for end in _FREE_TEXT_END.finditer(text):
        ends.setdefault(end.group(1), []).append((end.start(), end.end()))
    done = 0
    for start in _FREE_TEXT_START.finditer(text):
        if start.start() < done:
            continue
        tag = start.group(1)
        candidates = ends.get(tag, [])
        at = bisect.bisect_left(candidates, (start.end(), -1))
        if at == len(candidates):
            continue
        end_start, end_end = candidates[at]
        yield start.end(), end_start, tag
        done = end_end


def drop_stray_prolog(text: str, log: _Log) -> str:
    """Drop text between the XML declaration and the root, and an unclosed ``<xs:schema>`` tag.

    Line breaks inside what is dropped are kept: every repair leaves line numbers unchanged.
    """
    junk = _PROLOG_JUNK.match(text)
    if junk and junk.group(2).strip():
        log.add(
            "stray_text",
            text,
            junk.start(2),
            f"dropped text before the root element: {junk.group(2).strip()!r}",
        )
        text = text[: junk.start(2)] + _newlines(junk.group(2)) + text[junk.end(2) :]
    closed = {m.group(1) for m in re.finditer(r"</(\w++):schema", text)}

    def drop(match: re.Match[str]) -> str:
        if match.group(1) in closed:
            return match.group()
        log.add(
            "stray_tag", text, match.start(), f"dropped unclosed start tag {match.group()[:60]!r}"
        )
        return _newlines(match.group())

    return _SCHEMA_START.sub(drop, text)


REPAIRS: tuple[Callable[[str, _Log], str], ...] = (
    reencode_foreign_bytes,
    drop_control_chars,
    escape_free_text,
    drop_stray_prolog,
)


def repair(data: bytes) -> tuple[str, list[Repair]] | None:
    """Apply every repair that finds something to fix.

    Returns:
        The repaired text (to be fed to the parser as ``str``) and the repairs, or None when no
        repair applies and the document's error must stand as it is.
    """
    log = _Log()
    text = decode_for_repair(data, log)
    for step in REPAIRS:
        text = step(text, log)
    repairs = log.finish()
    return (text, repairs) if repairs else None


def _newlines(dropped: str) -> str:
    """What stays of dropped text: its line breaks, so line numbers keep matching the file."""
    return "\n" * dropped.count("\n")


def _escaped(raw: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in raw)


def show_context(line_text: str, column: int, width: int = 30) -> str:
    """A short, one-line excerpt around a 1-based character column with odd bytes made visible.

    Foreign bytes (decoded as lone surrogates) and control characters appear as ``\\xNN``.
    """
    index = max(column - 1, 0)
    start = max(index - width, 0)
    end = min(index + 20, len(line_text))
    excerpt = line_text[start:end]
    shown = "".join(_visible(ch) for ch in excerpt)
    return ("…" if start > 0 else "") + shown + ("…" if end < len(line_text) else "")


def _visible(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if (code < 0x20 and ch != "\t") or code == 0x7F:
        return f"\\x{code:02x}"
    return ch
