"""``dmarctui flagged``: the ranked problem sources with counts, period and advice."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from dmarctui.cli.common import fail
from dmarctui.cli.triage_input import (
    PTR_LOOKUPS,
    InputError,
    add_triage_arguments,
    open_triage,
    triage,
)
from dmarctui.csv_cells import SafeCsvWriter
from dmarctui.display_text import visible
from dmarctui.index_triage import IndexTriage
from dmarctui.model import Finding
from dmarctui.triage import finding_to_dict, problems, with_unconfirmed
from dmarctui.wording import KIND_LABELS, count

__all__ = ["PTR_LOOKUPS", "run"]

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
    parser.add_argument(
        "--evidence",
        action="store_true",
        help="with --json: include every record behind each finding",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        index, config = open_triage(args)
    except InputError as exc:
        return fail(str(exc))
    with index:
        period = {"since": args.since, "until": args.until}
        run, unconfirmed = triage(args, index, config, **period)
        findings = run.findings()
        findings = with_unconfirmed(findings if args.all else problems(findings), unconfirmed)
        if args.json:
            write_json(findings, run if args.evidence else None)
        elif args.csv:
            write_csv(findings)
        else:
            print_text(findings, index.counted_count(), run.warning)
    return 0


_ONE_LINE = json.JSONEncoder(ensure_ascii=False)
"""One encoder for every finding (``json.dumps`` with an option builds one per call)."""


def write_json(findings: list[Finding], run: IndexTriage | None) -> None:
    """A JSON list, one finding at a time; evidence rows (``--evidence``) are read per finding,
    so the output may be large but memory stays small.

    Indented for a terminal; otherwise one finding per line, written by the C encoder (the
    indenting one is pure Python and took seconds for ten thousand findings).
    """
    out = sys.stdout
    pretty = out.isatty()
    out.write("[")
    chunk: list[str] = []
    for n, f in enumerate(findings):
        data = finding_to_dict(f, evidence=False)
        if run is not None:
            data = finding_to_dict(
                replace(f, evidence=tuple(run.evidence(f.source_ip, f.kind))), evidence=True
            )
        if pretty:
            text = "\n  " + json.dumps(data, indent=2, ensure_ascii=False).replace("\n", "\n  ")
        else:
            text = "\n" + _ONE_LINE.encode(data)
        chunk.append(("," if n else "") + text)
        if len(chunk) >= 256 or run is not None:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk) + ("\n]\n" if findings else "]\n"))


def _day(epoch: int) -> str:
    """A UTC day; a last day is shown as ``end - 1``, as reports end at the next midnight."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def print_text(findings: list[Finding], reports: int, warning: str | None = None) -> None:
    if not findings:
        if warning:
            print(f"Nothing flagged in {count(reports, 'report')}, but {visible(warning)}.")
        else:
            print(f"Nothing flagged in {count(reports, 'report')}.")
        return
    for n, f in enumerate(findings, 1):
        name = f" ({visible(f.ptr.rstrip('.'))})" if f.ptr else ""
        if f.ptr_unconfirmed:
            name = f" ({visible(f.ptr_unconfirmed.rstrip('.'))}, PTR not confirmed)"
        print(f"{n:>3}. [{f.severity}] {KIND_LABELS[f.kind]}  {visible(f.source_ip)}{name}")
        print(
            f"     {count(f.messages, 'message')} as {visible(f.header_from)},"
            f" {_day(f.first_seen)} to {_day(max(f.first_seen, f.last_seen - 1))},"
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
