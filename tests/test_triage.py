"""Triage over the labelled campus scenario and over the public corpus."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from triage_scenarios import (
    DAY,
    DAY0,
    DOMAIN,
    EXPECTED_MESSAGES,
    PTRS,
    SOURCES,
    campus_config,
    campus_reports,
    dkim,
    record,
    report,
    spf,
)

from dmarctui.aggregate import AggregateError, NotAggregate, parse_aggregate
from dmarctui.cli import flagged
from dmarctui.config import Config
from dmarctui.demo import DemoFolder, build_demo
from dmarctui.model import AggregateReport, Finding
from dmarctui.triage import (
    ADVICE,
    SPF_AUTHORISED_ADVICE,
    classify,
    find_findings,
    is_problem,
    problems,
    spread_over_days,
)


@pytest.fixture
def findings() -> list[Finding]:
    return find_findings(campus_reports(), campus_config(), PTRS)


def kinds_by_source(findings: list[Finding]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for f in findings:
        result.setdefault(f.source_ip, set()).add(f.kind)
    return result


def test_campus_every_seeded_source_gets_exactly_its_kinds(findings: list[Finding]) -> None:
    got = kinds_by_source(findings)
    for source in SOURCES:
        assert got.get(source.ip, set()) == set(source.kinds), source.story


def test_campus_exact_message_counts(findings: list[Finding]) -> None:
    assert {(f.source_ip, f.kind): f.messages for f in findings} == EXPECTED_MESSAGES


def test_campus_nothing_benign_is_a_problem(findings: list[Finding]) -> None:
    flagged = {f.source_ip for f in problems(findings)}
    assert flagged.isdisjoint({"192.0.2.1", "198.51.100.60", "198.51.100.20", "203.0.113.30"})
    assert not is_problem("forwarded")
    assert all(is_problem(k) for k in ADVICE if k != "forwarded")


def test_campus_ranking_severity_then_messages(findings: list[Finding]) -> None:
    assert [(f.source_ip, f.kind) for f in findings] == [
        ("192.0.2.71", "enforced"),
        ("192.0.2.80", "dkim_broken"),
        ("192.0.2.70", "internal_no_dkim"),
        ("203.0.113.10", "dkim_broken"),
        ("2001:db8:2::25", "internal_no_dkim"),
        ("192.0.2.71", "internal_no_dkim"),
        ("192.0.2.90", "internal_no_dkim"),
        ("198.51.100.50", "unaligned_third_party"),
        ("203.0.113.66", "outside_spoofing"),
        ("3fff:0:1::666", "outside_spoofing"),
        ("198.51.100.20", "forwarded"),
        ("203.0.113.30", "forwarded"),
    ]


def test_lab_server_finding_carries_contact_ptr_reporters_days_and_evidence(
    findings: list[Finding],
) -> None:
    lab1 = next(f for f in findings if f.source_ip == "192.0.2.70")
    assert lab1.severity == "high"
    assert lab1.ptr == "mail.lab1.example.ac.jp."
    assert (lab1.contact, lab1.contact_email) == ("Lab 1 server admin", "admin@lab1.example.ac.jp")
    assert lab1.network == "192.0.2.0/24"
    assert lab1.reporters == ("Outlook.com", "google.com")
    assert lab1.per_day == (("2024-11-01", 17), ("2024-11-02", 7))
    assert (lab1.first_seen, lab1.last_seen) == (DAY0, DAY0 + 2 * DAY - 1)
    assert lab1.advice == ADVICE["internal_no_dkim"]
    assert [(e.reporter, e.report_id, e.count) for e in lab1.evidence] == [
        ("Outlook.com", "o-1", 5),
        ("google.com", "g-1", 12),
        ("google.com", "g-2", 7),
    ]
    assert lab1.evidence[0].auth == "dkim=example.ac.jp:none spf=example.ac.jp:pass"


def test_ipv6_lab_and_subdomain_from(findings: list[Finding]) -> None:
    lab2 = next(f for f in findings if f.source_ip == "2001:db8:2::25")
    assert lab2.header_from == DOMAIN
    assert lab2.contact_email == "root@lab2.example.ac.jp"
    assert lab2.network == "2001:db8::/32"
    # Yahoo's JST day (15:00Z to 15:00Z) lands on the day it mostly covers.
    assert lab2.per_day == (("2024-11-01", 4), ("2024-11-02", 2))
    # A subdomain From failing DMARC is flagged under that subdomain.
    lab4 = next(f for f in findings if f.source_ip == "192.0.2.90")
    assert (lab4.kind, lab4.header_from) == ("internal_no_dkim", "lab4.example.ac.jp")


def test_mailing_list_advice_names_list_and_override_hint(findings: list[Finding]) -> None:
    society = next(f for f in findings if f.source_ip == "203.0.113.10")
    assert society.advice.startswith(ADVICE["dkim_broken"])
    assert "Receivers marked this traffic as a mailing list." in society.advice
    assert society.advice.endswith("Known sender: Society mailing list.")
    saas = next(f for f in findings if f.kind == "unaligned_third_party")
    assert "Set up DKIM for our domain at the service" in saas.advice


def test_enforced_counts_only_lost_messages_and_spoofing_enforcement_is_not_urgent(
    findings: list[Finding],
) -> None:
    enforced = [f for f in findings if f.kind == "enforced"]
    assert [(f.source_ip, f.messages, f.severity) for f in enforced] == [
        ("192.0.2.71", 1, "urgent")
    ]
    assert enforced[0].evidence[0].disposition == "quarantine"


def test_period_filter_keeps_overlapping_reports() -> None:
    day2 = find_findings(campus_reports(), campus_config(), since=DAY0 + DAY)
    lab1 = next(f for f in day2 if f.source_ip == "192.0.2.70")
    assert lab1.messages == 7
    assert "3fff:0:1::666" in {f.source_ip for f in day2}  # Yahoo overlaps both days
    assert find_findings(campus_reports(), campus_config(), until=DAY0 - 1) == []


def test_without_config_own_domains_are_the_policy_domains() -> None:
    reports = campus_reports()
    got = kinds_by_source(find_findings(reports, Config()))
    assert "203.0.113.99" not in got  # other.example is not a policy domain
    assert got["203.0.113.66"] == {"outside_spoofing"}
    # Without networks, a lab server is ours because our SPF record authorises it.
    lab1 = next(f for f in find_findings(reports, Config()) if f.source_ip == "192.0.2.70")
    assert (lab1.kind, lab1.advice, lab1.network) == (
        "internal_no_dkim",
        SPF_AUTHORISED_ADVICE,
        None,
    )


def test_aligned_third_party_and_forwarders_never_problems_whatever_the_counts() -> None:
    cfg = replace(campus_config(), senders=())
    forwarded = record(
        "203.0.113.40",
        500,
        pe=("pass", "fail"),
        dkims=(dkim(DOMAIN, "pass"),),
        spfs=(spf("fwd.example", "pass"),),
    )
    signed_saas = record(
        "198.51.100.61",
        900,
        pe=("pass", "pass"),
        dkims=(dkim(DOMAIN, "pass"), dkim("saas.example", "pass")),
        spfs=(spf(DOMAIN, "pass"),),
    )
    found = find_findings(
        [report("google.com", "x", DAY0, DAY0 + DAY, (forwarded, signed_saas))], cfg
    )
    assert [(f.source_ip, f.kind) for f in found] == [("203.0.113.40", "forwarded")]
    assert problems(found) == []


def test_classify_rules_one_by_one() -> None:
    cfg = campus_config()
    outside_list = record("203.0.113.11", 1, pe=("fail", "fail"), dkims=(dkim(DOMAIN, "fail"),))
    assert classify(outside_list, cfg).cause == "dkim_broken"
    by_ptr = record("203.0.113.12", 1, pe=("fail", "fail"))
    verdict = classify(by_ptr, cfg, "mx2.lists.example.org")
    assert (verdict.cause, verdict.label) == ("dkim_broken", "Society mailing list")
    arc_forwarded = record("203.0.113.13", 1, pe=("fail", "fail"), reasons=("forwarded",))
    assert classify(arc_forwarded, cfg).cause == "forwarded"
    spoofed_rejected = record("203.0.113.14", 1, pe=("fail", "fail"), disposition="reject")
    assert classify(spoofed_rejected, cfg) == classify(spoofed_rejected, cfg)
    assert classify(spoofed_rejected, cfg).enforced is False
    saas_spf_only = record(
        "203.0.113.15", 1, pe=("fail", "fail"), spfs=(spf("bounces.saas.example", "pass"),)
    )
    assert classify(saas_spf_only, cfg).cause == "unaligned_third_party"
    clean = record("192.0.2.1", 1, pe=("pass", "pass"), dkims=(dkim(DOMAIN, "pass"),))
    assert classify(clean, cfg).cause is None


def test_multi_day_report_is_spread_evenly() -> None:
    assert spread_over_days(DAY0, DAY0 + 3 * DAY - 1, 10) == [
        ("2024-11-01", 4),
        ("2024-11-02", 3),
        ("2024-11-03", 3),
    ]
    assert spread_over_days(DAY0, DAY0 + DAY, 5) == [("2024-11-01", 5)]


# --------------------------------------------------------------------------- public corpus


def corpus_reports(corpus: Path) -> list[AggregateReport]:
    """Every parseable aggregate report in raw/aggregate (plain, gzip or zip members)."""
    reports = []
    for path in sorted((corpus / "raw" / "aggregate").iterdir()):
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            blobs = [gzip.decompress(data)]
        elif path.name.endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    blobs = [archive.read(n) for n in archive.namelist()]
            except zipfile.BadZipFile:
                continue
        else:
            blobs = [data]
        for blob in blobs:
            try:
                reports.append(parse_aggregate(blob))
            except (AggregateError, NotAggregate):
                continue
    return reports


def test_corpus_ranked_findings_are_stable(corpus: Path) -> None:
    found = find_findings(corpus_reports(corpus), Config())
    assert [(f.source_ip, f.kind, f.messages) for f in found[:16]] == [
        ("1.2.3.7", "enforced", 1),
        ("1.2.3.9", "enforced", 1),
        ("203.0.113.4", "dkim_broken", 3),
        ("1.2.3.5", "dkim_broken", 2),
        ("209.85.220.41", "internal_no_dkim", 2),
        ("72.150.241.94", "dkim_broken", 2),
        ("1.2.3.7", "dkim_broken", 1),
        ("1.2.3.9", "dkim_broken", 1),
        ("192.0.2.1", "internal_no_dkim", 1),
        ("192.168.0.1", "internal_no_dkim", 1),
        ("192.168.0.2", "internal_no_dkim", 1),
        ("203.0.113.2", "dkim_broken", 1),
        ("209.85.220.69", "internal_no_dkim", 1),
        ("173.228.157.66", "unaligned_third_party", 4),
        ("64.147.108.117", "unaligned_third_party", 3),
        ("109.203.100.17", "unaligned_third_party", 1),
    ]
    messages: Counter[str] = Counter()
    for f in found:
        messages[f.kind] += f.messages
    assert dict(messages) == {
        "enforced": 2,
        "dkim_broken": 10,
        "internal_no_dkim": 6,
        "unaligned_third_party": 9,
        "outside_spoofing": 2309,
        "forwarded": 545,
    }
    assert Counter(f.kind for f in found) == {
        "outside_spoofing": 2298,
        "forwarded": 18,
        "dkim_broken": 6,
        "internal_no_dkim": 5,
        "unaligned_third_party": 4,
        "enforced": 2,
    }


# --------------------------------------------------------------------------- flagged command


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dmarctui")
    flagged.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFolder:
    return build_demo(tmp_path_factory.mktemp("demo"))


def test_flagged_json_finds_every_seeded_demo_source(
    demo: DemoFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["flagged", str(demo.maildir), "--config", str(demo.config_path), "--no-dns"]
    assert run_command([*argv, "--json", "--all"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds: dict[str, set[str]] = {}
    for row in rows:
        kinds.setdefault(row["source_ip"], set()).add(row["kind"])
    for source in demo.facts.sources:
        assert kinds.pop(source.ip, set()) == set(source.kinds), source.name
        causes = [r for r in rows if r["source_ip"] == source.ip and r["kind"] != "enforced"]
        expected = [(source.messages, source.header_from)] if source.kinds else []
        assert [(r["messages"], r["header_from"]) for r in causes] == expected
    assert kinds == {}
    required = {
        "source_ip",
        "kind",
        "severity",
        "messages",
        "header_from",
        "first_seen",
        "last_seen",
        "ptr",
        "contact",
        "advice",
    }
    assert all(required <= set(row) for row in rows)
    assert run_command([*argv, "--json"]) == 0
    problems_only = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in problems_only} == {r["kind"] for r in rows} - {"forwarded"}


def test_flagged_text_and_csv(demo: DemoFolder, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["flagged", str(demo.maildir), "--config", str(demo.config_path), "--no-dns"]
    assert run_command(argv) == 0
    text = capsys.readouterr().out
    assert "[urgent] mail lost  203.0.113.20" in text  # readable kind names in text output
    assert "internal, no DKIM" in text
    assert "internal_no_dkim" not in text and "enforced " not in text
    assert "contact: 山田 太郎 <yamada@lab1.cs.univ.example>  network 192.0.2.0/24" in text
    assert ADVICE["internal_no_dkim"] in text
    assert run_command([*argv, "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source_ip,kind,severity,messages,header_from,first_seen")
    assert any(",internal_no_dkim," in line for line in lines)  # identifiers stay in CSV
    assert len(lines) == 1 + len(
        [s for s in demo.facts.sources for k in s.kinds if k != "forwarded"]
    )


def test_flagged_period_and_errors(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["flagged", str(demo.maildir), "--config", str(demo.config_path), "--no-dns", "--json"]
    assert run_command([*argv, "--since", "2100-01-01"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    with pytest.raises(SystemExit):
        run_command([*argv, "--since", "yesterday"])
    assert "'yesterday' is not a date" in capsys.readouterr().err
    assert run_command(["flagged", str(tmp_path / "missing"), "--no-dns"]) == 2
    assert capsys.readouterr().err.startswith("dmarctui: ")
    assert run_command(["flagged", str(demo.maildir), "--config", str(tmp_path / "no.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
