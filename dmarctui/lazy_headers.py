"""A parsed e-mail whose headers answer as ``policy.default`` does, at a fraction of the cost.

``policy.default`` turns a header into an object through a full RFC 5322 parse every time it is
read, and the MIME walk reads each part's Content-Type about thirty times: that dominated the
scan. Here headers are stored raw (compat32), parsed once when first read, and for the common
plain spellings not parsed at all: a value is handed back as it was written (unfolded) when, for
that kind of header, the default policy's text would be the same or would give every ``Message``
method the same answers. Anything else (RFC 2047 words, RFC 2231 parameters, comments,
non-ASCII, odd syntax) goes through the default policy itself.
"""

from __future__ import annotations

import datetime
import re
from email import policy
from email.errors import MessageDefect
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]++"
_PARAMS = rf'(?:;[ \t]*+[A-Za-z0-9_-]++=(?:"[^"\\;\x00-\x08\x0a-\x1f]*+"|{_TOKEN})[ \t]*+)*+'
_PLAIN = {
    "content-type": re.compile(rf"[ \t]*+{_TOKEN}/{_TOKEN}[ \t]*+{_PARAMS}[ \t]*+"),
    "content-disposition": re.compile(rf"[ \t]*+{_TOKEN}[ \t]*+{_PARAMS}[ \t]*+"),
    "content-transfer-encoding": re.compile(r"[ \t]*+[A-Za-z0-9-]++[ \t]*+"),
    "message-id": re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]++@[A-Za-z0-9.-]++>"),
}
"""Spellings whose raw text answers every ``Message`` method as the parsed header would.

Parameter headers are re-rendered by the default policy (``charset=us-ascii`` becomes
``charset="us-ascii"``), but for these spellings the type, every parameter and the filename
read back the same; ``tests/test_scan_fastpaths.py`` checks that against the stdlib.
"""
_PARAMETER_NAME = re.compile(r";[ \t]*([A-Za-z0-9_-]+)=")
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]++(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]++)*+"
    r"@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*+"
)
"""Every quantifier here and in ``_PLAIN`` is possessive: what follows a run can never be part
of it, so giving characters back only multiplied the work on hostile input (40,000 spaces)."""
_ASCII_TEXT = re.compile(r"[\t\x20-\x7e]*")
_STRUCTURED = frozenset(HeaderRegistry().registry) - {"subject"}


class _ClassCachingRegistry(HeaderRegistry):
    """``HeaderRegistry`` builds a new class on every lookup; the classes are the same each time."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


_DEFAULT = policy.default.clone(header_factory=_ClassCachingRegistry())


def plain_value(name: str, raw: str) -> str | None:
    """``raw`` unfolded when, for header ``name``, it reads exactly as the parsed header would.

    None when only the default policy's full parse can say (``name`` is lower-case).
    """
    value = raw.replace("\r", "").replace("\n", "")
    if "=?" in value or not _ASCII_TEXT.fullmatch(value):
        return None
    if name not in _STRUCTURED:
        return value  # unstructured text (Subject, X-*) without encoded words reads back as is
    pattern = _PLAIN.get(name)
    if pattern is not None:
        return value if pattern.fullmatch(value) and _distinct_parameters(value) else None
    if name in _ADDRESS_HEADERS:
        return value if _ADDR_SPEC.fullmatch(value) else None
    if name == "date":
        return _date_text(value)
    return None


_PARAMETER_HEADERS = frozenset({"content-type", "content-disposition"})


def _plain_params(value: str) -> list[tuple[str, str]]:
    """What ``Message._get_params_preserve`` makes of a plain spelling (``_PLAIN``): no ``;``,
    quote or backslash inside a quoted value and no RFC 2231 name, so splitting at ``;`` and
    ``=`` is exact, and the stdlib's unquote-then-quote only wraps the value in quotes."""
    main, *pieces = value.split(";")
    params = [(main.strip(), "")]
    for piece in pieces:
        name, _, raw = piece.partition("=")
        raw = raw.strip()
        if len(raw) > 1 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        params.append((name.strip().lower(), f'"{raw}"'))
    return params


def _distinct_parameters(value: str) -> bool:
    """The default policy keeps only the first of repeated parameters; compat32 keeps all."""
    names = [name.lower() for name in _PARAMETER_NAME.findall(value)]
    return len(names) == len(set(names))


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
)}  # fmt: skip
_CANONICAL_DATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-3]\d) ([A-Z][a-z]{2}) ([12]\d{3}) "
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d [+-](?:[01]\d|2[0-3])[0-5]\d"
)
"""A date as ``format_datetime`` writes it (when its weekday is right), so re-formatting it
gives it back unchanged: a four-digit year, an offset of whole minutes under a day."""


