"""SMTP TLS report (RFC 8460) parsing against real reports and the key-name drift between them."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from datetime import datetime
from pathlib import Path

import pytest

from dmarctui.tlsrpt import TlsError, looks_like_tls, parse_tls

DATA = Path(__file__).parent / "data"


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def tls_json_from_mail(path: Path) -> bytes:
    """Unpack the ``application/tlsrpt+gzip`` attachment by hand, as a receiver's MUA would."""
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    (part,) = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    return gzip.decompress(part.get_payload(decode=True))


def test_every_corpus_tls_report_matches_parsedmarc(corpus: Path) -> None:
    expected = json.loads((corpus / "expected.json").read_text())
    entries = [entry for entry in expected["files"] if entry["kind"] == "smtp_tls"]
    assert len(entries) == 5
    for entry in entries:
        path = corpus / entry["file"]
        data = tls_json_from_mail(path) if path.suffix == ".eml" else path.read_bytes()
        assert looks_like_tls(data), entry["file"]
        report = parse_tls(data)
        oracle = entry["parsedmarc"]
        assert report.organization_name == oracle["org_name"]
        assert report.report_id == oracle["report_id"]
        assert (report.begin, report.end) == (epoch(oracle["begin"]), epoch(oracle["end"]))
        assert [p.policy_domain for p in report.policies] == oracle["policy_domains"]
        assert report.successful == oracle["successful_sessions"]
        assert report.failed == oracle["failed_sessions"]


def test_rfc_example_failure_details(corpus: Path) -> None:
    report = parse_tls((corpus / "raw/smtp_tls/pm__rfc8460.json").read_bytes())
    (policy,) = report.policies
    assert policy.mx_hosts == ("*.mail.company-y.example",), "a string mx-host becomes a tuple"
    assert [d.failed_session_count for d in policy.failure_details] == [100, 200, 3]
    assert sum(d.failed_session_count for d in policy.failure_details) == policy.failed
    starttls = policy.failure_details[1]
    assert starttls.result_type == "starttls-not-supported"
    assert starttls.receiving_ip == "203.0.113.56"
    assert starttls.additional_information.endswith("#StarttlsNotSupported")
    assert policy.failure_details[2].failure_reason_code == "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
    assert policy.failure_details[0].sending_mta_ip == "2001:db8:abcd:0012::1"


def test_microsoft_report_with_two_policies_and_no_mx_host() -> None:
    report = parse_tls((DATA / "cry__microsoft.json").read_bytes())
    assert [p.policy_type for p in report.policies] == ["sts", "tlsa"]
    assert report.policies[0].mx_hosts == ()
    assert report.contact_info == "tlsrpt-noreply@microsoft.com"
    assert (report.successful, report.failed) == (4, 0)


def build(details: list[dict], failed: int | None = None, **policy: object) -> bytes:
    return json.dumps(
        {
            "organization-name": "Receiver",
            "date-range": {
                "start-datetime": "2024-07-06T00:00:00Z",
                "end-datetime": "2024-07-06T23:59:59Z",
            },
            "report-id": "r-1",
            "policies": [
                {
                    "policy": {"policy-type": "sts", "policy-domain": "example.ac.jp", **policy},
                    "summary": {
                        "total-successful-session-count": 10,
                        "total-failure-session-count": (
                            sum(d["failed-session-count"] for d in details)
                            if failed is None
                            else failed
                        ),
                    },
                    "failure-details": details,
                }
            ],
        }
    ).encode()


def test_key_spellings_that_drift_between_reporters() -> None:
    data = build(
        [
            {
                "result-type": "certificate-host-mismatch",
                "receiving-mx-hostname": "mx1.example.ac.jp",
                "failed-session-count": 2,
                "additional-info-uri": "https://receiver.example/why",
            }
        ],
        **{"mx-host-pattern": ["mx1.example.ac.jp", "*.example.ac.jp"]},
    )
    report = parse_tls(data)
    (policy,) = report.policies
    assert policy.mx_hosts == ("mx1.example.ac.jp", "*.example.ac.jp")
    (detail,) = policy.failure_details
    assert detail.sending_mta_ip is None
    assert detail.additional_information == "https://receiver.example/why"
    assert (report.begin, report.end) == (1720224000, 1720310399)
    assert report.failed == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b"<feedback/>", "not JSON"),
        (b"[]", "JSON list, not an object"),
        (b'{"organization-name": "x", "report-id": "y"}', "without date-range, policies"),
        (
            build([{"result-type": "x", "failed-session-count": -1}], failed=0),
            r"failure-details\[0\]/failed-session-count is -1",
        ),
        (
            build([]).replace(b"2024-07-06T00:00:00Z", b"yesterday"),
            "start-datetime is 'yesterday', not an RFC 3339 date-time",
        ),
    ],
)
def test_json_that_is_not_a_tls_report_gets_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(TlsError, match=reason):
        parse_tls(data)


def test_looks_like_tls_rejects_other_json_and_xml() -> None:
    assert not looks_like_tls(b'{"type": "FeatureCollection"}')
    assert not looks_like_tls(b"<feedback></feedback>")
    assert looks_like_tls(build([]))
