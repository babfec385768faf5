"""``dmarctui export`` against the reference: parsedmarc 11 run offline on the public corpus.

For every raw report (aggregate, failure and SMTP TLS; bare files wrapped in e-mails as sent,
one attachment each, and complete e-mails) that both read, dmarctui's exported JSON is compared
with parsedmarc's field by field. Where they differ on purpose, :data:`INTENDED` (and its
failure and TLS counterparts) says which fields and why; a field listed there that no longer
differs anywhere fails the test too, so the lists stay true.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dmarctui.cli.export import write_export
from dmarctui.index import Index, ReportFilter
from dmarctui.scan import drain
from tests.mailbuild import mail, mime_part, write_maildir

pytestmark = pytest.mark.corpus

READER = Path(__file__).with_name("parsedmarc_reading.py")

LOWERCASED = "parsedmarc lower-cases one-word org names and cuts them to a base domain"

INTENDED: dict[str, str] = {
    # field path pattern (regex, full match) -> why dmarctui writes something else
    r"records\[\d+\]\.source\.(country|reverse_dns|base_domain|name|type|asn|as_name|as_domain)": (
        "dmarctui exports offline: no GeoIP database, no reverse DNS, no IP-to-name map"
    ),
    r"report_metadata\.org_name": LOWERCASED,
    r"records\[\d+\]\.identifiers\.envelope_from": (
        "the XML has no envelope_from; parsedmarc copies the last SPF domain into it, dmarctui"
        " writes null rather than a value the reporter did not send"
    ),
    r"records\[\d+\]\.identifiers\.header_from": (
        "an unescaped '<' in <header_from>: parsedmarc's lenient fallback loses the value,"
        " dmarctui escapes it and keeps every character"
    ),
    r"records\[\d+\]\.auth_results\.dkim\[\d+\]\.selector": (
        "the XML has no DKIM selector; parsedmarc writes the string 'none', dmarctui null"
    ),
    r"records\[\d+\]\.auth_results\.spf\[\d+\]\.scope": (
        "the XML has no SPF scope; parsedmarc writes 'mfrom', dmarctui null"
    ),
    r"records\[\d+\]\.auth_results\.(dkim|spf)#len": (
        "an auth result with an empty <domain> is kept as the reporter sent it; parsedmarc drops it"
    ),
    r"records\[\d+\]\.auth_results\.spf\[\d+\]\.result": (
        "a non-standard result word ('hardfail') is written as RFC 7489's 'fail'; the original"
        " spelling stays in `scan --json`'s normalised list"
    ),
    r"records\[\d+\]\.policy_evaluated\.policy_override_reasons\[\d+\]\.type": (
        "an empty override <type> is read as 'other', RFC 7489's catch-all; parsedmarc gives null"
    ),
    r"report_metadata\.errors#len": (
        "parsedmarc adds its own XML parse error to the reporter's <error> list; dmarctui"
        " recovers the report and lists its repairs apart (`scan --json`), not as the"
        " reporter's errors"
    ),
    r"report_metadata\.org_email": (
        "an unescaped '<' in <email>: parsedmarc's lenient fallback loses characters, dmarctui"
        " escapes it and keeps every character"
    ),
    r"xml_namespace": (
        "parsedmarc gives whichever xmlns <feedback> declares, even XML Schema's own; dmarctui"
        " only a DMARC namespace the report is written in"
    ),
}


ONLY_OURS = {
    "stuart__multiple_reports.zip: dmarc-sample-2.xml": "dmarctui reads every report of a zip",
    "stuart__multiple_reports.zip: dmarc-sample-3.xml": "parsedmarc returns only the first",
}
"""Reports the export holds that parsedmarc does not read at all."""


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list):
        out = {f"{prefix}#len": len(value)}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _key(report: dict[str, Any]) -> tuple[Any, ...]:
    """What pairs a report of ours with parsedmarc's: its id as parsedmarc cuts it, its period
    and its domain."""
    meta = report["report_metadata"]
    report_id = meta["report_id"].replace("<", "").replace(">", "").split("@")[0]
    return (report_id, meta["begin_date"], meta["end_date"],
            report["policy_published"]["domain"].lower())  # fmt: skip


def _corpus() -> Path:
    from tests.conftest import CORPUS

    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"public corpus not found at {CORPUS} (../shared is not beside the checkout)")
    return CORPUS


def _raw_files(corpus: Path) -> list[Path]:
    """The raw reports: bare files, and complete e-mails as received."""
    return [
        path
        for kind in ("aggregate", "email", "failure", "smtp_tls")
        for path in sorted((corpus / "raw" / kind).iterdir())
        if path.suffix != ".md"
    ]


def _as_mail(n: int, path: Path) -> bytes:
    """A raw file as the message it arrived in: e-mails as they are, bare files attached."""
    if path.suffix == ".eml":
        return path.read_bytes()
    ctype = "application/tlsrpt+json" if path.suffix == ".json" else "application/octet-stream"
    return mail(
        mime_part(path.read_bytes(), ctype, filename=path.name),
        message_id=f"<raw-{n}@corpus.test>",
    )


def _export(kind: str, tmp: Path) -> list[dict[str, Any]]:
    with Index.open(tmp / "Maildir", db=tmp / "index.sqlite3") as index:
        drain(index.update(workers=1))
        out = io.StringIO()
        write_export(index, ReportFilter(), kind, "json", out)
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def theirs() -> dict[str, Any]:
    pytest.importorskip("parsedmarc", reason="parsedmarc (the `reference` extra) not installed")
    corpus = _corpus()
    done = subprocess.run(
        [sys.executable, str(READER), *map(str, _raw_files(corpus))],
        capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    return {Path(path).relative_to(corpus).as_posix(): value
            for path, value in json.loads(done.stdout).items()}  # fmt: skip


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    corpus = _corpus()
    tmp = tmp_path_factory.mktemp("export")
    write_maildir(tmp / "Maildir", [_as_mail(n, p) for n, p in enumerate(_raw_files(corpus))])
    return {kind: _export(kind, tmp) for kind in ("aggregate", "failure", "tls")}


def test_every_report_parsedmarc_reads_is_exported_alike(theirs: dict, ours: dict) -> None:
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for report in ours["aggregate"]:
        by_key.setdefault(_key(report), []).append(report)
    compared = 0
    unexpected: dict[str, dict[str, str]] = {}
    used: set[str] = set()
    for name, value in sorted(theirs.items()):
        if value.get("report_type") != "aggregate":
            continue
        reference = value["report"]
        candidates = by_key.get(_key(reference))
        assert candidates, f"{name}: parsedmarc reads {_key(reference)}, the export lacks it"
        email = reference["report_metadata"]["org_email"]
        mine = next((c for c in candidates if c["report_metadata"]["org_email"] == email), None)
        mine = mine or candidates[0]
        compared += 1
        a, b = flatten(reference), flatten(mine)
        for path in sorted(a.keys() & b.keys()):
            if a[path] == b[path]:
                continue
            reason = next((p for p in INTENDED if re.fullmatch(p, path)), None)
            if reason is None:
                shown = re.sub(r"\[\d+\]", "[*]", path)
                where = unexpected.setdefault(name, {})
                where.setdefault(shown, f"parsedmarc {a[path]!r}, dmarctui {b[path]!r}")
            else:
                used.add(reason)
    assert compared >= 35, f"only {compared} reports compared"
    matched = sum(1 for v in theirs.values() if v.get("report_type") == "aggregate")
    assert len(ours["aggregate"]) - matched == len(ONLY_OURS), (len(ours["aggregate"]), matched)
    assert not unexpected, json.dumps(unexpected, indent=1)
    assert used == set(INTENDED), f"listed but never seen: {set(INTENDED) - used}"


TLS_INTENDED: dict[str, str] = {}
"""SMTP TLS reports: no intended difference on the fields both write (dmarctui does not keep
the policy strings, so ``policy_strings`` is absent from its export)."""

FAILURE_INTENDED: dict[str, str] = {
    r"source\.(country|reverse_dns|base_domain|name|type|asn|as_name|as_domain)": (
        "dmarctui exports offline: no GeoIP database, no reverse DNS, no IP-to-name map"
    ),
    r"sample|sample_headers_only": (
        "dmarctui keeps the sample message's From, To, Subject and Message-ID, not the sample"
    ),
    r"version|original_envelope_id": (
        "dmarctui does not keep the ARF Version and Original-Envelope-Id fields"
    ),
    r"arrival_date(_utc)?": (
        "the report has no Arrival-Date: dmarctui takes its Received-Date or leaves it null,"
        " parsedmarc takes the Date of the report e-mail"
    ),
    r"authentication_results": (
        "a folded Authentication-Results field: parsedmarc keeps only its first line"
    ),
    r"delivery_result": "no Delivery-Result field: parsedmarc writes 'other', dmarctui null",
}


def _compare(
    theirs: dict[str, Any], kind: str, mine: list[dict[str, Any]], key: Any, intended: dict
) -> tuple[int, dict[str, dict[str, str]], set[str]]:
    by_key = {key(report): report for report in mine}
    compared, unexpected, used = 0, {}, set()
    for name, value in sorted(theirs.items()):
        if value.get("report_type") != kind:
            continue
        reference = value["report"]
        assert key(reference) in by_key, f"{name}: parsedmarc reads {key(reference)}, we lack it"
        compared += 1
        a, b = flatten(reference), flatten(by_key[key(reference)])
        for path in sorted(a.keys() & b.keys()):
            if a[path] == b[path]:
                continue
            reason = next((p for p in intended if re.fullmatch(p, path)), None)
            if reason is None:
                shown = re.sub(r"\[\d+\]", "[*]", path)
                where = unexpected.setdefault(name, {})
                where.setdefault(shown, f"parsedmarc {a[path]!r}, dmarctui {b[path]!r}")
            else:
                used.add(reason)
    return compared, unexpected, used


def test_tls_reports_are_exported_like_parsedmarcs(theirs: dict, ours: dict) -> None:
    compared, unexpected, used = _compare(
        theirs, "smtp_tls", ours["tls"], lambda r: r["report_id"], TLS_INTENDED
    )
    assert compared == 5
    assert not unexpected, json.dumps(unexpected, indent=1)
    assert used == set(TLS_INTENDED)


def test_failure_reports_are_exported_like_parsedmarcs(theirs: dict, ours: dict) -> None:
    compared, unexpected, used = _compare(
        theirs,
        "failure",
        ours["failure"],
        lambda r: (r["source"]["ip_address"], r["reported_domain"]),
        FAILURE_INTENDED,
    )
    assert compared == 4
    assert not unexpected, json.dumps(unexpected, indent=1)
    assert used == set(FAILURE_INTENDED)
