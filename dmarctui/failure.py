"""Read DMARC failure (ruf) reports: ARF (RFC 5965 / 6591 / 9991) and the plain-text variant.

Failure reports are rare and loosely formatted, so recognition is generous: a
``message/feedback-report`` part anywhere in the message, a text part that carries
``Feedback-Type:`` fields (mislabelled ``text/plain``), or the Exim / cPanel / Baruwa text
("A message claiming to be from you has failed …") without any ARF part. Delivery-status
bounces are also ``multipart/report`` but are not failure reports.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime
from typing import Any

from dmarctui.model import FailureReport
from dmarctui.source_address import canonical_address

DELIVERY_RESULTS = ("delivered", "spam", "policy", "reject", "other")
"""RFC 6591 Delivery-Result values; vendor spellings such as ``smg-policy-action`` map by word."""

TEXT_VARIANT_MARKER = "A message claiming to be from you has failed"

_TEXT_FIELD = re.compile(r"^[ \t]*+([A-Z][A-Za-z]*+(?: [A-Za-z]++)*+)[ \t]*+:[ \t]*+(.*)$", re.M)
"""A ``Name: value`` line; the value's trailing blanks are stripped in code (a lazy ``(.*?)``
before ``[ \t]*$`` took quadratic time on a value with 40,000 spaces)."""
_COPY_SEPARATORS = ("------ This is a copy of", "detected.")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:", re.M)


def parse_failure(msg: Message) -> FailureReport | None:
    """Read a failure report from a parsed e-mail.

    Args:
        msg: the whole message (``email.message.EmailMessage`` or a compat32 ``Message``).

    Returns:
        The report, or None when the message is not a failure report (including
        ``report-type=delivery-status`` bounces).
    """
    if _report_type(msg) == "delivery-status":
        return None
    fields_text = None
    sample: Message | None = None
    plain_texts: list[str] = []  # every text/plain part, when no ARF fields were found
    for part in _leaf_parts(msg):
        kind = part.get_content_type()
        if kind == "message/feedback-report" and fields_text is None:
            fields_text = _part_text(part)
        elif _is_sample_type(kind) and sample is None:
            sample = _sample_headers(part)
        elif kind == "text/plain" and fields_text is None:
            text = _part_text(part)
            plain_texts.append(text)
            if _ARF_FIELDS.search(text):
                fields_text = text
    if fields_text is not None:
        return _from_arf(fields_text, sample)
    for text in plain_texts:
        if TEXT_VARIANT_MARKER in text:
            return _from_text_variant(text, sample)
    return None


_ARF_FIELDS = re.compile(r"^Feedback-Type:", re.M | re.I)


# --------------------------------------------------------------------------- MIME walking


def _report_type(msg: Message) -> str | None:
    if msg.get_content_type() != "multipart/report":
        return None
    value = msg.get_param("report-type")
    return str(value).strip().lower() if isinstance(value, str) else None


def _leaf_parts(msg: Message) -> Iterator[Message]:
    """Every non-multipart part, without descending into the attached original message."""
    if msg.get_content_maintype() == "multipart" and isinstance(msg.get_payload(), list):
        for part in _sub_messages(msg):
            yield from _leaf_parts(part)
    else:
        yield msg


def _sub_messages(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    return (
        [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []
    )


def _is_sample_type(content_type: str) -> bool:
    """``message/rfc822``, ``text/rfc822-headers`` and the other spellings reporters use."""
    main, _, sub = content_type.partition("/")
    return main in ("message", "text") and sub.replace("-", "").startswith("rfc822")


def _part_text(part: Message) -> str:
    """The part's content as text, whatever the parser made of it (a sub-message or a str)."""
    payload = part.get_payload()
    if isinstance(payload, list):  # message/* parsed as an attached message
        return "\n".join(_message_as_text(sub) for sub in _sub_messages(part))
    raw = part.get_payload(decode=True)
    if isinstance(raw, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return raw.decode(charset, errors="replace")
        except (LookupError, ValueError):  # unknown charset, or a NUL in its name
            return raw.decode("utf-8", errors="replace")
    return str(payload)


def _message_as_text(msg: Message) -> str:
    headers = "".join(f"{name}: {value}\n" for name, value in msg.items())
    body = msg.get_payload()
    return headers + ("\n" + body if isinstance(body, str) else "")


def _sample_headers(part: Message) -> Message:
    attached = _sub_messages(part)
    if attached:
        return attached[0]
    return HeaderParser().parsestr(_part_text(part).lstrip("\r\n"), headersonly=True)


# --------------------------------------------------------------------------- field reading


def _clean(value: object) -> str:
    """A header value as one line of text, RFC 2047 words decoded."""
    text = str(value)
    if "=?" in text:
        # bad base64 (HeaderParseError), a bad charset name (CharsetError), NUL in it (ValueError)
        with contextlib.suppress(ValueError, LookupError, MessageError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def _fields(text: str) -> Message:
    """ARF fields are header syntax (RFC 5965 §3.2); CRLF bodies and folding included."""
    return HeaderParser().parsestr(text.replace("\r\n", "\n").lstrip("\n"), headersonly=True)


def _get_all(fields: Message, name: str) -> list[object]:
    """A header's values; its raw text when the header parser fails on it (``From: a: b; c``
    makes the stdlib's address parser raise ``AttributeError``)."""
    try:
        return list(fields.get_all(name) or ())
    except Exception:  # the stdlib header parser has crash bugs on hostile input
        return [value for key, value in fields.raw_items() if key.lower() == name.lower()]


def _first(fields: Message, *names: str) -> str | None:
    for name in names:
        for value in _get_all(fields, name)[:1]:
            if _clean(value):
                return _clean(value)
    return None


def _all(fields: Message, name: str, split: bool = False) -> tuple[str, ...]:
    values = [_clean(v) for v in _get_all(fields, name)]
    if split:
        values = [item.strip() for value in values for item in value.split(",")]
    return tuple(value for value in values if value)


def _source_ip(value: str | None) -> str | None:
    """``54.240.8.61 (a8-61.smtp-out.amazonses.com)`` → ``54.240.8.61``; brackets dropped."""
    if not value:
        return None
    stripped = value.rstrip()
    if stripped.endswith(")") and (opening := stripped.find("(")) >= 0:
        value = value[:opening]  # a trailing "(host name)" comment; plain string search, linear
    address = value.strip().strip("[] ")
    return canonical_address(address)  # never a line break or a header; one spelling per address


def _epoch(date: str | None) -> int | None:
    if not date:
        return None
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # "-0000" or no zone: RFC 5322 says the zone is unknown; take UTC
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _delivery_result(value: str | None) -> str | None:
    if not value:
        return None
    lowered = value.lower()
    return next((known for known in DELIVERY_RESULTS if known in lowered), "other")


def _sample_fields(sample: Message | None) -> dict[str, Any]:
    """``original_*`` keyword arguments of FailureReport, from the attached original's headers."""
    if sample is None:
        return {}
    return {
        "original_from": _first(sample, "From"),
        "original_to": _first(sample, "To"),
        "original_subject": _first(sample, "Subject"),
        "original_message_id": _first(sample, "Message-ID"),
    }


def _from_arf(text: str, sample: Message | None) -> FailureReport:
    fields = _fields(text)
    arrival = _first(fields, "Arrival-Date", "Received-Date")
    return FailureReport(
        format="arf",
        feedback_type=(_first(fields, "Feedback-Type") or "").lower() or None,
        auth_failure=tuple(v.lower() for v in _all(fields, "Auth-Failure", split=True)),
        source_ip=_source_ip(_first(fields, "Source-IP")),
        reported_domain=tuple(v.lower() for v in _all(fields, "Reported-Domain")),
        original_mail_from=_first(fields, "Original-Mail-From"),
        original_rcpt_to=_all(fields, "Original-Rcpt-To"),
        arrival_date=arrival,
        arrival_epoch=_epoch(arrival),
        delivery_result=_delivery_result(_first(fields, "Delivery-Result")),
        dkim_domain=_first(fields, "DKIM-Domain"),
        dkim_selector=_first(fields, "DKIM-Selector"),
        identity_alignment=_first(fields, "Identity-Alignment"),
        authentication_results=_first(fields, "Authentication-Results"),
        reporting_mta=_first(fields, "Reporting-MTA"),
        user_agent=_first(fields, "User-Agent"),
        **_sample_fields(sample),
    )


def _from_text_variant(text: str, sample: Message | None) -> FailureReport:
    """Exim's ``Sender Domain: … / Sender IP Address: …`` summary, optionally followed by a copy
    of the message headers."""
    text = text.replace("\r\n", "\n")
    summary, copy = text, ""
    for separator in _COPY_SEPARATORS:
        if separator in text:
            summary, _, copy = text.partition(separator)
            break
    if sample is None and (headers := _HEADER_LINE.search(copy)):
        sample = HeaderParser().parsestr(copy[headers.start() :], headersonly=True)
    fields = {name.lower(): value.rstrip(" \t") for name, value in _TEXT_FIELD.findall(summary)}
    aligned = [
        mechanism
        for mechanism in ("dkim", "spf")
        if fields.get(f"{mechanism} alignment", "").lower() in ("yes", "pass", "aligned")
    ]
    has_alignment = any(f"{m} alignment" in fields for m in ("dkim", "spf"))
    domain = fields.get("sender domain")
    arrival = fields.get("received date") or fields.get("arrival date")
    verdicts = [
        f"{name}: {fields[name.lower()]}"
        for name in ("SPF Alignment", "DKIM Alignment", "DMARC Results")
        if name.lower() in fields
    ]
    return FailureReport(
        format="text",
        feedback_type="auth-failure",
        auth_failure=("dmarc",),
        source_ip=_source_ip(fields.get("sender ip address")),
        reported_domain=(domain.lower(),) if domain else (),
        arrival_date=arrival,
        arrival_epoch=_epoch(arrival),
        identity_alignment=(",".join(aligned) or "none") if has_alignment else None,
        authentication_results="; ".join(verdicts) or None,
        **_sample_fields(sample),
    )
