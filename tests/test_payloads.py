"""Every report in a message is found, whatever the packaging; hostile input gives a reason."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbuild import (
    PACKAGINGS,
    Rec,
    aggregate_xml,
    b64_lines,
    gzip_bomb,
    gzip_bytes,
    mail,
    mime_part,
    multipart,
    plain_mail,
    report_mail,
    tls_json,
    zip_bomb,
    zip_bytes,
)

from dmarctui import payloads as payloads_module
from dmarctui import sniff as sniff_module
from dmarctui.mailstore import open_store
from dmarctui.payloads import (
    Limits,
    Payload,
    PayloadProblem,
    find_payloads,
    parse_message,
    safe_name,
    summarise,
)

XML = aggregate_xml(Rec("192.0.2.10", 12), Rec("198.51.100.7", 3, dkim="fail"), report_id="r-1")
TLS = tls_json()
STEM = "google.com!example.ac.jp!1719792000!1719878399"
REPORT_SUBJECT = "Report domain: example.ac.jp Submitter: google.com Report-ID: r-1"


def _find(raw: bytes, limits: Limits | None = None) -> tuple[list[Payload], list[PayloadProblem]]:
    return find_payloads(parse_message(raw), limits or Limits())


def _attachments(*parts: str, subject: str = REPORT_SUBJECT) -> bytes:
    text = mime_part(b"Report attached.\n", "text/plain", cte="7bit", disposition=None)
    return mail(multipart(text, *parts), subject=subject)


@pytest.fixture(params=["libmagic", "builtin"])
def sniffing(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test once with libmagic and once with the built-in signature checks."""
    if request.param == "libmagic" and not sniff_module.magic_available():
        pytest.skip("libmagic cannot be loaded on this host")
    sniff_module.use_builtin_signatures(request.param == "builtin")
    yield request.param
    sniff_module.use_builtin_signatures(False)


# --------------------------------------------------------------------------- packagings

EXPECTED = {
    # packaging: (part, filename, container)
    "gzip": ("2", f"{STEM}.xml.gz", "gzip"),
    "x-gzip": ("2", f"{STEM}.xml.gz", "gzip"),
    "octet-gzip": ("2", f"{STEM}.xml.gz", "gzip"),
    "zip": (f"2/{STEM}.xml", f"{STEM}.xml", "zip"),
    "x-zip-compressed": (f"2/{STEM}.xml", f"{STEM}.xml", "zip"),
    "octet-zip": (f"2/{STEM}.xml", f"{STEM}.xml", "zip"),
    "textxml-b64": ("2", f"{STEM}.xml", "plain"),
    "textxml-qp": ("2", f"{STEM}.xml", "plain"),
    "textxml-7bit": ("2", f"{STEM}.xml", "plain"),
    "appxml-b64": ("2", f"{STEM}.xml", "plain"),
    "single-part-zip": (f"1/{STEM}.xml", f"{STEM}.xml", "zip"),
    "single-part-gzip": ("1", f"{STEM}.xml.gz", "gzip"),
    "rfc822-wrapped": (f"2.2/{STEM}.xml", f"{STEM}.xml", "zip"),
    "rfc2231-split-name": ("2", f"{STEM}.xml.gz", "gzip"),
    "contenttype-typo": ("2", f"{STEM}.xml.gz", "gzip"),
    "broken-padding": ("2", f"{STEM}.xml.gz", "gzip"),
    "gzip-in-zip": (f"2/{STEM}.xml.gz", f"{STEM}.xml.gz", "zip+gzip"),
    "tlsrpt-gzip": ("2", f"{STEM}!001.json.gz", "gzip"),
    "tlsrpt-json": ("2", f"{STEM}!001.json", "plain"),
}


@pytest.mark.parametrize("packaging", sorted(EXPECTED))
def test_each_packaging_yields_exactly_the_report(sniffing: str, packaging: str) -> None:
    document = TLS if packaging.startswith("tlsrpt") else XML
    payloads, problems = _find(report_mail(document, packaging))
    assert problems == []
    assert len(payloads) == 1
    found = payloads[0]
    assert (found.part, found.filename, found.container) == EXPECTED[packaging]
    assert found.kind == ("json" if document is TLS else "xml")
    # Text parts travel with CRLF, and the line break before a boundary belongs to the boundary.
    assert found.data.replace(b"\r\n", b"\n").rstrip(b"\n") == document.rstrip(b"\n")


