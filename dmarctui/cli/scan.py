"""``dmarctui scan``: account for every message of a folder, as text or JSON."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import humanize

from dmarctui.cli.common import (
    ProgressLine,
    add_folder_arguments,
    add_index_arguments,
    fail,
    folder_of,
    open_index,
)
from dmarctui.config import ConfigError, load_config
from dmarctui.export import scan_to_dict
from dmarctui.heap import release_freed_memory
from dmarctui.imap_settings import is_imap_url
from dmarctui.index import Index, IndexStoreError, UpdateStats
from dmarctui.index_summary import ScanSummary
from dmarctui.mailstore import MailStoreError, open_store
from dmarctui.scan import ScanResult, scan_iter
from dmarctui.wording import count


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "scan",
        help="scan a folder and print what it holds",
        description=(
            "Scan a folder read-only and account for every message. What was learnt is kept in"
            " an index, so the next scan reads only new or changed messages."
        ),
    )
    add_folder_arguments(parser)
    add_index_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="the configuration to rank the sources with (default: ~/.config/dmarctui/config.toml)",
    )
    parser.add_argument(
        "--no-ranking",
        action="store_true",
        help="do not rank the sources after a first scan (the first triage command will)",
    )
    parser.set_defaults(func=run)


def prepare_ranking(args: argparse.Namespace, index: Index) -> None:
    """After the scan, rank the sources as ``flagged`` would (the whole period, cached PTR
    names) when no stored ranking serves them, so the triage commands and the TUI answer at
    once. Quiet: a configuration that cannot be read is left to the triage commands to report,
    and an index that cannot store the ranking is only warned about (the scan is kept)."""
    try:
        config, _ = load_config(args.config)
    except ConfigError:
        return
    release_freed_memory()  # what the scan held, before the ranking grows (about 12 MB at 1M)
    gc.set_threshold(50_000, 50, 100)  # as for the triage commands: many small objects
    line = ProgressLine()
    try:
        index.prepare_ranking(
            config, lambda done, total: line.show(f"ranking the sources: {done}/{total} reports")
        )
    except IndexStoreError as exc:  # the scan is done and kept: its summary still comes
        line.close()
        print(f"dmarctui: the sources were not ranked: {exc}", file=sys.stderr)
    finally:
        line.close()


def run(args: argparse.Namespace) -> int:
    if args.no_index and not is_imap_url(args.path):  # IMAP: the in-memory index fetches
        return _run_in_memory(args)
    try:
        index, stats = open_index(args)
    except (MailStoreError, IndexStoreError) as exc:
        return fail(str(exc))
    with index:
        for notice in index.notices:
            print(f"dmarctui: {notice}", file=sys.stderr)
        if args.json:
            data = index.scan_dict()
            data["cancelled"] = data["cancelled"] or stats.cancelled
            data["index"] = {"db": str(index.db_path), **_changes(stats)}
            print(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            result = index.summary()
            result.elapsed = stats.elapsed
            result.cancelled = result.cancelled or stats.cancelled
            print_summary(result)
            print(
                f"\nindex {index.db_path}: {stats.new} new, {stats.changed} changed,"
                f" {stats.gone} gone, {stats.unchanged} unchanged"
                f" ({count(stats.bodies_read, 'message')} read)"
            )
        # Last: the scan is committed and told before the ranking, which ctrl+c, SIGTERM or
        # a cron timeout may cut short (the next triage command then counts for itself).
        sys.stdout.flush()
        if not (args.no_ranking or args.no_index or stats.cancelled):  # nothing kept in memory
            prepare_ranking(args, index)
    return 0


def _changes(stats: UpdateStats) -> dict[str, int]:
    return {
        "new": stats.new,
        "changed": stats.changed,
        "gone": stats.gone,
        "unchanged": stats.unchanged,
        "bodies_read": stats.bodies_read,
    }


def _run_in_memory(args: argparse.Namespace) -> int:
    try:
        folder_of(args)  # refuses --insecure-tls for a local folder
        store = open_store(args.path, args.format)
    except MailStoreError as exc:
        return fail(str(exc))
    line = ProgressLine()
    gen = scan_iter(store, workers=args.workers)
    try:
        while True:
            line.update(next(gen))
    except StopIteration as stop:
        result: ScanResult = stop.value
    finally:
        line.close()
    if args.json:
        print(json.dumps(scan_to_dict(result), indent=2, ensure_ascii=False))
    else:
        print_summary(summary_of(result))
    return 0


def summary_of(result: ScanResult) -> ScanSummary:
    """The text summary's figures from an in-memory scan (``--no-index``)."""
    reports = result.reports
    summary = ScanSummary(result.folder, result.format, result.buckets)
    summary.reports = len(reports)
    if reports:
        summary.begin = min(f.report.report_metadata.date_range.begin for f in reports)
        summary.end = max(f.report.report_metadata.date_range.end for f in reports)
    summary.messages_covered = sum(f.report.messages_total for f in reports if result.is_counted(f))
    summary.recovered = sum(1 for f in reports if f.report.status == "recovered")
    summary.policy_domains = sorted({f.report.policy_published.domain for f in reports})
    summary.duplicates = list(result.duplicates)
    summary.collisions = list(result.collisions)
    summary.errors = list(result.errors)
    summary.warnings = list(result.warnings)
    summary.locations = {
        p.message: ref.location
        for p in (*result.errors, *result.warnings)
        if (ref := result.refs.get(p.message)) is not None
    }
    summary.cancelled = result.cancelled
    summary.elapsed = result.elapsed
    return summary


def _day(epoch: int) -> str:
    """A UTC day; a last day is shown as ``end - 1``, as reports end at the next midnight."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def print_summary(result: ScanSummary) -> None:
    print(
        f"{result.folder} ({result.format}): {count(result.messages, 'message')}"
        f" scanned in {humanize.precisedelta(result.elapsed, minimum_unit='milliseconds')}"
    )
    for name, n in result.buckets.items():
        print(f"  {name:<11} {humanize.intcomma(n):>8}")
    if result.reports and result.begin is not None and result.end is not None:
        print(
            f"\n{count(result.reports, 'distinct aggregate report')},"
            f" {_day(result.begin)} to {_day(max(result.begin, result.end - 1))},"
            f" covering {count(result.messages_covered, 'message')}"
            + (f"; {result.recovered} recovered" if result.recovered else "")
        )
        domains = result.policy_domains
        print(
            "  policy domains: "
            + ", ".join(domains[:10])
            + (f" and {len(domains) - 10} more" if len(domains) > 10 else "")
        )
    if result.duplicates:
        print(
            f"\n{count(len(result.duplicates), 'report')} arrived again (duplicates of one seen"
            f" before); {count(result.buckets['duplicate'], 'message')} held nothing but such"
            " copies"
        )
    for c in result.collisions:
        print(f"collision on report_id {c.report_id}: {c.detail}")
    if result.errors:
        print(f"\n{count(len(result.errors), 'message')} with errors:")
        for e in result.errors:
            print(f"  {result.locations.get(e.message, e.message)}: {e.reason}")
    for w in result.warnings:
        print(f"warning: {result.locations.get(w.message, w.message)}: {w.reason}")
    if result.cancelled:
        print("\nscan cancelled: the figures above are partial")
