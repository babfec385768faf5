"""Failure (ruf) report recognition: ARF parts, mislabelled parts, the Exim text variant."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import Message
from pathlib import Path

import pytest

from dmarctui.failure import parse_failure

DATA = Path(__file__).parent / "data"

NO_DELIVERY_RESULT = "no Delivery-Result field: we keep None, parsedmarc says 'other'"
DELIVERY_RESULT_DIFFERENCES = {
    "raw/failure/stalwart__003.eml": NO_DELIVERY_RESULT,
    "raw/failure/stalwart__004.eml": NO_DELIVERY_RESULT,
}


def read(path: Path, policy: email.policy.Policy = email.policy.default) -> Message:
    return email.message_from_bytes(path.read_bytes(), policy=policy)


def corpus_failures(corpus: Path) -> list[dict]:
    expected = json.loads((corpus / "expected.json").read_text())
    return [entry for entry in expected["files"] if entry["kind"] == "failure"]


def test_every_corpus_failure_report_matches_parsedmarc(corpus: Path) -> None:
    entries = corpus_failures(corpus)
    assert len(entries) == 4
    for entry in entries:
        oracle = entry["parsedmarc"]
        report = parse_failure(read(corpus / entry["file"]))
        assert report is not None, entry["file"]
        assert report.format == "arf"
        assert report.feedback_type == oracle["feedback_type"]
        assert report.source_ip == oracle["source_ip"]
        assert report.reported_domain == (oracle["reported_domain"],)
        assert list(report.auth_failure) == oracle["auth_failure"]
        assert report.original_mail_from == oracle["original_mail_from"]
        assert report.original_subject == oracle["sample_subject"]
        if entry["file"] in DELIVERY_RESULT_DIFFERENCES:
            assert report.delivery_result is None and oracle["delivery_result"] == "other"
        else:
            assert report.delivery_result == oracle["delivery_result"]


def test_compat32_messages_read_the_same(corpus: Path) -> None:
    for entry in corpus_failures(corpus):
        path = corpus / entry["file"]
        modern = parse_failure(read(path))
        legacy = parse_failure(read(path, email.policy.compat32))
        assert legacy is not None and modern is not None
        assert (legacy.source_ip, legacy.reported_domain, legacy.original_subject) == (
            modern.source_ip,
            modern.reported_domain,
            modern.original_subject,
        )


def test_crlf_message_reads_the_same(corpus: Path) -> None:
    path = corpus / "raw/failure/pm__dmarc_ruf_report_linkedin.eml"
    crlf = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    report = parse_failure(email.message_from_bytes(crlf, policy=email.policy.default))
    assert report is not None
    assert report.arrival_epoch == 1556590140  # Tue, 30 Apr 2019 02:09:00 +0000
    assert report.original_rcpt_to == ("recipient@linkedin.com",)
    assert report.original_from == "Sender <sender@example.com>"


def test_failure_report_for_our_own_domain_in_the_mh_folder(corpus: Path) -> None:
    report = parse_failure(read(corpus / "mail/MH/55"))
    assert report is not None
    assert report.source_ip == "192.0.2.15"
    assert report.reported_domain == ("sub.example.ac.jp",)
    assert report.delivery_result == "spam"
    assert report.dkim_domain == "sub.example.ac.jp"
    assert report.original_subject == "Scan to e-mail"
    assert report.original_message_id == "<66ab34e19e8ec667@sub.example.ac.jp>"
    assert report.arrival_epoch == 1720266960  # 2024-07-06 11:56:00 UTC


def test_delivery_status_bounce_is_not_a_failure_report(corpus: Path) -> None:
    assert parse_failure(read(corpus / "mail/MH/54")) is None


def test_opendmarc_report_with_headers_only_sample() -> None:
    report = parse_failure(read(DATA / "stalwart__004.eml"))
    assert report is not None
    assert report.source_ip == "148.163.85.135", "the '(hostname)' comment is stripped"
    assert report.user_agent == "OpenDMARC-Filter/1.3.2"
    assert report.original_from == '"Rolf Bader" <info@interpublication.org>'
    assert report.authentication_results == (
        "box.mydomain.name; dmarc=fail header.from=interpublication.org"
    )


ARF_AS_TEXT_PLAIN = """\
From: reports@receiver.example
To: dmarc-ruf@example.ac.jp
Subject: Report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b"