def _date_text(value: str) -> str | None:
    """What ``DateHeader`` shows: the date re-formatted, or the text itself when unparseable."""
    if not value:
        return None
    canonical = _CANONICAL_DATE.fullmatch(value)
    if canonical is not None:
        weekday, day, month, year = canonical.group(1, 2, 3, 4)
        try:
            real = _WEEKDAYS[datetime.date(int(year), _MONTHS.get(month, 0), int(day)).weekday()]
        except ValueError:  # no such day: the full parse below decides
            real = None
        if real == weekday:
            return value
    try:
        return format_datetime(parsedate_to_datetime(value))
    except ValueError:
        return value
    except Exception:  # whatever the stdlib does with it, let the full parse do the same
        return None


_ABSENT = object()
"""Parameters of a header the message does not have."""


class LazyHeaderMessage(Message):
    """A message whose ``get`` returns what ``EmailMessage.get`` would, cached per name.

    Its content type and header parameters are cached too: the MIME walk asks each part for
    them about twenty times. Every way of changing headers or the default type drops the caches.
    """

    def get(self, name: str, failobj: Any = None) -> Any:
        cache: dict[str, Any] = self.__dict__.setdefault("_parsed", {})
        key = name.lower()
        if key not in cache:
            cache[key] = _read(key, self.raw_items())
        value = cache[key]
        return failobj if value is None else value

    def get_payload(self, i: int | None = None, decode: bool = False) -> Any:
        """As ``Message.get_payload``, also when the charset name holds a NUL: the stdlib then
        raises ``ValueError`` where it expects ``LookupError``; its own fallback is used."""
        try:
            return super().get_payload(i, decode)  # type: ignore[call-overload]
        except ValueError:
            payload = self._payload  # type: ignore[attr-defined]
            if i is not None or decode or not isinstance(payload, str):
                raise
            return payload.encode("ascii", "surrogateescape").decode("ascii", "replace")

    def get_content_type(self) -> str:
        ctype: str | None = self.__dict__.get("_ctype")
        if ctype is None:
            ctype = self.__dict__["_ctype"] = super().get_content_type()
        return ctype

    def _get_params_preserve(self, failobj: Any, header: str) -> Any:
        """The header's parameters, parsed once per header: ``get_param`` is asked for the
        charset, boundary, name and filename of every part, and each ask parsed them again."""
        cache: dict[str, Any] = self.__dict__.setdefault("_params", {})
        key = header.lower()
        params = cache.get(key)
        if params is None:
            value = self.get(key) if key in _PARAMETER_HEADERS else None
            if type(value) is str:  # a plain spelling (plain_value)
                params = _plain_params(value)
            else:
                params = super()._get_params_preserve(_ABSENT, header)  # type: ignore[misc]
            cache[key] = params = _ABSENT if params is _ABSENT else tuple(params)
        return failobj if params is _ABSENT else list(params)

    def _forget(self) -> None:
        self.__dict__.pop("_parsed", None)
        self.__dict__.pop("_ctype", None)
        self.__dict__.pop("_params", None)

    def set_raw(self, name: str, value: Any) -> None:
        self._forget()
        super().set_raw(name, value)

    def __setitem__(self, name: str, val: Any) -> None:
        self._forget()
        super().__setitem__(name, val)

    def __delitem__(self, name: str) -> None:
        self._forget()
        super().__delitem__(name)

    def add_header(self, _name: str, _value: str, **_params: Any) -> None:
        self._forget()
        super().add_header(_name, _value, **_params)

    def replace_header(self, _name: str, _value: Any) -> None:
        self._forget()
        super().replace_header(_name, _value)

    def set_default_type(self, ctype: str) -> None:
        self._forget()
        super().set_default_type(ctype)


def _read(key: str, items: Any) -> Any:
    for name, raw in items:
        if name.lower() == key:
            if isinstance(raw, str):
                plain = plain_value(key, raw)
                if plain is not None:
                    return plain
            return _DEFAULT.header_fetch_parse(name, raw)
    return None


def parse_message_lazily(raw: bytes) -> Message:
    """Parse raw bytes leniently, as ``payloads.parse_message`` does, reading headers lazily."""
    try:
        simple = _split_simple(raw.decode("ascii", "surrogateescape"))
    except Exception:  # header methods on hostile input: the feed parser decides below
        simple = None
    if simple is not None:
        return simple
    try:
        return BytesParser(LazyHeaderMessage, policy=policy.compat32).parsebytes(raw)
    except Exception as exc:  # the stdlib parser has had crash bugs on hostile input
        message = LazyHeaderMessage()
        message.set_payload(raw.decode("latin-1"))
        if isinstance(exc, RecursionError):
            message.defects.append(TooDeeplyNested())
        return message


class TooDeeplyNested(MessageDefect):
    """MIME parts nested deeper than the parser can follow (hundreds of levels): not read."""


# --------------------------------------------------------------------------- simple messages

_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]++:")
"""A header line as the feed parser's ``headerRE`` takes it, minus its odd cases (an empty name,
a ``From `` envelope line)."""
_MULTIPART_CTE = ("7bit", "8bit", "binary")
_MAX_NESTING = 4
"""Multiparts nested deeper than this go through the feed parser."""
_BOUNDARY_KINDS = {"": "part", "--": "close"}


