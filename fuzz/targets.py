"""What each fuzz target feeds its bytes to, and what counts as a crash.

A target returns normally for every input the code is meant to handle, including the errors it
reports on purpose (``AggregateError``, ``TlsError`` ...). Anything else escaping, a message that
reaches ``analyse_message``'s last-resort catch-all, or a fast path disagreeing with its careful
counterpart raises, and the fuzzer records the input as a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from email import policy
from email.parser import BytesParser

from dmarctui import aggregate
from dmarctui.aggregate import AggregateError, NotAggregate, parse_aggregate
from dmarctui.analysis import analyse_message
from dmarctui.display_text import has_hidden, visible
from dmarctui.failure import parse_failure
from dmarctui.lazy_headers import LazyHeaderMessage, _split_simple, parse_message_lazily
from dmarctui.model import MessageRef
from dmarctui.payloads import Limits, parse_message, summarise
from dmarctui.tlsrpt import TlsError, parse_tls

_REF = MessageRef("fuzz", "fuzz", 0, 0.0)
_LIMITS = Limits(max_output=4 << 20, max_total=8 << 20)
CATCH_ALL = "unexpected failure reading this message"


class Disagreement(AssertionError):
    """A fast path gave another answer than the careful path it stands in for."""


def message(data: bytes) -> None:
    """One message end to end, as a scan worker reads it; every string shown must be visible."""
    outcome = analyse_message(data, _REF, _LIMITS)
    for problem in outcome.problems:
        if problem.reason.startswith(CATCH_ALL):
            raise AssertionError(problem.reason)
    for text in (outcome.summary.subject, outcome.summary.sender, outcome.not_report_reason):
        _check_visible(text)
    for found in outcome.reports:
        for record in found.report.records:
            if "\n" in record.source_ip or "\r" in record.source_ip:
                raise AssertionError(f"line break in a source_ip: {record.source_ip!r}")


def aggregate_report(data: bytes) -> None:
    """The aggregate parser, and its record_split fast path against the element tree."""
    try:
        fast = parse_aggregate(data)
    except (AggregateError, NotAggregate):
        return
    plain = aggregate._read_plain(data) if aggregate._no_dtd_possible(data) else None
    if plain is None:
        return
    try:
        careful = aggregate._Reader([]).report(
            *aggregate._feedback_root(aggregate._parse_defused(data))
        )
    except (AggregateError, NotAggregate) as exc:
        raise Disagreement(f"record_split read a report the tree refuses: {exc}") from None
    if careful != plain or fast != plain:
        raise Disagreement("record_split and the element tree read different reports")


def failure_report(data: bytes) -> None:
    """The failure (ruf) parser over a lazily parsed message."""
    report = parse_failure(parse_message_lazily(data))
    if report is not None:
        for text in (report.original_subject, report.original_from, report.source_ip):
            _check_visible(text)


def tls_report(data: bytes) -> None:
    """The SMTP TLS report parser."""
    try:
        parse_tls(data)
    except TlsError:
        return


def headers(data: bytes) -> None:
    """Header decoding: the lazy headers answer as the default policy's parse does."""
    lazy, eager = parse_message_lazily(data), parse_message(data)
    if summarise(lazy) != summarise(eager):
        raise Disagreement(f"summaries differ: {summarise(lazy)} != {summarise(eager)}")
    if lazy.get_content_type() != eager.get_content_type():
        raise Disagreement("content types differ")
    if lazy.get_filename() != eager.get_filename():
        raise Disagreement("file names differ")


def mime_split(data: bytes) -> None:
    """The fast MIME splitter against the stdlib feed parser, on whatever it accepts."""
    text = data.decode("ascii", errors="surrogateescape")
    fast = _split_simple(text)
    if fast is None:
        return
    slow = BytesParser(LazyHeaderMessage, policy=policy.compat32).parsebytes(data)
    if _state(fast) != _state(slow):
        raise Disagreement("the fast MIME split differs from the feed parser's")


def _state(message: object) -> dict[str, object]:
    state = {k: v for k, v in vars(message).items() if k not in ("_parsed", "_ctype", "defects")}
    payload = state.get("_payload")
    if isinstance(payload, list):
        state["_payload"] = [_state(part) for part in payload]
    return state


def _check_visible(text: str | None) -> None:
    if text is not None and has_hidden(visible(text)):
        raise AssertionError(f"visible() left a control character in {text!r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "message": message,
    "aggregate": aggregate_report,
    "failure": failure_report,
    "tls": tls_report,
    "headers": headers,
    "mime_split": mime_split,
}