--b
Content-Type: text/plain

An authentication failure report.

--b
Content-Type: text/plain

Feedback-Type: auth-failure
Version: 1
Source-IP: 203.0.113.9
Reported-Domain: example.ac.jp
Reported-Domain: sub.example.ac.jp
Auth-Failure: dmarc, spf
Identity-Alignment: dkim
Delivery-Result: smg-policy-action
DKIM-Selector: s2024
Reporting-MTA: dns; mx.receiver.example
Arrival-Date: 6 Jul 2024 11:56:00 -0000

--b
Content-Type: message/rfc-822-headers

From: =?UTF-8?B?56CU56m25a6k?= <lab@example.ac.jp>
Subject: =?UTF-8?B?5a6f6aiT57WQ5p6c?=
Message-ID: <x1@example.ac.jp>

--b--
"""


def test_mislabelled_feedback_part_and_unusual_sample_spelling() -> None:
    report = parse_failure(
        email.message_from_string(ARF_AS_TEXT_PLAIN, policy=email.policy.default)
    )
    assert report is not None
    assert report.reported_domain == ("example.ac.jp", "sub.example.ac.jp")
    assert report.auth_failure == ("dmarc", "spf")
    assert report.identity_alignment == "dkim"
    assert report.delivery_result == "policy"
    assert report.dkim_selector == "s2024"
    assert report.reporting_mta == "dns; mx.receiver.example"
    assert report.arrival_epoch == 1720266960
    assert report.original_from == "研究室 <lab@example.ac.jp>"
    assert report.original_subject == "実験結果"


EXIM_TEXT_VARIANT = """\
From: Mail Delivery System <Mailer-Daemon@mx.receiver.example>
To: dmarc-ruf@example.ac.jp
Subject: DMARC Forensic Report for example.ac.jp from IP 192.0.2.40

A message claiming to be from you has failed the published DMARC
policy for your domain.

  Sender Domain: example.ac.jp
  Sender IP Address: 192.0.2.40
  Received Date: Sat, 06 Jul 2024 11:56:00 +0000
  SPF Alignment: yes
  DKIM Alignment: no
  DMARC Results: Reject

------ This is a copy of the headers that were received before the error
       was detected.

From: printer@example.ac.jp
To: someone@receiver.example
Subject: Scan from MFP-3F
Message-ID: <scan-42@example.ac.jp>
"""


def test_exim_plain_text_variant() -> None:
    report = parse_failure(
        email.message_from_string(EXIM_TEXT_VARIANT, policy=email.policy.default)
    )
    assert report is not None
    assert report.format == "text"
    assert report.source_ip == "192.0.2.40"
    assert report.reported_domain == ("example.ac.jp",)
    assert report.arrival_epoch == 1720266960
    assert report.identity_alignment == "spf"
    assert report.authentication_results == (
        "SPF Alignment: yes; DKIM Alignment: no; DMARC Results: Reject"
    )
    assert report.original_subject == "Scan from MFP-3F"
    assert report.original_message_id == "<scan-42@example.ac.jp>"


@pytest.mark.parametrize(
    "text",
    [
        "From: a@example.ac.jp\nSubject: lunch\n\nSee you at noon.\n",
        "From: a@example.ac.jp\nSubject: Re: Feedback-Type question\nContent-Type: text/html\n\n"
        "<p>Feedback-Type: auth-failure</p>\n",
    ],
)
def test_ordinary_mail_is_not_a_failure_report(text: str) -> None:
    assert parse_failure(email.message_from_string(text, policy=email.policy.default)) is None
