"""Policy readiness and per-source trend over the campus scenario."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest
from triage_scenarios import DAY, DAY0, DOMAIN, PTRS, campus_config, campus_reports, record, report

from dmarctui.cli import readiness as readiness_cmd
from dmarctui.demo import build_demo
from dmarctui.readiness import DayCounts, readiness
from dmarctui.trend import before_after, daily_by_source


def test_campus_readiness_counts_per_day_and_what_stricter_policy_would_hit() -> None:
    [ready] = readiness(campus_reports(), campus_config(), PTRS)
    assert ready.domain == DOMAIN
    assert ready.days == (
        DayCounts("2024-11-01", passed=210, failed_legit=55, failed_outside=5),
        DayCounts("2024-11-02", passed=182, failed_legit=16, failed_outside=13),
    )
    assert ready.would_quarantine == {
        "unaligned_third_party": 55,
        "outside_spoofing": 18,
        "dkim_broken": 9,
        "internal_no_dkim": 7,
    }
    assert ready.would_reject == ready.would_quarantine
    assert ready.enforced == 6
    assert not ready.ready


def test_policy_variants_name_who_reported_each() -> None:
    [ready] = readiness(campus_reports(), campus_config())
    assert not ready.policy_consistent
    assert [(v.text(), v.reporters, v.reports) for v in ready.variants] == [
        ("p=none; sp=none; adkim=r; aspf=r; pct=100", ("Outlook.com", "google.com"), 3),
        ("p=none; sp=none; adkim=r; aspf=r; pct=50", ("Yahoo",), 1),
    ]


def test_clean_domain_is_ready() -> None:
    clean = record("192.0.2.1", 10, pe=("pass", "pass"))
    spoof = record("203.0.113.66", 4, pe=("fail", "fail"))
    [ready] = readiness(
        [report("google.com", "r", DAY0, DAY0 + DAY - 1, (clean, spoof))], campus_config()
    )
    assert (ready.passed, ready.failed_legit, ready.failed_outside) == (10, 0, 4)
    assert ready.ready and ready.policy_consistent


def test_daily_counts_per_source_for_sparklines() -> None:
    days = daily_by_source(campus_reports(), campus_config(), PTRS)
    assert days["192.0.2.1"] == (("2024-11-01", 120), ("2024-11-02", 120))
    assert "203.0.113.99" not in days
    failing = daily_by_source(campus_reports(), campus_config(), PTRS, failing_only=True)
    assert "192.0.2.1" not in failing and "198.51.100.20" not in failing
    assert failing["192.0.2.80"] == (("2024-11-01", 30), ("2024-11-02", 20))


def test_before_after_shows_a_notified_server_improving() -> None:
    reports = campus_reports()
    assert before_after(reports, "192.0.2.70", DAY0 + DAY, campus_config()) == (17.0, 7.0)
    fixed = [
        replace(r, records=tuple(x for x in r.records if x.source_ip != "192.0.2.70"))
        if r.report_metadata.date_range.begin >= DAY0 + DAY - 12 * 3600
        else r
        for r in reports
    ]
    assert before_after(fixed, "192.0.2.70", DAY0 + DAY, campus_config()) == (17.0, 0.0)
    assert before_after(reports, "192.0.2.70", DAY0 + 10 * DAY, campus_config()) == (12.0, 0.0)


# --------------------------------------------------------------------------- readiness command


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dmarctui")
    readiness_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_readiness_command_on_the_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = build_demo(tmp_path)
    argv = ["readiness", str(demo.maildir), "--config", str(demo.config_path), "--no-dns"]
    assert run_command([*argv, "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["domain"] == "cs.univ.example"
    assert row["ready"] is False
    assert sum(d["passed"] + d["failed_legit"] + d["failed_outside"] for d in row["days"]) == (
        row["passed"] + row["failed_legit"] + row["failed_outside"]
    )
    assert row["would_quarantine"]["outside_spoofing"] == sum(
        s.messages for s in demo.facts.sources if s.kinds == ("outside_spoofing",)
    )
    assert {p["p"] for p in row["policies"]} == {"none", "quarantine"}
    assert row["policy_consistent"] is False
    assert run_command(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("cs.univ.example: not ready: ")
    assert "p=quarantine would have sent to spam: " in text
    assert "published policy differs between receivers (" in text