def test_every_packaging_is_covered() -> None:
    assert set(EXPECTED) | {"zip-two-members-macosx"} == set(PACKAGINGS)


def test_declared_content_type_is_kept_for_display() -> None:
    payloads, _ = _find(report_mail(XML, "octet-zip"))
    assert payloads[0].content_type == "application/octet-stream"


def test_zip_with_two_reports_macosx_junk_and_a_directory_gives_both(sniffing: str) -> None:
    payloads, problems = _find(report_mail(XML, "zip-two-members-macosx"))
    assert problems == []
    assert [p.part for p in payloads] == [f"2/{STEM}.xml", "2/second.xml"]
    assert all(p.data == XML for p in payloads)


def test_two_gzip_attachments_in_one_mail_are_both_found() -> None:
    other = aggregate_xml(report_id="r-2", org_name="yahoo.com")
    raw = _attachments(
        mime_part(gzip_bytes(XML), "application/gzip", filename="a.xml.gz"),
        mime_part(gzip_bytes(other), "application/gzip", filename="b.xml.gz"),
    )
    payloads, problems = _find(raw)
    assert problems == []
    assert [(p.part, p.filename, p.data) for p in payloads] == [
        ("2", "a.xml.gz", XML),
        ("3", "b.xml.gz", other),
    ]


def test_labels_are_ignored_zip_sent_as_gzip_and_gzip_sent_as_text() -> None:
    raw = _attachments(
        mime_part(zip_bytes({"r.xml": XML}), "application/gzip", filename="r.xml.gz"),
        mime_part(gzip_bytes(XML), "text/plain", filename="report"),
    )
    payloads, _ = _find(raw)
    assert [(p.part, p.container) for p in payloads] == [("2/r.xml", "zip"), ("3", "gzip")]


# --------------------------------------------------------------------------- hostile input


def test_gzip_bomb_stops_at_the_default_32_mib_cap() -> None:
    raw = _attachments(
        mime_part(gzip_bomb(33 << 20), "application/gzip", filename=f"{STEM}.xml.gz")
    )
    payloads, problems = _find(raw)
    assert payloads == []
    assert problems == [
        PayloadProblem("2", f"{STEM}.xml.gz", "gzip inflates past the 32 MiB limit; stopped")
    ]


_DECOMPRESSOBJ = zlib.decompressobj


class _CountingInflater:
    """zlib's inflater, counting what it produces: how much work a bomb cost."""

    produced = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._inner = _DECOMPRESSOBJ(*args, **kwargs)  # type: ignore[arg-type]

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self._inner.decompress(data, max_length)
        _CountingInflater.produced += len(out)
        return out

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def _count_inflation(monkeypatch: pytest.MonkeyPatch) -> type[_CountingInflater]:
    _CountingInflater.produced = 0
    monkeypatch.setattr(payloads_module.zlib, "decompressobj", _CountingInflater)
    return _CountingInflater


def test_a_gzip_bomb_is_refused_after_its_first_mebibyte_not_at_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = _count_inflation(monkeypatch)
    raw = _attachments(
        mime_part(gzip_bomb(64 << 20), "application/gzip", filename=f"{STEM}.xml.gz")
    )
    payloads, problems = _find(raw)
    assert payloads == []
    assert [p.reason for p in problems] == ["gzip inflates past the 32 MiB limit; stopped"]
    assert counter.produced <= 2 << 20


def test_a_bomb_whose_trailer_lies_is_still_stopped_at_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = _count_inflation(monkeypatch)
    bomb = gzip_bomb(33 << 20)
    lying = bomb[:-4] + (1000).to_bytes(4, "little")  # says 1,000 bytes
    raw = _attachments(mime_part(lying, "application/gzip", filename=f"{STEM}.xml.gz"))
    _, problems = _find(raw)
    assert [p.reason for p in problems] == ["gzip inflates past the 32 MiB limit; stopped"]
    assert counter.produced > 32 << 20


