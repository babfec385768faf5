"""A failing part costs only that part (issue 11, items 14 and 15).

Each case once reached ``analyse_message``'s last-resort catch-all, losing the message's other
reports. Every message here carries a good gzip report besides the hostile part: the report
must survive, and the hostile part must give its own reason (or be read around).
"""

from __future__ import annotations

import io
import zipfile

import pytest

from dmarctui.analysis import MessageOutcome, analyse_message
from dmarctui.model import MessageRef
from dmarctui.payloads import Limits
from tests.mailbuild import aggregate_xml, gzip_bytes, mail, mime_part, multipart

REF = MessageRef("k", "k", 0, 0.0)
CATCH_ALL = "unexpected failure"


def _good_part() -> str:
    return mime_part(gzip_bytes(aggregate_xml()), "application/gzip", filename="good.xml.gz")


def _analyse(raw: bytes) -> MessageOutcome:
    outcome = analyse_message(raw, REF, Limits())
    reasons = [p.reason for p in outcome.problems]
    assert not any(CATCH_ALL in r for r in reasons), reasons
    return outcome


def _zip_claiming_version(version: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("report.xml", aggregate_xml())
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 6 : central + 8] = version.to_bytes(2, "little")
    return bytes(data)


def test_a_zip_member_claiming_version_13_4_is_a_problem_of_its_own() -> None:
    bad = mime_part(_zip_claiming_version(134), "application/zip", filename="bad.xml.zip")
    outcome = _analyse(mail(multipart(_good_part(), bad)))
    assert len(outcome.reports) == 1
    assert [p.reason for p in outcome.problems] == [
        "unsupported zip archive: zip file version 13.4"
    ]


def test_xml_declaring_utf7_is_an_error_with_a_reason() -> None:
    bad_xml = aggregate_xml().replace(b'encoding="UTF-8"', b'encoding="UTF-7"')
    bad = mime_part(gzip_bytes(bad_xml), "application/gzip", filename="utf7.xml.gz")
    outcome = _analyse(mail(multipart(_good_part(), bad)))
    assert len(outcome.reports) == 1
    (problem,) = outcome.problems
    assert "UTF-7" in problem.reason or "utf-7" in problem.reason


def test_utf7_that_its_codec_cannot_decode_is_an_error_with_a_reason() -> None:
    """Found by the fuzzer: a broken UTF-7 shift sequence made the repair step raise."""
    from dmarctui.aggregate import AggregateError, parse_aggregate

    data = b'<?xml version=aaaa+aaa\xb7a"1.0" encoding="UTF-7" ?>\n<feedback></feedback>'
    with pytest.raises(AggregateError, match="XML declaration not well-formed"):
        parse_aggregate(data)


@pytest.mark.parametrize(
    "charset", ["utf\x00-8", "x-no-such-charset\x00", "\x00"], ids=["nul-inside", "nul-end", "nul"]
)
def test_a_nul_in_a_charset_is_read_around(charset: str) -> None:
    text = mime_part(b"hello", f'text/plain; charset="{charset}"', cte="8bit", disposition=None)
    outcome = _analyse(mail(multipart(text, _good_part(), subtype="mixed")))
    assert len(outcome.reports) == 1


def test_a_nul_in_the_charset_of_eight_bit_text_is_read_around() -> None:
    """Found by the fuzzer: the stdlib decodes 8-bit text with the charset named, and a NUL in
    the name raises ValueError, which it does not expect."""
    body = "Feedback-Type: auth-failure\r\nSource-IP: 192.0.2.1\r\nX: caf\u00e9\r\n".encode()
    text = mime_part(body, 'text/plain; charset="utf\x00"', cte="8bit", disposition=None)
    outcome = _analyse(mail(multipart(text, _good_part(), subtype="mixed")))
    (failure,) = outcome.failures
    assert failure.source_ip == "192.0.2.1"


ARF = (
    "Content-Type: message/feedback-report\r\n\r\n"
    "Feedback-Type: auth-failure\r\nAuth-Failure: dmarc\r\nSource-IP: 192.0.2.1\r\n"
    "Reported-Domain: example.org\r\n"
)


def _failure_with_original(headers: str) -> bytes:
    text = mime_part(b"A DMARC failure report.", "text/plain", cte="7bit", disposition=None)
    sample = f"Content-Type: message/rfc822\r\n\r\n{headers}\r\n\r\nbody\r\n"
    body = multipart(text, ARF, sample, subtype="report; report-type=feedback-report")
    return mail(body, subject="DMARC failure report")


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ("From: a: b; c", "a: b; c"),
        ("From: =?utf-8?b?a?=", "=?utf-8?b?a?="),
        ("Subject: =?utf-8\u00e9?q?x?=", "?q?x?="),
        ("Subject: =?utf-8\x00?q?x?=", None),
    ],
    ids=["group-syntax", "bad-base64", "bad-charset", "nul-charset"],
)
def test_odd_original_headers_keep_the_failure_report(header: str, shown: str | None) -> None:
    outcome = _analyse(_failure_with_original(f"{header}\r\nTo: x@example.org"))
    (failure,) = outcome.failures
    assert failure.source_ip == "192.0.2.1"
    assert failure.original_to == "x@example.org"
    if shown is not None:
        value = failure.original_from if header.startswith("From") else failure.original_subject
        assert value is not None and shown in value


@pytest.mark.parametrize(
    "header",
    [
        "Subject: =?utf-8?b?a?=",
        "Subject: =?utf-8\u00e9?q?x?=",
        "From: a: b; c",
    ],
)
def test_odd_top_level_headers_keep_the_reports(header: str) -> None:
    raw = mail(multipart(_good_part()), extra_headers=[header.replace("Subject", "X-Subject")])
    raw = raw.replace(b"X-Subject", b"Subject", 1) if header.startswith("Subject") else raw
    assert len(_analyse(raw).reports) == 1


@pytest.mark.parametrize("levels", [40, 600, 3000])
def test_past_the_nesting_limit_the_message_is_an_error_saying_so(levels: int) -> None:
    entity = _good_part()
    for _ in range(levels):
        entity = multipart(entity)
    outcome = _analyse(mail(entity))
    assert outcome.not_report_reason is None
    (problem,) = outcome.problems
    assert "nested" in problem.reason and "levels" in problem.reason
