"""``dmarctui flagged``: the ranked problem sources with counts, period and advice."""

from __future__ import annotations

import argparse
import json
import sys
import time

from dmarctui.cli.common import fail
from dmarctui.cli.triage_input import (
    InputError,
    add_triage_arguments,
    config_from_args,
    load_reports,
    ptr_names,
)
from dmarctui.config import Config
from dmarctui.csv_cells import SafeCsvWriter
from dmarctui.display_text import visible
from dmarctui.model import AggregateReport, Finding
from dmarctui.triage import find_findings, finding_to_dict, problems
from dmarctui.wording import KIND_LABELS, count

PTR_LOOKUPS = 256
"""Most-ranked sources whose PTR is looked up: a spam run must not mean thousands of lookups."""

CSV_COLUMNS = (
    "source_ip",
    "kind",
    "severity",
    "messages",
    "header_from",
    "first_seen",
    "last_seen",
    "ptr",
    "contact",
    "contact_email",
    "network",
    "reporters",
    "advice",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "flagged",
        help="list the sources that need action, ranked",
        description="Rank the sources sending with our domains by what needs doing about them.",
    )
    add_triage_arguments(parser)
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print a JSON list of findings")
    out.add_argument("--csv", action="store_true", help="print CSV, one finding per line")
    parser.add_argument(
        "--all", action="store_true", help="include informational findings (forwarded mail)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        reports = load_reports(args)
    except InputError as exc:
        return fail(str(exc))
    findings = flagged_findings(args, reports, config)
    if args.json:
        print(json.dumps([finding_to_dict(f) for f in findings], indent=2, ensure_ascii=False))
    elif args.csv:
        write_csv(findings)
    else:
        print_text(findings, len(reports))
    return 0


def flagged_findings(
    args: argparse.Namespace, reports: list[AggregateReport], config: Config
) -> list[Finding]:
    """Findings with PTR names; only flagged sources are looked up, then classified again
    because PTR-pattern senders and contacts can change the result."""
    period = {"since": args.since, "until": args.until}
    findings = find_findings(reports, config, **period)
    ptrs = ptr_names(args, list(dict.fromkeys(f.source_ip for f in findings))[:PTR_LOOKUPS])
    if ptrs:
        findings = find_findings(reports, config, ptrs, **period)
    return findings if args.all else problems(findings)


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def print_text(findings: list[Finding], reports: int) -> None:
    if not findings:
        print(f"Nothing flagged in {count(reports, 'report')}.")
        return
    for n, f in enumerate(findings, 1):
        name = f" ({visible(f.ptr.rstrip('.'))})" if f.ptr else ""
        print(f"{n:>3}. [{f.severity}] {KIND_LABELS[f.kind]}  {visible(f.source_ip)}{name}")
        print(
            f"     {count(f.messages, 'message')} as {visible(f.header_from)},"
            f" {_day(f.first_seen)} to {_day(f.last_seen)},"
            f" reported by {visible(', '.join(f.reporters))}"
        )
        if f.contact or f.network:
            who = f"{f.contact} <{f.contact_email}>" if f.contact else "no contact configured"
            net = f"  network {f.network}" if f.network else ""
            print(f"     contact: {who}{net}")
        print(f"     {f.advice}")


def write_csv(findings: list[Finding]) -> None:
    writer = SafeCsvWriter(sys.stdout)
    writer.writerow(CSV_COLUMNS)
    for f in findings:
        row = finding_to_dict(f, evidence=False)
        row["reporters"] = " ".join(f.reporters)
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
