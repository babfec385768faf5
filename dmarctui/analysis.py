"""What one message holds: its reports, or the reason it holds none.

This is the per-message half of a scan. It depends only on the message bytes, so it can run in a
worker process; everything that needs the rest of the folder (duplicates, collisions) is the
ledger's job.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from dmarctui.aggregate import AggregateError, NotAggregate, content_key, parse_aggregate
from dmarctui.failure import parse_failure
from dmarctui.lazy_headers import TooDeeplyNested, parse_message_lazily
from dmarctui.mailstore import MailStoreError, MessageGone, read_message
from dmarctui.model import (
    FailureReport,
    FolderFormat,
    FoundReport,
    MessageRef,
    MessageSummary,
    Problem,
    TlsReport,
)
from dmarctui.payloads import Limits, Payload, find_payloads, summarise
from dmarctui.tlsrpt import TlsError, looks_like_tls, parse_tls

_NESTING_LIMIT = sys.getrecursionlimit() // 2
"""The feed parser recurses about twice per MIME level."""


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    ref: MessageRef
    summary: MessageSummary
    reports: tuple[FoundReport, ...] = ()
    failures: tuple[FailureReport, ...] = ()
    tls: tuple[TlsReport, ...] = ()
    problems: tuple[Problem, ...] = ()
    not_report_reason: str | None = None
    xml: dict[str, bytes] = field(default_factory=dict)
    """Decompressed XML per part, only when asked for (extract, raw view)."""


def analyse_message(
    raw: bytes, ref: MessageRef, limits: Limits, *, keep_xml: bool = False
) -> MessageOutcome:
    """Parse one message completely; never raises for bad input.

    The parsers turn every malformation they know into a reason; should one still fail in a way
    nobody foresaw, that message becomes an error with the exception's text instead of stopping
    the scan of the whole folder.
    """
    try:
        return _analyse(raw, ref, limits, keep_xml)
    except Exception as exc:  # one hostile message must not stop the folder
        return vanished(
            ref, f"unexpected failure reading this message ({type(exc).__name__}: {exc})"[:500]
        )


def _analyse(raw: bytes, ref: MessageRef, limits: Limits, keep_xml: bool) -> MessageOutcome:
    if len(raw) > limits.max_message:
        return too_large(ref, len(raw), limits)
    msg = parse_message_lazily(raw)
    if any(isinstance(defect, TooDeeplyNested) for defect in msg.defects):
        return vanished(
            ref,
            f"MIME parts nested more than the parser's limit (about {_NESTING_LIMIT} levels);"
            " the message was not read",
        )
    summary = summarise(msg)
    failure = parse_failure(msg)
    if failure is not None:
        return MessageOutcome(ref, summary, failures=(failure,))
    payloads, payload_problems = find_payloads(msg, limits)
    problems = [Problem(ref.key, p.reason, p.part, p.filename) for p in payload_problems]
    reports: list[FoundReport] = []
    tls: list[TlsReport] = []
    xml: dict[str, bytes] = {}
    ignored: list[str] = []
    for payload in payloads:
        if payload.kind == "json":
            _read_tls(ref, payload, tls, problems, ignored)
            continue
        try:
            report = parse_aggregate(payload.data, max_records=limits.max_records)
        except NotAggregate as exc:
            ignored.append(f"{_name(payload)} is XML but not a DMARC report ({exc})")
            continue
        except AggregateError as exc:
            problems.append(Problem(ref.key, str(exc), payload.part, payload.filename))
            continue
        reports.append(
            FoundReport(ref.key, payload.part, payload.filename, report, content_key(report))
        )
        if keep_xml:
            xml[payload.part] = payload.data
    reason = None
    if not reports and not tls and not problems:
        reason = "; ".join(ignored) if ignored else "no report attachment"
    return MessageOutcome(
        ref,
        summary,
        reports=tuple(reports),
        tls=tuple(tls),
        problems=tuple(problems),
        not_report_reason=reason,
        xml=xml,
    )


def too_large(ref: MessageRef, size: int, limits: Limits) -> MessageOutcome:
    """The outcome for a message over ``limits.max_message``: an error, and it is never read."""
    return vanished(
        ref,
        f"the message is {size / 2**20:.1f} MiB, more than the limit of"
        f" {limits.max_message / 2**20:.0f} MiB for one message; not read",
    )


def read_and_analyse(
    fmt: FolderFormat, folder: Path, ref: MessageRef, limits: Limits, *, keep_xml: bool = False
) -> tuple[MessageOutcome, bytes | None]:
    """Read one message (unless its listed size is over the limit) and analyse it; the raw
    bytes are returned too, None when they were not read."""
    if ref.size > limits.max_message:
        return too_large(ref, ref.size, limits), None
    try:
        raw = read_message(fmt, folder, ref)
    except OSError as exc:  # MessageGone and MailStoreError included
        return unreadable(ref, exc), None
    return analyse_message(raw, ref, limits, keep_xml=keep_xml), raw


def vanished(ref: MessageRef, why: str) -> MessageOutcome:
    """The outcome for a message that could not be read at all."""
    return MessageOutcome(ref, MessageSummary(), problems=(Problem(ref.key, why),))


def unreadable(ref: MessageRef, exc: OSError) -> MessageOutcome:
    """The outcome for a message the folder would not give back (``read_message`` raised)."""
    if isinstance(exc, MessageGone):
        return vanished(
            ref, "message disappeared during the scan (moved or deleted by another client)"
        )
    if isinstance(exc, MailStoreError):  # already says "cannot read message KEY (PATH): why"
        return vanished(ref, str(exc))
    return vanished(ref, f"cannot read message: {exc.strerror or exc}")


def _read_tls(
    ref: MessageRef,
    payload: Payload,
    found: list[TlsReport],
    problems: list[Problem],
    ignored: list[str],
) -> None:
    if not looks_like_tls(payload.data):
        ignored.append(f"{_name(payload)} is JSON but not an SMTP TLS report")
        return
    try:
        found.append(parse_tls(payload.data))
    except TlsError as exc:
        problems.append(Problem(ref.key, str(exc), payload.part, payload.filename))


def _name(payload: Payload) -> str:
    return payload.filename or f"part {payload.part}"
