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

import re
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_PARAMS = rf'(?:;[ \t]*[A-Za-z0-9_-]+=(?:"[^"\\;\x00-\x08\x0a-\x1f]*"|{_TOKEN})[ \t]*)*'
_PLAIN = {
    "content-type": re.compile(rf"[ \t]*{_TOKEN}/{_TOKEN}[ \t]*{_PARAMS}[ \t]*"),
    "content-disposition": re.compile(rf"[ \t]*{_TOKEN}[ \t]*{_PARAMS}[ \t]*"),
    "content-transfer-encoding": re.compile(r"[ \t]*[A-Za-z0-9-]+[ \t]*"),
    "message-id": re.compile(r"<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+>"),
}
"""Spellings whose raw text answers every ``Message`` method as the parsed header would.

Parameter headers are re-rendered by the default policy (``charset=us-ascii`` becomes
``charset="us-ascii"``), but for these spellings the type, every parameter and the filename
read back the same; ``tests/test_scan_fastpaths.py`` checks that against the stdlib.
"""
_PARAMETER_NAME = re.compile(r";[ \t]*([A-Za-z0-9_-]+)=")
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
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


def _distinct_parameters(value: str) -> bool:
    """The default policy keeps only the first of repeated parameters; compat32 keeps all."""
    names = [name.lower() for name in _PARAMETER_NAME.findall(value)]
    return len(names) == len(set(names))


def _date_text(value: str) -> str | None:
    """What ``DateHeader`` shows: the date re-formatted, or the text itself when unparseable."""
    if not value:
        return None
    try:
        return format_datetime(parsedate_to_datetime(value))
    except ValueError:
        return value
    except Exception:  # whatever the stdlib does with it, let the full parse do the same
        return None


class LazyHeaderMessage(Message):
    """A message whose ``get`` returns what ``EmailMessage.get`` would, cached per name."""

    def get(self, name: str, failobj: Any = None) -> Any:
        cache: dict[str, Any] = self.__dict__.setdefault("_parsed", {})
        key = name.lower()
        if key not in cache:
            cache[key] = _read(key, self.raw_items())
        value = cache[key]
        return failobj if value is None else value

    def set_raw(self, name: str, value: Any) -> None:
        self.__dict__.pop("_parsed", None)
        super().set_raw(name, value)

    def __setitem__(self, name: str, val: Any) -> None:
        self.__dict__.pop("_parsed", None)
        super().__setitem__(name, val)

    def __delitem__(self, name: str) -> None:
        self.__dict__.pop("_parsed", None)
        super().__delitem__(name)


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
        return BytesParser(LazyHeaderMessage, policy=policy.compat32).parsebytes(raw)
    except Exception:  # the stdlib parser has had crash bugs on hostile input
        message = LazyHeaderMessage()
        message.set_payload(raw.decode("latin-1"))
        return message
