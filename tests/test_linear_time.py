"""Every regex over text from a mail runs in linear time (issue 11, item 5).

Each worst case is repeated 100,000 times and must cost no more CPU than a small multiple of a
plain scan of the same text. A super-linear pattern needs minutes on these inputs; a CPU-time
alarm stops it after the budget so the test fails instead of hanging.
"""

from __future__ import annotations

import base64
import gzip
import re
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from dmarctui import xmlrepair
from dmarctui.aggregate import AggregateError, parse_aggregate
from dmarctui.analysis import analyse_message
from dmarctui.extract import CONVENTIONAL
from dmarctui.failure import _source_ip, parse_failure
from dmarctui.lazy_headers import parse_message_lazily, plain_value
from dmarctui.model import MessageRef
from dmarctui.payloads import Limits, find_payloads
from dmarctui.record_split import split_records

N = 100_000
_PLAIN_SCAN = re.compile(r"(?:.|\n)*+")
"""The reference: one regex step per character of the same text."""


class OverBudget(Exception):
    pass


@contextmanager
def _cpu_alarm(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _cpu(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def assert_linear(run: Callable[[], object], text: str | bytes) -> None:
    """``run`` costs at most 60 plain scans of ``text`` (plus a 0.3 s floor for start-up)."""
    as_text = text.decode("latin-1") if isinstance(text, bytes) else text
    reference = min(_cpu(lambda: _PLAIN_SCAN.match(as_text)) for _ in range(3))
    budget = 60 * reference + 0.3
    try:
        with _cpu_alarm(budget):
            spent = _cpu(run)
    except OverBudget:
        pytest.fail(f"over {budget:.2f} s of CPU (a plain scan takes {reference:.4f} s)")
    assert spent <= budget


def _with_controls(body: str) -> bytes:
    return f"<?xml version='1.0'?><feedback>\x01{body}</feedback>".encode()


def test_unclosed_free_text_tags() -> None:
    data = _with_controls("<email>" * N)
    assert_linear(lambda: xmlrepair.repair(data), data)


def test_unclosed_free_text_tags_in_a_gzip_report() -> None:
    data = gzip.compress(_with_controls("<email>" * N))
    raw = (
        b"Subject: Report domain: example.org\nContent-Type: application/gzip\n"
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(data)
    )

    def scan() -> None:
        payloads, _ = find_payloads(parse_message_lazily(raw))
        with pytest.raises(AggregateError):
            parse_aggregate(payloads[0].data)

    assert_linear(scan, gzip.decompress(data))


def test_unclosed_schema_tags() -> None:
    data = _with_controls("<xs:schema a='b'>" * N)
    assert_linear(lambda: xmlrepair.repair(data), data)


def test_ampersands_and_free_text_mixed() -> None:
    data = _with_controls("<email>&amp" * N + "</email>")
    assert_linear(lambda: xmlrepair.repair(data), data)


@pytest.mark.parametrize("name", ["content-type", "content-disposition"])
@pytest.mark.parametrize(
    "value",
    ["text/plain" + " " * N + "x", "text/plain" + "; a=b" * N + " x", "a/b;" + " " * N + "x=",
     "attachment" + "\t" * N + ";"],
    ids=["blanks", "parameters", "blank-parameter", "tabs"],
)  # fmt: skip
def test_parameter_headers(name: str, value: str) -> None:
    assert_linear(lambda: plain_value(name, value), value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("from", "a." * N + "!"), ("from", "a@" + "b." * N + "!"), ("content-transfer-encoding",
     " " * N + "x"), ("message-id", "<" + "a" * N + "@b")],
    ids=["local-part", "domain", "cte", "message-id"],
)  # fmt: skip
def test_address_and_simple_headers(name: str, value: str) -> None:
    assert_linear(lambda: plain_value(name, value), value)


def test_text_failure_report_with_a_long_blank_run() -> None:
    text = (
        "From: a@b\nSubject: x\n\nA message claiming to be from you has failed\n"
        "Sender IP Address: 192.0.2.1" + " " * N + "x\n" + "Sender Domain: d" + "\t" * N + "\n"
    )
    message = parse_message_lazily(text.encode())
    assert_linear(lambda: parse_failure(message), text)


@pytest.mark.parametrize(
    "value", ["1" + " " * N + "x", "(" * N, "1 (" + ")" * N + "x"], ids=["blanks", "(", ")"]
)
def test_host_comment_stripping(value: str) -> None:
    assert_linear(lambda: _source_ip(value), value)


def test_field_names_without_a_colon() -> None:
    text = "A message claiming to be from you has failed\nSender" + " a" * N + "\n"
    message = parse_message_lazily(("Subject: x\n\n" + text).encode())
    assert_linear(lambda: parse_failure(message), text)


def test_record_split_on_unterminated_records() -> None:
    data = b"<feedback>" + b"<record><row><source_ip>1</source_ip><count>1</count>" * (N // 10)
    assert_linear(lambda: split_records(data), data)


def test_conventional_report_names() -> None:
    name = "a!b!1!2!" + ".xml" * N + "x"
    assert_linear(lambda: CONVENTIONAL.match(name), name)


def test_the_host_comment_is_still_stripped() -> None:
    assert _source_ip("54.240.8.61 (a8-61.smtp-out.amazonses.com)") == "54.240.8.61"
    assert _source_ip("[192.0.2.1]") == "192.0.2.1"
    assert _source_ip("192.0.2.1 (x) (y)  ") == "192.0.2.1"


def _issue_mails() -> dict[str, bytes]:
    """The three mails of the issue, at 100,000 repetitions instead of 40,000."""
    payload = gzip.compress(_with_controls("<email>" * N))
    gz = (
        b"Subject: Report domain: example.org\nContent-Type: application/gzip\n"
        b'Content-Disposition: attachment; filename="a!b!1!2.xml.gz"\n'
        b"Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(payload)
    )
    spaces = b"Subject: x\nContent-Type: text/plain" + b" " * N + b"x\n\nbody\n"
    failure = (
        b"Subject: x\nContent-Type: text/plain\n\nA message claiming to be from you has failed\n"
        b"Sender IP Address: 192.0.2.1" + b" " * N + b"x\n"
    )
    return {"gzip-email-tags": gz, "content-type-spaces": spaces, "failure-sender-ip": failure}


@pytest.mark.parametrize("name", list(_issue_mails()))
def test_the_issues_mails_scan_in_linear_time(name: str) -> None:
    """End to end, as the scan worker reads them; each message then takes a moment, so the
    worker's cancel check between messages is reached in time."""
    raw = _issue_mails()[name]
    inflated = gzip.decompress(gzip.compress(_with_controls("<email>" * N)))
    outcome = None

    def scan() -> None:
        nonlocal outcome
        outcome = analyse_message(raw, MessageRef("k", "k", len(raw), 0.0), Limits())

    assert_linear(scan, raw + (inflated if name.startswith("gzip") else b""))
    assert outcome is not None
    assert not any("unexpected" in p.reason for p in outcome.problems)
