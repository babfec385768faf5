"""From one e-mail to the XML and JSON documents inside it, whatever the packaging.

Every MIME part is looked at, nested ``message/rfc822`` included, and the decoded bytes decide
what it is: the declared Content-Type is only a hint (reporters send zip as ``application/gzip``
and gzip as ``application/octet-stream``). Archives are unpacked in memory with hard limits, so a
bomb or a hostile zip costs a bounded amount of memory and yields a problem the user can read,
never a crash and never a file on disk.
"""

from __future__ import annotations

import base64
import binascii
import io
import quopri
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Literal

from dmarctui.lazy_headers import parse_message_lazily
from dmarctui.model import MessageSummary
from dmarctui.sniff import GZIP, JSON, XML, ZIP, may_be_report, sniff

PayloadKind = Literal["xml", "json"]

_MIB = 1 << 20
_READ_CHUNK = 1 << 16
_INFLATE_STEP = _MIB
"""Output inflated per call, so that a bomb is seen before it fills the limit."""
_BOMB_RATIO = 100
"""Inflated bytes per compressed byte past which a stream is a bomb, not a report: DMARC XML
compresses 10-30 to 1, a stream of one repeated byte about 1,000 to 1."""
_MAX_MIME_DEPTH = 32
_KNOWN_CTE = frozenset(
    {"", "7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue"}
)
_REPORT_TYPES = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/zip",
        "application/x-zip",
        "application/x-zip-compressed",
        "application/xml",
        "text/xml",
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
        "application/json",
    }
)
_TLSRPT_TYPES = frozenset({"application/tlsrpt+gzip", "application/tlsrpt+json"})
_REPORT_EXTENSION = re.compile(r"\.(xml|json|gz|gzip|zip)$", re.IGNORECASE)
_REPORT_DOCUMENT = re.compile(r"\.(xml|json)(\.gz|\.zip)?$", re.IGNORECASE)
_REPORT_SUBJECT = re.compile(r"report[ _-]?domain|report-id|dmarc|tls[ -]?report|tlsrpt", re.I)
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_BASE64_JUNK = bytes(set(range(256)) - set(_BASE64_ALPHABET))
"""Bytes dropped before decoding base64 (line breaks, spaces, stray characters)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one message may cost to unpack; every overrun is a reported problem."""

    max_output: int = 32 * _MIB
    """Largest document one archive member (or one gzip stream) may inflate to."""
    max_members: int = 100
    """Zip members read per archive; the rest are reported, not read."""
    max_depth: int = 3
    """Archives inside archives (gzip in zip, gzip in gzip) followed this deep."""
    max_total: int = 128 * _MIB
    """Decompressed bytes kept per message, all payloads together."""
    max_message: int = 32 * _MIB
    """Largest message read at all; parsing one costs several times its size in memory."""
    max_records: int = 100_000
    """Records read per aggregate report; a report with more is an error, never parsed."""


@dataclass(frozen=True, slots=True)
class Payload:
    """One XML or JSON document found in a message."""

    part: str
    """MIME part path (``2``, ``3.1``), plus ``/member`` for a zip member."""
    filename: str | None
    """Safe base name of the attachment or zip member; never a path."""
    content_type: str
    """What the MIME part claimed to be (the bytes decided ``kind``)."""
    container: str
    """``plain``, ``gzip``, ``zip`` or a nesting such as ``zip+gzip``."""
    kind: PayloadKind
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class PayloadProblem:
    """A part that should have held a report but could not be read; ``reason`` says why."""

    part: str
    filename: str | None
    reason: str


class _Unreadable(Exception):
    """An archive or encoding that cannot be unpacked; the message is a user-facing reason."""


# --------------------------------------------------------------------------- messages


