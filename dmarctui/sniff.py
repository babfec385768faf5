"""What a run of bytes really is, whatever the MIME label claimed.

Reporters label gzip as ``application/octet-stream``, zip as ``application/gzip`` and XML as
``text/plain``, so every decision is taken on the bytes. libmagic (python-magic) names the binary
formats when it loads; the built-in signature checks cover gzip, zip and a few formats that show
up attached to ordinary mail, so a host without libmagic gives the same answers for reports.

libmagic does not recognise XML without an ``<?xml`` declaration, nor tell HTML from XML
reliably, so text is always classified by the structural checks below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

GZIP = "gzip"
ZIP = "zip"
XML = "xml"
JSON = "json"

_HEAD = 8192
"""How many leading bytes are looked at: enough for a declaration, comments and a DOCTYPE."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", GZIP),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),  # an empty archive: only the end-of-central-directory record
    (b"PK\x07\x08", ZIP),  # spanned-archive marker some writers leave at the start
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BZh", "application/x-bzip2"),
    (b"\xfd7zXZ\x00", "application/x-xz"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/x-rar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # Outlook .msg
)

_MAGIC_NAMES = {
    "application/gzip": GZIP,
    "application/x-gzip": GZIP,
    "application/zip": ZIP,
    "application/x-zip-compressed": ZIP,
}

_TEXTUAL_MIME = frozenset(
    {
        "application/json",
        "application/xml",
        "application/x-empty",
        "application/octet-stream",  # libmagic's "don't know": let the text checks decide
        "message/rfc822",
    }
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)

_TEXT_BYTES = bytes(range(0x20, 0x100)) + b"\t\n\r\f\x1b"
"""Bytes found in text in any ASCII-compatible charset; more than 10% of others means binary."""

_HTML_ELEMENTS = frozenset(
    {"html", "head", "body", "div", "p", "span", "table", "font", "center", "pre", "br", "hr"}
    | {"a", "b", "i", "u", "meta", "style", "title", "h1", "h2", "h3", "h4", "h5", "h6"}
)
"""Roots of the HTML bodies mail clients send; a report's root is ``feedback``."""

_FIRST_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")


def sniff(data: bytes) -> str:
    """Name the format of ``data``: ``gzip``, ``zip``, ``xml``, ``json`` or a MIME type.

    Anything that is neither an archive nor XML/JSON gets a MIME type such as ``text/plain``,
    ``text/html`` or ``application/pdf`` (``application/x-empty`` for no bytes at all), which is
    only used to tell the user what an attachment was instead of a report.
    """
    if not data:
        return "application/x-empty"
    head = data[:_HEAD]
    if head.startswith(b"\x1f\x8b"):
        return GZIP  # what libmagic and the signatures both say; asking libmagic costs more
    if _is_feedback_document(head):
        return XML  # the root element decides, as for all text (see the module docstring)
    if head.startswith(b"PK\x03\x04") and _first_member_is_report(head):
        return ZIP  # libmagic only names other zip formats by members such as "mimetype"
    binary = _binary_kind(head)
    if binary is not None:
        return binary
    return _text_kind(head)


def may_be_report(data: bytes) -> bool:
    """False when ``sniff`` cannot possibly answer gzip, zip, XML or JSON, decided cheaply.

    That is text (by the same test ``sniff`` uses) that does not read as XML or JSON: libmagic
    names archives only by their leading signature and can turn text only into another
    non-report type, so asking it would change nothing but the name of what was found.
    """
    head = data[:_HEAD]
    if head.startswith((b"\x1f\x8b", b"PK")) or _decode_head(head) is None:
        return True
    return _text_kind(head) in (XML, JSON)


def magic_available() -> bool:
    """True when libmagic loaded and is used to name binary formats."""
    return _magic_function() is not None


def _binary_kind(head: bytes) -> str | None:
    identify = _magic_function()
    if identify is not None:
        mime = identify(head)
        if mime in _MAGIC_NAMES:
            return _MAGIC_NAMES[mime]
        if not mime.startswith("text/") and mime not in _TEXTUAL_MIME:
            return mime
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


@cache
def _magic_function() -> Callable[[bytes], str] | None:
    """libmagic's MIME detector, or None when the shared library cannot be loaded."""
    if _force_fallback:
        return None
    try:
        import magic
    except (ImportError, OSError):
        return None
    try:
        detector = magic.Magic(mime=True)
    except Exception:  # libmagic present but its database is missing or broken
        return None
    return detector.from_buffer


_force_fallback = False


def use_builtin_signatures(enabled: bool = True) -> None:
    """Ignore libmagic even when it loads (tests compare both paths; a user may distrust it)."""
    global _force_fallback
    _force_fallback = enabled
    _magic_function.cache_clear()


def _text_kind(head: bytes) -> str:
    text = _decode_head(head)
    if text is None:
        return "application/octet-stream"
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return JSON if _looks_like_json(stripped) else "text/plain"
    if stripped.startswith("<"):
        root = _first_element(stripped)
        if root is not None and root.lower() in _HTML_ELEMENTS:
            return "text/html"
        if stripped.startswith("<?xml") or root is not None:
            return XML
    return "text/plain"


def _first_member_is_report(head: bytes) -> bool:
    """A zip whose first member is named like a report (``receiver!domain!begin!end.xml``)."""
    length = int.from_bytes(head[26:28], "little")
    name = head[30 : 30 + length].lower()
    return b"!" in name and name.endswith((b".xml", b".json"))


def _is_feedback_document(head: bytes) -> bool:
    """Text whose first element is a DMARC ``<feedback>`` (any namespace prefix)."""
    text = _decode_head(head)
    if text is None or not text.lstrip().startswith("<"):
        return False
    root = _first_element(text.lstrip())
    return root is not None and root.rpartition(":")[2] == "feedback"


def _decode_head(head: bytes) -> str | None:
    """The head as text, or None when it is binary (NUL bytes outside UTF-16)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, errors="replace")
    if head.startswith(b"<\x00?\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head.startswith(b"\x00<\x00?"):
        return head.decode("utf-16-be", errors="replace")
    if b"\x00" in head or len(head.translate(None, _TEXT_BYTES)) * 10 > len(head):
        return None
    return head.decode("latin-1")


def _looks_like_json(text: str) -> bool:
    """An object or array whose first member starts like JSON (not a ``[section]`` ini file)."""
    inner = text[1:].lstrip()
    return inner[:1] in ('"', "}", "]", "{", "[") or (text[0] == "[" and inner[:1].isdigit())


def _first_element(text: str) -> str | None:
    """Name of the first element after the prolog (declaration, comments, DOCTYPE)."""
    position = 0
    while True:
        position = text.find("<", position)
        if position < 0:
            return None
        if text.startswith("<?", position):
            end = text.find("?>", position)
        elif text.startswith("<!--", position):
            end = text.find("-->", position)
        elif text.startswith("<!", position):
            if text[position : position + 14].lower().startswith("<!doctype html"):
                return "html"
            end = text.find(">", position)
        else:
            match = _FIRST_ELEMENT.match(text, position)
            return match.group(1) if match else None
        if end < 0:
            return None
        position = end + 1
