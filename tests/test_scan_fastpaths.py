"""The scan's fast paths give the careful paths' answers and are only taken when safe."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest

from dmarctui import aggregate
from dmarctui import sniff as sniff_module
from dmarctui.aggregate import AggregateError, parse_aggregate
from dmarctui.lazy_headers import parse_message_lazily, plain_value
from dmarctui.mailstore import open_store
from dmarctui.model import MessageRef
from dmarctui.payloads import find_payloads, parse_message, summarise
from dmarctui.sniff import XML, ZIP, may_be_report, sniff

REPORT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><report_metadata>'
    "<org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>"
    "<report_id>{report_id}</report_id>"
    "<date_range><begin>1720224000</begin><end>1720310399</end></date_range>"
    "</report_metadata><policy_published><domain>example.ac.jp</domain><p>none</p>"
    "</policy_published><record><row><source_ip>192.0.2.15</source_ip><count>3</count>"
    "<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>"
    "</policy_evaluated></row><identifiers><header_from>example.ac.jp</header_from>"
    "</identifiers><auth_results><spf><domain>example.ac.jp</domain><result>pass</result>"
    "</spf></auth_results></record></feedback>\n"
)


@pytest.fixture
def careful_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes | str]:
    """Documents that went through defusedxml (the careful path), in order."""
    calls: list[bytes | str] = []
    careful: Callable[[bytes | str], Element] = aggregate._parse_defused

    def spy(data: bytes | str) -> Element:
        calls.append(data)
        return careful(data)

    monkeypatch.setattr(aggregate, "_parse_defused", spy)
    return calls


def test_a_plain_report_takes_the_fast_parser(careful_calls: list[bytes | str]) -> None:
    report = parse_aggregate(REPORT.format(report_id="r1").encode())
    assert report.report_metadata.report_id == "r1"
    assert report.records[0].count == 3
    assert careful_calls == []


def test_a_doctype_goes_through_defusedxml_and_is_refused(
    careful_calls: list[bytes | str],
) -> None:
    doc = REPORT.format(report_id="&xxe;").replace(
        "<feedback>", '<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><feedback>'
    )
    with pytest.raises(AggregateError, match="refused: the document declares a DOCTYPE"):
        parse_aggregate(doc.encode())
    assert len(careful_calls) == 1


def test_lower_case_entity_markup_is_not_trusted_either(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="r1").replace("<feedback>", "<!-- <!entity --><feedback>")
    assert parse_aggregate(doc.encode()).report_metadata.report_id == "r1"
    assert len(careful_calls) == 1


def test_utf16_goes_through_defusedxml_with_the_same_result(
    careful_calls: list[bytes | str],
) -> None:
    doc = REPORT.format(report_id="r16").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    report = parse_aggregate(doc.encode("utf-16"))
    assert report == parse_aggregate(REPORT.format(report_id="r16").encode())
    assert len(careful_calls) == 1


def test_other_declared_encodings_go_through_defusedxml(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="café").replace('encoding="UTF-8"', 'encoding="windows-1252"')
    assert parse_aggregate(doc.encode("cp1252")).report_metadata.report_id == "café"
    assert len(careful_calls) == 1


def test_mis_encoded_bytes_still_get_the_same_recovery(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="r1").replace("google.com</org", "Gm\xe9x</org")
    report = parse_aggregate(doc.encode("latin-1"))  # declared UTF-8: \xe9 is invalid there
    assert report.report_metadata.org_name == "Gméx"
    assert [(r.kind, r.line) for r in report.repairs] == [("reencoded", 2)]
    assert careful_calls[:1] == [doc.encode("latin-1")]  # the strict error came from defusedxml
    assert len(careful_calls) == 1  # the repaired text had no DTD: fast parser again


def test_fast_and_careful_parsers_build_the_same_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = REPORT.format(report_id="a&amp;b &#x263A;").encode()
    fast = parse_aggregate(doc)
    monkeypatch.setattr(aggregate, "_no_dtd_possible", lambda data: False)
    assert parse_aggregate(doc) == fast
    assert fast.report_metadata.report_id == "a&b \u263a"


ODD_PARTS = (
    b"Content-Type: application/zip; name=foo bar.zip\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''%E6%97%A5%E5%A0%B1.xml.zip\r\n\r\nx",
    b'Content-Type: application/gzip;\r\n\tname*0="amazonses.com!example.com!1726790400.xm";'
    b'\r\n\tname*1="l.gz"\r\nContent-Transfer-Encoding:  Base64 \r\n\r\nx',
    b'Content-Type: text/xml; name="=?UTF-8?B?5pel5aCxLnhtbA==?="\r\n'
    b"Subject: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= report\r\n\r\nx",
    b'Content-Type: text/plain; charset="unterminated\r\nFrom: a@b (c)\r\n\r\nx',
    b'Content-Type: multipart/report; report-type=feedback-report;\r\n boundary="b1"\r\n\r\n'
    b'--b1\r\nContent-Type: text/plain; charset="us-ascii"\r\n\r\nhello\r\n--b1--\r\n',
)


@pytest.mark.parametrize("raw", ODD_PARTS)
def test_lazy_headers_answer_exactly_as_the_default_policy(raw: bytes) -> None:
    eager, lazy = parse_message(raw), parse_message_lazily(raw)
    for name in ("subject", "from", "date", "message-id", "nothing"):
        assert str(lazy.get(name)) == str(eager.get(name))
    assert lazy.get_content_type() == eager.get_content_type()
    assert lazy.get_filename() == eager.get_filename()
    assert lazy.get_param("report-type") == eager.get_param("report-type")
    assert lazy.is_multipart() == eager.is_multipart()
    assert summarise(lazy) == summarise(eager)
    assert find_payloads(lazy) == find_payloads(eager)


def test_only_text_that_cannot_be_a_report_skips_sniffing() -> None:
    assert not may_be_report(b"This is an aggregate report from google.com.\r\n")
    assert not may_be_report(b"<html><body>hello</body></html>")
    assert may_be_report(b'<?xml version="1.0"?><feedback/>')
    assert may_be_report(b'{"organization-name": "Google"}')
    assert may_be_report(b"PK\x03\x04rest")
    assert may_be_report(bytes(range(256)))  # binary: libmagic gets to name it


def test_a_feedback_document_is_xml_whatever_libmagic_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sniff_module, "_binary_kind", lambda head: "image/svg+xml")
    assert sniff(b'<?xml version="1.0"?>\n<!-- <svg> --><dmarc:feedback/>') == XML
    assert sniff(b"<svg/>") == "image/svg+xml"


def _random_header_values(seed: int, count: int) -> list[tuple[str, str]]:
    """Plausible and odd spellings of the headers the scan reads, drawn from their pieces."""
    rng = random.Random(seed)
    tokens = [
        "text/plain",
        "application/gzip",
        "multipart/mixed",
        "attachment",
        "inline",
        "application/octet-stream",
        "text/xml",
        "base64",
        "7bit",
        "a/b/c",
        "text",
    ]
    params = [
        "charset=us-ascii",
        'charset="UTF-8"',
        'name="a!b!1!2.xml.gz"',
        "name=x.zip",
        'boundary="----=_Part_1.2"',
        "boundary=abc",
        'filename="r p.xml"',
        "format=flowed",
        'filename=""',
        "name=",
        'x="a;b"',
        "name*=utf-8''%E6.xml",
        'name*0="a"',
        "name=foo bar.zip",
        'q="\\"x\\""',
        "(comment)",
        "",
        "report-type=feedback-report",
    ]
    others = [
        ("Subject", "Report Domain: example.org Submitter: google.com"),
        ("Subject", 'Re:  spaced\tout (c) <x> "q"'),
        ("From", "noreply@google.com"),
        ("From", "a.b+c@mail.example.ac.jp"),
        ("From", "a..b@x"),
        ("From", "x@y (c)"),
        ("From", '"N" <n@x>'),
        ("Date", "Thu, 21 Dec 2023 02:49:09 +0000"),
        ("Date", "21 Dec 2023 02:49 -0000"),
        ("Date", "not a date"),
        ("Date", "32 Dec 2023"),
        ("Message-ID", "<46f482a1519138a8@google.com>"),
        ("Message-ID", "<a..b@x>"),
        ("Message-ID", "<x@[1.2.3.4]>"),
        ("Message-ID", "no-brackets@x"),
        ("Content-Transfer-Encoding", " Base64 "),
        ("Content-Transfer-Encoding", "x y"),
    ]
    values = list(others)
    for _ in range(count):
        name = rng.choice(["Content-Type", "Content-Disposition"])
        chosen = rng.sample(params, rng.randint(0, 3))
        spacing = rng.choice(["; ", ";", ";\r\n\t", " ; "])
        value = rng.choice(tokens) + "".join(spacing + p for p in chosen) + rng.choice(["", ";"])
        values.append((name, value))
    return values


@pytest.mark.parametrize("seed", range(4))
def test_plain_header_values_answer_as_the_parsed_headers(seed: int) -> None:
    for name, value in _random_header_values(seed, 300):
        raw = f"{name}: {value}\r\n\r\nbody".encode()
        eager, lazy = parse_message(raw), parse_message_lazily(raw)
        where = f"{name}: {value!r}"
        if name in ("Content-Type", "Content-Disposition"):
            header = name.lower()
            assert lazy.get_content_type() == eager.get_content_type(), where
            assert lazy.get_params(header=header) == eager.get_params(header=header), where
            assert lazy.get_filename() == eager.get_filename(), where
            assert lazy.get_boundary() == eager.get_boundary(), where
            assert lazy.get_content_charset() == eager.get_content_charset(), where
            assert lazy.get_content_disposition() == eager.get_content_disposition(), where
            for param in ("name", "filename", "charset", "report-type", "x", "q"):
                assert lazy.get_param(param, header=header) == eager.get_param(param, header=header)
        else:
            assert str(lazy.get(name)) == str(eager.get(name)), where


def test_only_plain_spellings_skip_the_full_parse() -> None:
    assert plain_value("content-type", 'text/plain;\r\n\tcharset="utf-8"') == (
        'text/plain;\tcharset="utf-8"'
    )
    assert plain_value("subject", "Report Domain: example.org") == "Report Domain: example.org"
    assert plain_value("subject", "=?UTF-8?B?5pel5aCx?=") is None
    assert plain_value("content-type", "attachment; filename*=utf-8''%E6.xml") is None
    assert plain_value("from", '"Google" <noreply@google.com>') is None
    assert plain_value("date", "Thu, 21 Dec 2023 02:49:09 +0000") == (
        "Thu, 21 Dec 2023 02:49:09 +0000"
    )


def test_maildir_listing_keeps_regular_files_and_their_facts(tmp_path: Path) -> None:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1.M1.host:2,S").write_bytes(b"Subject: a\n\nx")
    (tmp_path / "new" / "2.M2.host").write_bytes(b"Subject: bb\n\nxy")
    (tmp_path / "new" / "3.M3.host").symlink_to(tmp_path / "cur" / "1.M1.host:2,S")
    (tmp_path / "new" / "4.M4.host").symlink_to(tmp_path / "nowhere")  # dangling: skipped
    (tmp_path / "new" / "5.M5.host").mkdir()  # not a file: skipped
    (tmp_path / "cur" / ".hidden").write_bytes(b"x")
    (tmp_path / "tmp" / "6.M6.host").write_bytes(b"being delivered")
    store = open_store(tmp_path)
    listed = store.listing()
    assert [(key, location, size) for key, location, size, _ in listed] == [
        ("1.M1.host", "cur/1.M1.host:2,S", 13),
        ("2.M2.host", "new/2.M2.host", 15),
        ("3.M3.host", "new/3.M3.host", 13),
    ]
    assert [MessageRef(*facts) for facts in listed] == list(store.refs())
    assert listed[1][3] == (tmp_path / "new" / "2.M2.host").stat().st_mtime


def _zip_with(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, b"<feedback/>")
    return buffer.getvalue()


def test_a_zip_named_like_a_report_is_a_zip_without_asking_libmagic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sniff_module, "_binary_kind", lambda head: "application/epub+zip")
    assert sniff(_zip_with("google.com!example.ac.jp!1720224000!1720310399.xml")) == ZIP
    assert sniff(_zip_with("mimetype")) == "application/epub+zip"  # libmagic still decides


def test_dates_read_back_as_the_parsed_date_header() -> None:
    """Canonical dates are handed back as written only when re-formatting would not change
    them: right weekday, real day, four-digit year, whole-minute offsets under a day."""
    rng = random.Random(11)
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz"]
    months = ["Jan", "Feb", "Mar", "Jun", "Dec", "Foo"]
    values = ["Thu, 21 Dec 2023 02:49:09 +0000", "Sun, 31 Feb 2023 00:00:00 +0000"]
    for _ in range(1500):
        values.append(
            f"{rng.choice(days)}, {rng.choice(['01', '09', '28', '29', '30', '31', '00', '7'])} "
            f"{rng.choice(months)} {rng.choice(['2023', '2024', '1999', '0050', '9999'])} "
            f"{rng.choice(['00', '09', '23', '24'])}:{rng.choice(['00', '59', '60'])}:"
            f"{rng.choice(['00', '59', '60'])} "
            f"{rng.choice(['+', '-'])}{rng.choice(['00', '05', '23', '24', '99'])}"
            f"{rng.choice(['00', '30', '59', '60', '75'])}"
        )
    fast = 0
    for value in values:
        raw = f"Date: {value}\r\n\r\nbody".encode()
        expected = str(parse_message(raw).get("date"))
        assert str(parse_message_lazily(raw).get("date")) == expected, value
        fast += expected == value
    assert fast > 100  # the fast answer is really exercised