def parse_message(raw: bytes) -> EmailMessage:
    """Parse raw bytes leniently: malformed MIME becomes defects, never an exception."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception:  # the stdlib parser has had crash bugs on hostile input
        message = EmailMessage()
        message.set_payload(raw.decode("latin-1"))
    assert isinstance(message, EmailMessage)
    return message


def summarise(msg: Message) -> MessageSummary:
    """The headers a person recognises a message by, decoded (RFC 2047, Japanese included)."""
    return MessageSummary(
        subject=_header_text(msg, "subject"),
        sender=_header_text(msg, "from"),
        date=_header_text(msg, "date"),
        message_id=_header_text(msg, "message-id"),
    )


def find_payloads(
    msg: Message, limits: Limits | None = None
) -> tuple[list[Payload], list[PayloadProblem]]:
    """Every XML/JSON document in ``msg``, and the parts that should have been one but failed.

    Text bodies, HTML, images and ordinary archives (a gzipped log) yield nothing and no problem.
    """
    report_subject = _REPORT_SUBJECT.search(_header_text(msg, "subject")) is not None
    walk = _Walk(limits or Limits(), report_subject)
    for path, part in _leaves(msg, "", 0, walk):
        walk.leaf(path, part)
    return walk.payloads, walk.problems


def safe_name(name: str | None) -> str | None:
    """A name from a mail reduced to a harmless base name (``../../x.xml`` becomes ``x.xml``)."""
    if not name:
        return None
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if not base.isprintable():
        base = "".join(char for char in base if char.isprintable())
    base = base.strip()
    if not base.strip("."):
        return None
    if len(base) > 200:
        base = f"{base[:100]}…{base[-99:]}"
    return base


# --------------------------------------------------------------------------- MIME walking


def _leaves(entity: Message, prefix: str, depth: int, walk: _Walk) -> Iterator[tuple[str, Message]]:
    """(part path, part) of every leaf of a message body, numbered as IMAP numbers them."""
    if depth > _MAX_MIME_DEPTH:
        walk.too_deep(prefix or "1")
        return
    if entity.get_content_maintype() == "multipart" and entity.is_multipart():
        for number, child in enumerate(_children(entity), 1):
            yield from _part(child, _join(prefix, number), depth + 1, walk)
    else:
        yield from _part(entity, _join(prefix, 1), depth + 1, walk)


def _part(part: Message, path: str, depth: int, walk: _Walk) -> Iterator[tuple[str, Message]]:
    if depth > _MAX_MIME_DEPTH:
        walk.too_deep(path)
        return
    ctype = _content_type(part)
    maintype = ctype.split("/", 1)[0]
    if maintype in ("multipart", "message") and _cte(part) in ("base64", "quoted-printable"):
        reparsed = _reparse_encoded_composite(part, ctype)
        if reparsed is not None and maintype == "message":
            yield from _leaves(reparsed, path, depth + 1, walk)
            return
        if reparsed is not None:  # a composite part illegally carrying a transfer encoding
            part = reparsed
    if maintype == "multipart" and part.is_multipart():
        for number, child in enumerate(_children(part), 1):
            yield from _part(child, _join(path, number), depth + 1, walk)
    elif ctype in ("message/rfc822", "message/global") and part.is_multipart():
        for inner in _children(part)[:1]:
            yield from _leaves(inner, path, depth + 1, walk)
    elif maintype != "message" or not part.is_multipart():
        yield path, part
    # other message/* (delivery-status, feedback-report) hold header blocks, never reports


def _reparse_encoded_composite(part: Message, ctype: str) -> Message | None:
    if part.is_multipart():
        if ctype.startswith("multipart/"):
            return None  # boundaries were found, so the encoding label was harmless
        try:
            inner = _children(part)[0]
            encoded = inner.as_bytes(policy=policy.compat32.clone(max_line_length=0))
            decoded = _decode_transfer(encoded, _cte(part))
        except Exception:  # the generator or the decoder gave up: walk the part as parsed
            return None
        return parse_message_lazily(decoded) if ctype.startswith("message/") else None
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return None
    header = f"Content-Type: {_header_text(part, 'content-type')}\r\n\r\n".encode(errors="replace")
    return parse_message_lazily(header + body)


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return (
        [child for child in payload if isinstance(child, Message)]
        if isinstance(payload, list)
        else []
    )


def _join(prefix: str, number: int) -> str:
    return f"{prefix}.{number}" if prefix else str(number)


# --------------------------------------------------------------------------- unpacking


class _Walk:
    """Collects payloads and problems for one message and enforces the per-message budget."""

    def __init__(self, limits: Limits, report_subject: bool) -> None:
        self.limits = limits
        self.report_subject = report_subject
        self.payloads: list[Payload] = []
        self.problems: list[PayloadProblem] = []
        self.kept = 0

    def problem(self, part: str, filename: str | None, reason: str) -> None:
        self.problems.append(PayloadProblem(part, filename, reason))

    def too_deep(self, part: str) -> None:
        self.problem(
            part, None, f"MIME parts nested more than {_MAX_MIME_DEPTH} levels deep; not read"
        )

    def leaf(self, path: str, part: Message) -> None:
        ctype = _content_type(part)
        filename = safe_name(_filename(part))
        declared = self._declared_report(ctype, filename)
        cte = _cte(part)
        if cte not in _KNOWN_CTE:
            if declared:
                self.problem(path, filename, f"unknown transfer encoding {cte!r}; not decoded")
            return
        try:
            data = _part_bytes(part, cte)
        except _Unreadable as exc:
            if declared:
                self.problem(path, filename, str(exc))
            return
        if not data.strip():
            if declared:
                self.problem(path, filename, "the attachment is empty: no report was sent in it")
            return
        self.unpack(data, path, filename, ctype, (), declared)

    def unpack(
        self,
        data: bytes,
        part: str,
        filename: str | None,
        ctype: str,
        layers: tuple[str, ...],
        declared: bool,
    ) -> None:
        if not declared and not may_be_report(data):
            return  # an ordinary body or attachment: nothing to find, nothing to report
        kind = sniff(data)
        if kind in (GZIP, ZIP) and len(layers) >= self.limits.max_depth:
            self.problem(part, filename, f"archives nested more than {len(layers)} deep; stopped")
        elif kind == GZIP:
            self._gunzip(data, part, filename, ctype, layers, declared)
        elif kind == ZIP:
            self._unzip(data, part, filename, ctype, layers, declared)
        elif kind in (XML, JSON):
            found: PayloadKind = "xml" if kind == XML else "json"
            self._keep(Payload(part, filename, ctype, "+".join(layers) or "plain", found, data))
        elif layers and declared:
            self.problem(
                part, filename, f"the report archive holds {_describe(kind)}, not XML or JSON"
            )
        elif declared and (ctype in _REPORT_TYPES or _REPORT_EXTENSION.search(filename or "")):
            self.problem(
                part,
                filename,
                f"sent as a report attachment but holds {_describe(kind)}, not a report",
            )

    def _declared_report(self, ctype: str, filename: str | None) -> bool:
        """Whether a part presents itself as a report, so that failing to read it is a problem."""
        name = filename or ""
        if ctype in _TLSRPT_TYPES or _REPORT_DOCUMENT.search(name):
            return True
        if "!" in name and _REPORT_EXTENSION.search(name):
            return True
        return self.report_subject and (
            ctype in _REPORT_TYPES or _REPORT_EXTENSION.search(name) is not None
        )

    def _gunzip(
        self,
        data: bytes,
        part: str,
        filename: str | None,
        ctype: str,
        layers: tuple[str, ...],
        declared: bool,
    ) -> None:
        try:
            inflated = _inflate_gzip(data, self.limits.max_output)
        except _Unreadable as exc:
            self.problem(part, filename, str(exc))
            return
        if inflated.strip() == b"unused":
            self.problem(
                part,
                filename,
                "the gzip attachment contains only the word 'unused' instead of a report"
                " (a known Yahoo/AOL sending fault); ask the sender for the report again",
            )
            return
        inner_name = re.sub(r"\.(gz|gzip)$", "", filename or "", flags=re.I)
        if not inflated.strip():
            if declared or _REPORT_DOCUMENT.search(inner_name):
                self.problem(part, filename, "the gzip attachment inflates to nothing: no report")
            return
        declared = declared or _REPORT_DOCUMENT.search(inner_name) is not None
        self.unpack(inflated, part, filename, ctype, (*layers, "gzip"), declared)

    def _unzip(
        self,
        data: bytes,
        part: str,
        filename: str | None,
        ctype: str,
        layers: tuple[str, ...],
        declared: bool,
    ) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            infos = [info for info in archive.infolist() if not _zip_junk(info)]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
            self.problem(part, filename, f"corrupt zip archive: {_short(exc)}")
            return
        except NotImplementedError as exc:  # a member claims a zip version Python cannot read
            self.problem(part, filename, f"unsupported zip archive: {_short(exc)}")
            return
        limit = self.limits.max_members
        if len(infos) > limit:
            self.problem(
                part,
                filename,
                f"the zip holds {len(infos)} files, more than the limit of {limit};"
                f" only the first {limit} were read",
            )
            infos = infos[:limit]
        used: set[str] = set()
        for index, info in enumerate(infos, 1):
            name = safe_name(info.filename) or f"member-{index}"
            if name in used:
                name = f"{name}~{index}"
            used.add(name)
            member_part = f"{part}/{name}"
            try:
                member = _read_member(archive, info, self.limits.max_output)
            except _Unreadable as exc:
                self.problem(member_part, name, str(exc))
                continue
            if not member.strip():
                if declared or _REPORT_DOCUMENT.search(name):
                    self.problem(member_part, name, "the zip member is empty: no report in it")
                continue
            member_declared = declared or _REPORT_DOCUMENT.search(name) is not None
            self.unpack(member, member_part, name, ctype, (*layers, "zip"), member_declared)

    def _keep(self, payload: Payload) -> None:
        if self.kept + len(payload.data) > self.limits.max_total:
            self.problem(
                payload.part,
                payload.filename,
                f"more than {_size(self.limits.max_total)} of reports in one message;"
                " this one was not read",
            )
            return
        self.kept += len(payload.data)
        self.payloads.append(payload)


def _inflate_gzip(data: bytes, limit: int) -> bytes:
    """Inflate gzip (concatenated members too) into at most ``limit`` bytes, streaming.

    zlib is used instead of the gzip module, which refuses some reporters' streams (Mimecast);
    bytes after the last member that do not start another member are ignored as padding.
    A stream whose trailer claims more than ``limit`` and whose first mebibyte inflates at a
    bomb's ratio is stopped there: inflating a bomb to the limit cost a quarter of a second and
    32 MiB per copy. Either signal alone is not trusted: a cut-off stream ends in arbitrary bytes,
    and a hostile trailer can lie, in which case the limit still stops it.
    """
    claims_past_limit = len(data) >= 18 and int.from_bytes(data[-4:], "little") > limit
    output = bytearray()
    pending = data
    consumed = 0
    while True:
        inflater = zlib.decompressobj(wbits=47)
        try:
            while not inflater.eof:
                chunk = inflater.decompress(pending, min(_INFLATE_STEP, limit + 1 - len(output)))
                output += chunk
                if len(output) > limit:
                    raise _Unreadable(f"gzip inflates past the {_size(limit)} limit; stopped")
                consumed += len(pending) - len(inflater.unconsumed_tail)
                pending = inflater.unconsumed_tail
                bomb = len(output) >= _INFLATE_STEP and len(output) > _BOMB_RATIO * consumed
                if bomb and claims_past_limit:
                    raise _Unreadable(f"gzip inflates past the {_size(limit)} limit; stopped")
                if not chunk and not pending and not inflater.eof:
                    raise _Unreadable(
                        "truncated gzip: unexpected end of stream (the attachment was cut off)"
                    )
        except zlib.error as exc:
            raise _Unreadable(f"corrupt gzip data: {_short(exc)}") from None
        pending = inflater.unused_data
        if not pending.startswith(b"\x1f\x8b"):
            return bytes(output)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A zip member's bytes, stopping at ``limit`` whatever the header claims."""
    output = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(_READ_CHUNK):
                output += chunk
                if len(output) > limit:
                    raise _Unreadable(f"zip member inflates past the {_size(limit)} limit; stopped")
    except _Unreadable:
        raise
    except RuntimeError as exc:  # encrypted member
        raise _Unreadable(f"cannot read the zip member: {_short(exc)}") from None
    except NotImplementedError as exc:
        raise _Unreadable(f"unsupported zip compression: {_short(exc)}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _Unreadable(f"corrupt zip member: {_short(exc)}") from None
    return bytes(output)


def _zip_junk(info: zipfile.ZipInfo) -> bool:
    """Directories and macOS AppleDouble files (``__MACOSX/``, ``._name``) carry no report."""
    name = info.filename.replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    return info.is_dir() or name.startswith("__MACOSX/") or base.startswith("._")


# --------------------------------------------------------------------------- decoding


def _part_bytes(part: Message, cte: str) -> bytes:
    if cte == "base64":
        raw = part.get_payload(decode=False)
        if isinstance(raw, str):
            return _decode_transfer(raw.encode("ascii", errors="replace"), cte)
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # uu and quoted-printable decoders on damaged input
        raise _Unreadable(f"cannot decode the {cte or '7bit'} transfer encoding: {exc}") from None
    return data if isinstance(data, bytes) else b""


def _decode_transfer(encoded: bytes, cte: str) -> bytes:
    """Decode base64 forgivingly (bad padding, stray characters) or quoted-printable."""
    if cte == "quoted-printable":
        return quopri.decodestring(encoded)
    cleaned = encoded.translate(None, _BASE64_JUNK)
    chunks = [cleaned.rstrip(b"=")]  # padding at the end only: the usual case, one block
    if b"=" in chunks[0]:
        chunks = re.split(rb"=+", cleaned)  # some encoders concatenate padded blocks
    decoded = bytearray()
    for chunk in chunks:
        usable = chunk[:-1] if len(chunk) % 4 == 1 else chunk  # a lone trailing character
        try:
            decoded += base64.b64decode(usable + b"=" * (-len(usable) % 4))
        except binascii.Error as exc:
            raise _Unreadable(f"undecodable base64 data: {exc}") from None
    if cleaned and not decoded:
        raise _Unreadable("undecodable base64 data: nothing could be decoded")
    return bytes(decoded)


# --------------------------------------------------------------------------- headers


def _header_text(msg: Message, name: str) -> str:
    """A header as one line of text; broken encodings degrade, they never raise."""
    try:
        value = msg.get(name)
        text = "" if value is None else str(value)
    except Exception:
        text = _raw_header_text(msg, name)
    text = text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
    return " ".join(text.split())


def _raw_header_text(msg: Message, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name:
            try:
                return str(make_header(decode_header(str(value))))
            except Exception:
                return str(value)
    return ""


def _content_type(part: Message) -> str:
    """The declared type; a ``ContentType:`` typo header (Trustwave SEG) is read as well."""
    try:
        if part.get("content-type") is None and part.get("contenttype") is not None:
            return _typo_header_view(part).get_content_type()
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
        if name is None and part.get("content-type") is None and part.get("contenttype"):
            name = _typo_header_view(part).get_filename()
    except Exception:
        return None
    return str(name) if name is not None else None


def _typo_header_view(part: Message) -> Message:
    view = Message()
    view["Content-Type"] = _header_text(part, "contenttype")
    return view


def _cte(part: Message) -> str:
    return _header_text(part, "content-transfer-encoding").lower()


# --------------------------------------------------------------------------- wording


def _describe(kind: str) -> str:
    names = {
        "text/plain": "plain text",
        "text/html": "an HTML page",
        "application/x-empty": "nothing",
        "application/octet-stream": "unrecognised binary data",
    }
    return names.get(kind, kind)


def _size(limit: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", _MIB), ("KiB", 1 << 10)):
        if limit >= size:
            value = limit / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{limit} bytes"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]