def _split_simple(text: str) -> LazyHeaderMessage | None:
    """The message the stdlib feed parser would build, for the common well-formed shapes.

    The feed parser reads a message line by line and compiles a regular expression for every
    MIME boundary (unique per message): half of a scan's parsing time. A message with LF line
    ends whose top level is a single part, or a multipart of single parts with exact boundary
    lines, is cut here with ``str.find`` into the very objects the feed parser makes (same
    headers, payloads, preamble, epilogue). Anything else returns None and goes the long way;
    ``tests/test_scan_fastpaths2.py`` compares both on the corpus and on edge cases.
    """
    if "\r" in text:
        return None
    head = _head(text)
    if head is None:
        return None
    root, body = head
    maintype = root.get_content_maintype()
    if maintype == "message":
        return None
    if maintype != "multipart":
        root.set_payload(body)
        return root
    return _multipart(root, body, 0)


def _multipart(message: LazyHeaderMessage, body: str, depth: int) -> LazyHeaderMessage | None:
    boundary = message.get_boundary()
    if (
        boundary is None
        or message.get_content_type() == "multipart/digest"
        or str(message.get("content-transfer-encoding", "8bit")).lower() not in _MULTIPART_CTE
    ):
        return None
    return _split_parts(message, body, "--" + boundary, depth)


def _split_parts(
    root: LazyHeaderMessage, body: str, separator: str, depth: int
) -> LazyHeaderMessage | None:
    """Attach each part between boundary lines; None on anything the feed parser would read
    with a defect or differently (no closing boundary, doubled boundaries, trailing blanks)."""
    at, end, kind = _next_boundary(body, separator, 0)
    if kind != "part":
        return None
    if at > 0:
        root.preamble = body[: at - 1]
    parts: list[LazyHeaderMessage] = []
    while kind == "part":
        if end < 0:
            return None
        start = end + 1
        at, end, kind = _next_boundary(body, separator, start)
        if kind not in ("part", "close") or at == start:
            return None
        part = _part(body[start:at], depth)
        if part is None:
            return None
        parts.append(part)
    for part in parts:
        root.attach(part)
    root.epilogue = "" if end < 0 else body[end + 1 :]
    return root


def _next_boundary(body: str, separator: str, start: int) -> tuple[int, int, str]:
    """Start, end (its newline, -1 at the end of the text) and kind of the first line at or
    after ``start`` (a line start) that the feed parser's boundary regex matches.

    The kind is "part", "close", "odd" (with trailing blanks) or "" when there is none. A line
    that merely starts with the separator (an inner boundary extending the outer one) is not one.
    """
    if body.startswith(separator, start):
        at = start
    else:
        found = body.find("\n" + separator, start)
        at = found + 1 if found >= 0 else -1
    while at >= 0:
        end = body.find("\n", at)
        rest = body[at + len(separator) : end if end >= 0 else len(body)]
        kind = _BOUNDARY_KINDS.get(rest)
        if kind is not None:
            return at, end, kind
        if not rest.removeprefix("--").strip(" \t"):
            return at, end, "odd"
        if end < 0:
            break
        found = body.find("\n" + separator, end)
        at = found + 1 if found >= 0 else -1
    return -1, -1, ""


def _part(region: str, depth: int) -> LazyHeaderMessage | None:
    """One part; the line end before the next boundary belongs to the boundary (RFC 2046)."""
    head = _head(region)
    if head is None:
        return None
    part, body = head
    maintype = part.get_content_maintype()
    if maintype == "message" or (maintype == "multipart" and depth >= _MAX_NESTING):
        return None
    if maintype != "multipart":
        part.set_payload(body[:-1] if body.endswith("\n") else body)
        return part
    if _multipart(part, body, depth + 1) is None:
        return None
    epilogue = part.epilogue
    part.epilogue = None if not epilogue else epilogue.removesuffix("\n")
    return part


def _head(text: str) -> tuple[LazyHeaderMessage, str] | None:
    """A message with the headers of ``text`` and the body after its blank line."""
    message = LazyHeaderMessage(policy=policy.compat32)
    if text.startswith("\n"):
        return message, text[1:]
    end = text.find("\n\n")
    if end < 0:
        return None
    lines = text[: end + 1].split("\n")
    lines.pop()
    # compat32's header_source_parse and set_raw, inlined (a tenth of the message parsing):
    # the value after the colon without its leading blanks, continuation lines kept as written.
    headers = message._headers  # type: ignore[attr-defined]
    name: str | None = None
    value: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and name is not None:
            value.append(line)
            continue
        if not _HEADER_NAME.match(line):
            return None
        if name is not None:
            headers.append((name, "\n".join(value)))
        name, _, first = line.partition(":")
        value = [first.lstrip(" \t")]
    if name is not None:
        headers.append((name, "\n".join(value)))
    return message, text[end + 2 :]
