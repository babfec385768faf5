"""The demo folder: reproducible, a valid Maildir, real-looking report mail, a usable config."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import mailbox
import re
import tomllib
import zipfile
from collections import Counter
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from xml.etree import ElementTree

import pytest

from dmarctui.config import load_config
from dmarctui.demo import (
    DEMO_NOW,
    DemoError,
    DemoFolder,
    build_demo,
    default_demo_dir,
    ensure_demo,
)
from dmarctui.model import FolderFormat
from dmarctui.scan import ScanResult, run_scan
from dmarctui.synthetic import SyntheticError, append_synthetic, build_synthetic
from dmarctui.triage import find_findings

FILENAME = re.compile(r"^[a-z0-9.-]+!cs\.univ\.example!(\d+)!(\d+)\.(xml\.gz|zip|xml)$")
ALL_KINDS = {
    "internal_no_dkim",
    "dkim_broken",
    "unaligned_third_party",
    "forwarded",
    "outside_spoofing",
    "enforced",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFolder:
    return build_demo(tmp_path_factory.mktemp("demo"))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "Maildir").rglob("*"))
        if p.is_file()
    }


def _messages(demo: DemoFolder) -> list[Message]:
    box = mailbox.Maildir(demo.maildir, factory=None, create=False)
    return [box[key] for key in sorted(box.keys())]


def _attachment(msg: Message) -> Message:
    (part,) = [p for p in msg.walk() if p.get_filename()]
    return part


def _xml(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            (name,) = zf.namelist()
            return zf.read(name)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data)
    return data


def _ours(domain: str | None) -> bool:
    """Relaxed alignment with cs.univ.example (every demo record has that header_from)."""
    return domain is not None and (
        domain == "cs.univ.example" or domain.endswith(".cs.univ.example")
    )


def _reporter(msg: Message) -> str:
    return str(msg["From"]).split("@")[-1]


def test_same_bytes_every_time(demo: DemoFolder, tmp_path: Path) -> None:
    again = build_demo(tmp_path)
    assert _digest(again.root) == _digest(demo.root)
    assert again.facts == demo.facts


def test_is_a_maildir_with_every_message_accounted(demo: DemoFolder) -> None:
    assert {p.name for p in demo.maildir.iterdir()} == {"cur", "new", "tmp"}
    box = mailbox.Maildir(demo.maildir, create=False)
    assert len(box) == demo.facts.messages
    assert 150 <= len(box) <= 250
    assert sum(demo.facts.buckets.values()) == len(box)
    assert demo.facts.buckets == {
        "aggregate": 168,
        "duplicate": 1,
        "error": 1,
        "failure": 1,
        "tls": 1,
        "not_report": 1,
    }
    assert list((demo.maildir / "new").iterdir()), "the last day's reports are still unread"


def test_refuses_to_overwrite(demo: DemoFolder) -> None:
    with pytest.raises(DemoError, match="already exists"):
        build_demo(demo.root)


def test_report_mail_has_each_reporters_shape(demo: DemoFolder) -> None:
    shapes: dict[str, tuple[str, str]] = {}
    for msg in _messages(demo):
        if "Report-ID" not in str(msg["Subject"]) or msg.get_content_subtype() != "mixed":
            continue
        part = _attachment(msg)
        filename = part.get_filename()
        assert filename is not None and FILENAME.match(filename), filename
        begin, end = map(int, FILENAME.match(filename).groups()[:2])  # type: ignore[union-attr]
        assert end - begin in (86399, 86400)
        assert re.match(
            r"(\[Preview\] )?Report Domain: cs\.univ\.example Submitter: \S+ "
            r"Report-ID: \S+$",
            str(msg["Subject"]),
        )
        layout = "/".join(p.get_content_type() for p in msg.get_payload())  # type: ignore[union-attr]
        shapes.setdefault(_reporter(msg), (part.get_content_type(), layout))
    assert shapes == {
        "google.com": ("application/zip", "application/zip"),
        "microsoft.com": ("application/gzip", "multipart/alternative/application/gzip"),
        "yahooinc.com": ("application/gzip", "text/plain/application/gzip"),
        "corp.mail.ru": ("application/gzip", "text/plain/application/gzip"),
        "amazonses.com": ("application/octet-stream", "text/plain/application/octet-stream"),
        "tmes.trendmicro.com": ("application/octet-stream", "text/plain/application/octet-stream"),
        "tmems-jp.trendmicro.com": (
            "application/octet-stream",
            "text/plain/application/octet-stream",
        ),
        "courriel.example": ("text/xml", "text/plain/text/xml"),
    }


def test_amazon_ses_splits_the_filename_rfc2231(demo: DemoFolder) -> None:
    ses = [m for m in _messages(demo) if _reporter(m) == "amazonses.com"]
    assert ses
    for msg in ses:
        raw = msg.as_string()
        assert 'name*0="amazonses.com!cs.univ.example!' in raw and 'name*1="l.gz"' in raw
        assert str(_attachment(msg).get_filename()).endswith(".xml.gz")


def test_policy_evaluated_agrees_with_auth_results(demo: DemoFolder) -> None:
    """Every well-formed report: aligned dkim/spf in policy_evaluated follow from auth_results."""
    checked = 0
    namespaced = 0
    for msg in _messages(demo):
        if "Report-ID" not in str(msg["Subject"]) or msg.get_content_subtype() != "mixed":
            continue
        try:
            root = ElementTree.fromstring(_xml(_attachment(msg)))
        except (EOFError, ElementTree.ParseError):
            continue  # the truncated and the mis-encoded report, checked elsewhere
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        namespaced += bool(ns)
        for rec in root.iter(f"{ns}record"):
            assert rec.findtext(f"{ns}identifiers/{ns}header_from") == "cs.univ.example"
            dkim = any(
                d.findtext(f"{ns}result") == "pass" and _ours(d.findtext(f"{ns}domain"))
                for d in rec.iter(f"{ns}dkim")
            )
            spf = any(
                s.findtext(f"{ns}result") == "pass" and _ours(s.findtext(f"{ns}domain"))
                for s in rec.iter(f"{ns}spf")
            )
            evaluated = rec.find(f"{ns}row/{ns}policy_evaluated")
            assert evaluated is not None
            assert evaluated.findtext(f"{ns}dkim") == ("pass" if dkim else "fail")
            assert evaluated.findtext(f"{ns}spf") == ("pass" if spf else "fail")
            checked += 1
    assert checked > 500
    assert namespaced == 21, "Mail.Ru reports use the RFC 9990 namespace"


def test_awkward_messages_are_there(demo: DemoFolder) -> None:
    msgs = _messages(demo)
    subjects = [str(make_header(decode_header(str(m["Subject"])))) for m in msgs]
    assert "DMARC レポートの件（研究室サーバ）" in subjects
    assert (
        sum(
            m.get_content_type() == "multipart/report"
            and m.get_param("report-type") == "feedback-report"
            for m in msgs
        )
        == 1
    )
    tls = [m for m in msgs if m.get_param("report-type") == "tlsrpt"]
    assert [_attachment(m).get_content_type() for m in tls] == ["application/tlsrpt+gzip"]
    raw = [bytes(m) for m in msgs]
    assert len(raw) - len(set(raw)) == 1, "exactly one message arrived twice"
    broken = []
    for msg in msgs:
        if "Report-ID" in str(msg["Subject"]) and msg.get_content_subtype() == "mixed":
            try:
                xml = _xml(_attachment(msg))
            except EOFError:
                broken.append(msg["Subject"])
                continue
            if b"Soci\xe9t\xe9" in xml:
                assert b'encoding="UTF-8"' in xml
                with pytest.raises(UnicodeDecodeError):
                    xml.decode("utf-8")
    assert len(broken) == 1


def test_report_id_collision_differs_by_email_and_one_day(demo: DemoFolder) -> None:
    seen: dict[str, set[tuple[str, int]]] = {}
    for msg in _messages(demo):
        if "Report-ID" in str(msg["Subject"]) and msg.get_content_subtype() == "mixed":
            try:
                root = ElementTree.fromstring(_xml(_attachment(msg)))
            except (EOFError, ElementTree.ParseError):
                continue
            if root.tag.startswith("{"):
                continue
            meta = root.find("report_metadata")
            assert meta is not None
            seen.setdefault(meta.findtext("report_id") or "", set()).add(
                (meta.findtext("email") or "", int(meta.findtext("date_range/begin") or 0))
            )
    (pair,) = [sorted(v, key=lambda e: e[1]) for v in seen.values() if len(v) > 1]
    (email1, begin1), (email2, begin2) = pair
    assert email1 != email2
    assert begin2 - begin1 == 86400


def test_facts_cover_every_finding_kind(demo: DemoFolder) -> None:
    kinds = {kind for source in demo.facts.sources for kind in source.kinds}
    assert kinds == ALL_KINDS
    labs = [s for s in demo.facts.sources if s.kinds == ("internal_no_dkim",)]
    assert len(labs) == 2
    improved, still = sorted(labs, key=lambda s: s.last_seen)
    assert improved.last_seen < demo.facts.notice_sent + 7 * 86400 < still.last_seen
    assert demo.facts.policy_change < DEMO_NOW
    assert any(":" in s.ip and "outside_spoofing" in s.kinds for s in demo.facts.sources)


def test_config_parses_and_names_the_scenario(demo: DemoFolder) -> None:
    data = tomllib.loads(demo.config_path.read_text(encoding="utf-8"))
    assert data["domains"]["own"] == ["cs.univ.example"]
    assert data["networks"]["internal"] == ["192.0.2.0/24", "2001:db8:10::/48"]
    assert {s["role"] for s in data["senders"]} == {"mailing_list", "third_party", "forwarder"}
    assert [c["lang"] for c in data["contacts"]] == ["ja", "ja", "en"]
    assert data["notice"]["drafts"] == str(demo.root / "Drafts")


def test_ensure_demo_builds_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_demo_dir() == tmp_path / "dmarctui" / "demo"
    first = ensure_demo()
    drafts = first.root / "Drafts"
    drafts.mkdir()
    (drafts / "kept.eml").write_text("Subject: mine\n\n")
    stamp = next((first.maildir / "cur").iterdir()).stat().st_ino
    assert ensure_demo().facts == first.facts
    assert next((first.maildir / "cur").iterdir()).stat().st_ino == stamp, "not rebuilt"
    (first.root / ".dmarctui-demo").write_text("0\n")  # written by an older version
    rebuilt = ensure_demo()
    assert len(list((rebuilt.maildir / "cur").iterdir())) > 100
    assert (drafts / "kept.eml").read_text() == "Subject: mine\n\n"


# --------------------------------------------------------------------------- synthetic folders

SYNTH = 520  # passes one of each hostile kind (messages 499, 503 and 509)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("synth"), SYNTH, seed=3)


def test_synthetic_folder_is_reproducible_and_mixed(synthetic: Path, tmp_path: Path) -> None:
    again = build_synthetic(tmp_path, SYNTH, seed=3)
    ours = {p.name: p.read_bytes() for p in (synthetic / "cur").iterdir()}
    assert ours == {p.name: p.read_bytes() for p in (again / "cur").iterdir()}
    box = list(mailbox.Maildir(synthetic, create=False))
    assert len(box) == SYNTH
    types = Counter(
        _attachment(m).get_content_type() for m in box if "Report-ID" in str(m["Subject"])
    )
    assert set(types) == {
        "application/zip",
        "application/gzip",
        "application/octet-stream",
        "text/xml",
    }
    raw = [bytes(m) for m in box]
    assert len(raw) - len(set(raw)) == 1
    assert sum("Report-ID" not in str(m["Subject"]) for m in box) == 1
    broken = 0
    for msg in box:
        if "Report-ID" in str(msg["Subject"]):
            try:
                root = ElementTree.fromstring(_xml(_attachment(msg)))
            except EOFError:
                broken += 1
                continue
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            assert 1 <= len(root.findall(f"{ns}record")) <= 50
    assert broken == 1


def test_synthetic_folder_is_reused_and_appends_undone(synthetic: Path) -> None:
    target = synthetic.parent
    inode = next((synthetic / "cur").iterdir()).stat().st_ino
    assert build_synthetic(target, SYNTH, seed=3) == synthetic
    assert next((synthetic / "cur").iterdir()).stat().st_ino == inode
    append_synthetic(target, 100)
    box = mailbox.Maildir(synthetic, create=False)
    assert len(box) == SYNTH + 100
    assert len(list((synthetic / "new").iterdir())) == 100
    newest = max(p.stat().st_mtime for p in (synthetic / "cur").iterdir())
    assert min(p.stat().st_mtime for p in (synthetic / "new").iterdir()) > newest
    build_synthetic(target, SYNTH, seed=3)
    assert len(mailbox.Maildir(synthetic, create=False)) == SYNTH
    assert next((synthetic / "cur").iterdir()).stat().st_ino == inode


@pytest.mark.parametrize("fmt", ["mh", "mbox"])
def test_synthetic_other_formats_hold_the_same_messages(
    synthetic: Path, tmp_path: Path, fmt: FolderFormat
) -> None:
    folder = build_synthetic(tmp_path, SYNTH, seed=3, fmt=fmt)

    def opened() -> mailbox.Mailbox:
        if fmt == "mh":
            return mailbox.MH(folder, create=False)
        return mailbox.mbox(folder, create=False)

    ids = sorted(str(m["Message-ID"]) for m in opened())
    assert ids == sorted(str(m["Message-ID"]) for m in mailbox.Maildir(synthetic, create=False))
    append_synthetic(tmp_path, 10)
    assert len(opened()) == SYNTH + 10
    build_synthetic(tmp_path, SYNTH, seed=3, fmt=fmt)
    assert len(opened()) == SYNTH


def _record_counts(folder: Path) -> list[int]:
    counts = []
    for msg in mailbox.Maildir(folder, create=False):
        if "Report-ID" not in str(msg["Subject"]):
            continue
        try:
            root = ElementTree.fromstring(_xml(_attachment(msg)))
        except EOFError:
            continue
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        counts.append(len(root.findall(f"{ns}record")))
    return counts


def test_synthetic_records_per_report_rebuilds_with_other_parameters(tmp_path: Path) -> None:
    folder = build_synthetic(tmp_path, 30, seed=3, records=(7, 7))
    assert set(_record_counts(folder)) == {7}
    inode = next((folder / "cur").iterdir()).stat().st_ino
    assert build_synthetic(tmp_path, 30, seed=3, records=(7, 7)) == folder
    assert next((folder / "cur").iterdir()).stat().st_ino == inode
    append_synthetic(tmp_path, 5)
    assert len(_record_counts(folder)) == 35
    assert set(_record_counts(folder)) == {7}
    build_synthetic(tmp_path, 30, seed=3)  # the default range: built again
    counts = _record_counts(folder)
    assert len(counts) == 30 and set(counts) != {7}
    assert all(1 <= n <= 50 for n in counts)
    with pytest.raises(SyntheticError, match="records per report"):
        build_synthetic(tmp_path, 30, records=(0, 5))


def test_synthetic_marker_without_records_means_the_default(tmp_path: Path) -> None:
    target = tmp_path
    synthetic = build_synthetic(target, 20, seed=3)
    marker_path = target / ".dmarctui-synthetic.json"
    marker = json.loads(marker_path.read_text())
    del marker["records"]  # as written before the parameter existed
    marker_path.write_text(json.dumps(marker))
    inode = next((synthetic / "cur").iterdir()).stat().st_ino
    assert build_synthetic(target, 20, seed=3) == synthetic
    assert next((synthetic / "cur").iterdir()).stat().st_ino == inode


def test_synthetic_never_replaces_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "Maildir" / "cur").mkdir(parents=True)
    (tmp_path / "Maildir" / "cur" / "precious").write_text("Subject: keep\n\n")
    with pytest.raises(SyntheticError, match="did not build"):
        build_synthetic(tmp_path, 10)
    with pytest.raises(SyntheticError, match="build it first"):
        append_synthetic(tmp_path, 10)
    assert (tmp_path / "Maildir" / "cur" / "precious").read_text() == "Subject: keep\n\n"


# --------------------------------------------------------------------------- through the core


@pytest.fixture(scope="module")
def scanned(demo: DemoFolder) -> ScanResult:
    return run_scan(demo.maildir, workers=1)


def test_scanning_the_demo_fills_every_bucket(demo: DemoFolder, scanned: ScanResult) -> None:
    assert scanned.buckets == demo.facts.buckets
    assert [f.report.status for f in scanned.reports].count("recovered") == demo.facts.recovered
    assert [c.reason for c in scanned.collisions] == ["different_email"]
    assert len(scanned.counted_reports()) == demo.facts.buckets["aggregate"]
    (error,) = scanned.errors
    assert "truncated" in error.reason


def test_triage_finds_what_was_seeded(demo: DemoFolder, scanned: ScanResult) -> None:
    config, problems = load_config(demo.config_path)
    assert problems == []
    findings = find_findings(scanned.counted_reports(), config)
    assert {(f.source_ip, f.kind) for f in findings} == {
        (s.ip, kind) for s in demo.facts.sources for kind in s.kinds
    }
    by_key = {(f.source_ip, f.kind): f for f in findings}
    for source in demo.facts.sources:
        if source.kinds:
            assert by_key[(source.ip, source.kinds[0])].messages == source.messages
    assert by_key[("192.0.2.71", "internal_no_dkim")].contact == "山田 太郎"
    assert by_key[("198.51.100.25", "dkim_broken")].contact_email == "listmaster@lists.example.org"