def test_a_cut_off_report_is_truncated_whatever_its_last_bytes_look_like() -> None:
    # Varied XML cut half way: its last four bytes (compressed data, here set to read as a
    # size far past the limit) are no trailer, and its ratio is a report's, not a bomb's.
    rows = "".join(f"<row><source_ip>10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}</source_ip>"
                   f"<count>{n}</count></row>" for n in range(60_000))  # fmt: skip
    whole = gzip.compress(f"<feedback>{rows}</feedback>".encode())
    cut = whole[: len(whole) // 2]
    cut = cut[:-4] + (0xFFFFFFF0).to_bytes(4, "little")
    raw = _attachments(mime_part(cut, "application/gzip", filename=f"{STEM}.xml.gz"))
    _, problems = _find(raw)
    assert [p.reason for p in problems] == [
        "truncated gzip: unexpected end of stream (the attachment was cut off)"
    ]


def test_zip_bomb_stops_at_the_cap_whatever_the_header_says() -> None:
    raw = _attachments(mime_part(zip_bomb(3 << 20), "application/zip", filename="r.zip"))
    payloads, problems = _find(raw, Limits(max_output=1 << 20))
    assert payloads == []
    assert problems == [
        PayloadProblem(
            "2/report.xml", "report.xml", "zip member inflates past the 1 MiB limit; stopped"
        )
    ]


def test_zip_member_path_traversal_is_reduced_to_a_base_name() -> None:
    archive = zip_bytes({"../../../../tmp/evil.xml": XML, "C:\\Windows\\win.xml": XML})
    payloads, problems = _find(_attachments(mime_part(archive, "application/zip")))
    assert problems == []
    assert [(p.part, p.filename) for p in payloads] == [
        ("2/evil.xml", "evil.xml"),
        ("2/win.xml", "win.xml"),
    ]


def test_truncated_gzip_is_a_problem_with_no_partial_report() -> None:
    cut = gzip_bytes(XML)[:-40]
    payloads, problems = _find(
        _attachments(mime_part(cut, "application/gzip", filename=f"{STEM}.xml.gz"))
    )
    assert payloads == []
    assert len(problems) == 1
    assert problems[0].reason.startswith("truncated gzip: unexpected end of stream")


def test_corrupt_gzip_and_corrupt_zip_are_problems() -> None:
    bad_gzip = b"\x1f\x8b\x08\x00" + b"\xff" * 40
    bad_zip = b"PK\x03\x04" + b"\x00" * 40
    payloads, problems = _find(
        _attachments(
            mime_part(bad_gzip, "application/gzip", filename="a.xml.gz"),
            mime_part(bad_zip, "application/zip", filename="b.zip"),
        )
    )
    assert payloads == []
    assert [p.part for p in problems] == ["2", "3"]
    assert problems[0].reason.startswith("corrupt gzip data: ")
    assert problems[1].reason.startswith("corrupt zip archive: ")


def test_empty_report_attachment_is_a_problem() -> None:
    raw = _attachments(mime_part(b"", "application/gzip", filename=f"{STEM}.xml.gz"))
    assert _find(raw) == (
        [],
        [
            PayloadProblem(
                "2", f"{STEM}.xml.gz", "the attachment is empty: no report was sent in it"
            )
        ],
    )


def test_yahoo_unused_gzip_body_is_named() -> None:
    raw = _attachments(
        mime_part(gzip_bytes(b"unused"), "application/gzip", filename=f"{STEM}.xml.gz")
    )
    payloads, problems = _find(raw)
    assert payloads == []
    assert "contains only the word 'unused'" in problems[0].reason


def test_too_many_zip_members_reads_the_first_ones_and_says_so() -> None:
    archive = zip_bytes({f"r{n}.xml": XML for n in range(5)})
    payloads, problems = _find(
        _attachments(mime_part(archive, "application/zip")), Limits(max_members=3)
    )
    assert [p.filename for p in payloads] == ["r0.xml", "r1.xml", "r2.xml"]
    assert [p.reason for p in problems] == [
        "the zip holds 5 files, more than the limit of 3; only the first 3 were read"
    ]


def test_archives_nested_too_deep_are_stopped() -> None:
    nested = XML
    for _ in range(4):
        nested = gzip_bytes(nested)
    payloads, problems = _find(_attachments(mime_part(nested, "application/gzip")))
    assert payloads == []
    assert [p.reason for p in problems] == ["archives nested more than 3 deep; stopped"]


def test_gzip_inside_gzip_within_the_depth_limit_is_read() -> None:
    raw = _attachments(mime_part(gzip_bytes(gzip_bytes(XML)), "application/gzip"))
    payloads, _ = _find(raw)
    assert [(p.container, p.data) for p in payloads] == [("gzip+gzip", XML)]


def test_gzip_the_gzip_module_refuses_concatenated_and_trailing_garbage() -> None:
    first, second = XML[:100], XML[100:]
    stream = gzip_bytes(first) + gzip_bytes(second) + b"\x00\x00 trailing garbage"
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(stream)
    payloads, problems = _find(_attachments(mime_part(stream, "application/gzip")))
    assert problems == []
    assert payloads[0].data == XML


def test_report_named_gzip_holding_text_is_a_problem() -> None:
    raw = _attachments(
        mime_part(gzip_bytes(b"hello\n"), "application/gzip", filename=f"{STEM}.xml.gz")
    )
    assert [p.reason for p in _find(raw)[1]] == [
        "the report archive holds plain text, not XML or JSON"
    ]


def test_base64_with_broken_padding_and_stray_characters_still_decodes() -> None:
    encoded = b64_lines(gzip_bytes(XML)).replace("=", "")
    encoded = encoded[:20] + "!*" + encoded[20:]
    attachment = (
        'Content-Type: application/gzip; name="r.xml.gz"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    )
    payloads, problems = _find(_attachments(attachment))
    assert problems == []
    assert payloads[0].data == XML


def test_composite_parts_illegally_base64_encoded_are_decoded_and_walked() -> None:
    inner = report_mail(XML, "gzip")
    rfc822 = "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    rfc822 += b64_lines(inner)
    body = multipart(mime_part(gzip_bytes(XML), "application/gzip", filename="r.xml.gz"))
    headers, _, content = body.partition("\r\n\r\n")
    encoded_multipart = f"{headers}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    encoded_multipart += b64_lines(content.encode())
    payloads, problems = _find(_attachments(rfc822, encoded_multipart))
    assert problems == []
    assert [(p.part, p.data) for p in payloads] == [("2.2", XML), ("3.1", XML)]


# --------------------------------------------------------------------------- not reports


def test_ordinary_mail_yields_nothing_and_no_problem() -> None:
    html = mime_part(b"<html><body>Hi</body></html>", "text/html", cte="7bit", disposition=None)
    png = mime_part(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", filename="logo.png")
    log = mime_part(
        gzip_bytes(b"Jul  3 postfix/smtpd: connect\n"),
        "application/gzip",
        filename="maillog-20240703.gz",
    )
    raw = _attachments(html, png, log, subject="sitemap + mail log")
    assert _find(raw) == ([], [])
    assert _find(plain_mail()) == ([], [])


def test_non_report_xml_is_returned_for_the_parser_to_reject() -> None:
    sitemap = b'<?xml version="1.0"?><urlset><url><loc>https://example.ac.jp/</loc></url></urlset>'
    payloads, problems = _find(
        _attachments(mime_part(sitemap, "application/xml", filename="sitemap.xml"), subject="x")
    )
    assert problems == []
    assert [(p.filename, p.kind) for p in payloads] == [("sitemap.xml", "xml")]


def test_junk_bytes_never_raise() -> None:
    for raw in (
        b"",
        b"\x00\xff" * 50,
        b"Content-Type: multipart/mixed\r\n\r\n--x",
        b"From: \x80\r\n",
    ):
        message = parse_message(raw)
        summarise(message)
        find_payloads(message)


# --------------------------------------------------------------------------- summaries and names


def test_summary_decodes_japanese_subjects() -> None:
    jis = base64.b64encode("ファイル".encode("iso-2022-jp")).decode()
    subject = f"=?ISO-2022-JP?B?{jis}?= =?UTF-8?B?{base64.b64encode('報告'.encode()).decode()}?="
    raw = mail(
        mime_part(b"x", "text/plain", cte="7bit", disposition=None),
        subject=subject,
        sender="=?UTF-8?B?55Sw5Lit?= <tanaka@example.ac.jp>",
        message_id="<abc@example.ac.jp>",
    )
    summary = summarise(parse_message(raw))
    assert summary.subject == "ファイル報告"
    assert summary.sender == "田中 <tanaka@example.ac.jp>"
    assert summary.date == "Tue, 02 Jul 2024 09:00:00 +0000"
    assert summary.message_id == "<abc@example.ac.jp>"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../x.xml", "x.xml"),
        ("..\\..\\x.xml", "x.xml"),
        ("/etc/passwd", "passwd"),
        ("..", None),
        ("dir/", "dir"),
        ("a\x00b\nc.xml", "abc.xml"),
        ("", None),
    ],
)
def test_safe_name(name: str, safe: str | None) -> None:
    assert safe_name(name) == safe


# --------------------------------------------------------------------------- sniffing


SNIFF_SAMPLES = {
    "gzip": gzip_bytes(XML),
    "zip": zip_bytes({"a.xml": XML}),
    "xml": XML,
    "xml-without-declaration": b"<feedback><version>1.0</version></feedback>",
    "xml-utf16": '<?xml version="1.0" encoding="UTF-16"?><feedback/>'.encode("utf-16"),
    "json": TLS,
    "html": b"<!DOCTYPE html><html><body>x</body></html>",
    "text": b"just words\n",
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "empty": b"",
}
SNIFF_EXPECTED = {
    "gzip": "gzip",
    "zip": "zip",
    "xml": "xml",
    "xml-without-declaration": "xml",
    "xml-utf16": "xml",
    "json": "json",
    "html": "text/html",
    "text": "text/plain",
    "png": "image/png",
    "empty": "application/x-empty",
}


@pytest.mark.parametrize("sample", sorted(SNIFF_SAMPLES))
def test_sniff_gives_the_same_answer_with_and_without_libmagic(sniffing: str, sample: str) -> None:
    assert sniff_module.sniff(SNIFF_SAMPLES[sample]) == SNIFF_EXPECTED[sample]


# --------------------------------------------------------------------------- public corpus


@pytest.mark.corpus
def test_corpus_every_report_message_yields_payloads_or_a_problem(corpus: Path) -> None:
    manifest = json.loads((corpus / "mail" / "MANIFEST.json").read_text())["entries"]
    store = open_store(corpus / "mail" / "MH")
    outcome = {}
    for entry, ref in zip(manifest, store.refs(), strict=True):
        payloads, problems = find_payloads(parse_message(store.read(ref)), Limits())
        outcome[entry["n"]] = (payloads, problems)
        if entry["kind"] in ("aggregate", "smtp_tls"):
            assert payloads or problems, entry["n"]
        else:
            assert problems == [], entry["n"]
    assert [p.reason for p in outcome[36][1]] == ["gzip inflates past the 32 MiB limit; stopped"]
    assert outcome[41][1][0].reason.startswith("truncated gzip: unexpected end of stream")
    assert [p.part for p in outcome[13][0]] == ["1/dmarctui-traversal-test.xml"]
    assert len(outcome[60][0]) == 2
    assert len(outcome[22][0]) == 3
    assert [(p.filename, p.kind) for p in outcome[56][0]] == [("sitemap.xml", "xml")]
    assert all(p.kind == "json" for n in (3, 33, 58, 65, 66) for p in outcome[n][0])


@pytest.mark.corpus
def test_corpus_gives_identical_payloads_with_and_without_libmagic(corpus: Path) -> None:
    if not sniff_module.magic_available():
        pytest.skip("libmagic cannot be loaded on this host")
    store = open_store(corpus / "mail" / "MH")
    messages = [parse_message(store.read(ref)) for ref in store.refs()]
    with_magic = [find_payloads(message) for message in messages]
    sniff_module.use_builtin_signatures(True)
    try:
        builtin = [find_payloads(message) for message in messages]
    finally:
        sniff_module.use_builtin_signatures(False)
    assert builtin == with_magic
