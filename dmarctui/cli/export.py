"""``dmarctui export``: a folder's reports as parsedmarc JSON, flat CSV or bulk NDJSON.

The output feeds the dashboards and search stacks built around parsedmarc (OpenSearch or
Elasticsearch with its Kibana/Grafana dashboards, Splunk). It is streamed from the index: one
report in memory at a time, whatever the folder's size.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from dmarctui.cli.common import add_folder_arguments, add_index_arguments, fail, open_index
from dmarctui.cli.triage_input import parse_since, parse_until
from dmarctui.csv_cells import safe_cell
from dmarctui.exchange import (
    AGGREGATE_CSV_FIELDS,
    FAILURE_CSV_FIELDS,
    TLS_CSV_FIELDS,
    AggregateShapes,
    failure_bulk_lines,
    failure_csv_row,
    failure_json,
    tls_bulk_lines,
    tls_csv_rows,
    tls_json,
)
from dmarctui.index import Index, IndexStoreError, ReportFilter
from dmarctui.mailstore import MailStoreError

KINDS = ("aggregate", "failure", "tls")
SHAPES = ("json", "csv", "ndjson")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write reports as parsedmarc JSON or CSV, or as search-engine bulk NDJSON",
        description=(
            "Write the folder's distinct reports in the shapes parsedmarc's tools and"
            " dashboards read: its JSON, its flat CSV (one row per record), or NDJSON for the"
            " Elasticsearch/OpenSearch bulk API. Streamed from the index."
        ),
    )
    add_folder_arguments(parser)
    add_index_arguments(parser)
    parser.add_argument("--to", choices=SHAPES, default="json", help="output shape (default: json)")
    parser.add_argument(
        "--reports", choices=KINDS, default="aggregate", help="which reports (default: aggregate)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, metavar="FILE",
        help="write here instead of standard output",
    )  # fmt: skip
    parser.add_argument(
        "--since", type=parse_since, default=None, metavar="DATE",
        help="only reports from this day on (YYYY-MM-DD or epoch)",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=parse_until, default=None, metavar="DATE",
        help="only reports up to this day, inclusive (YYYY-MM-DD or epoch)",
    )  # fmt: skip
    parser.add_argument("--domain", default=None, help="only reports about this policy domain")
    parser.add_argument(
        "--reporter", default=None, help="only aggregate reports from this org name or e-mail"
    )
    parser.add_argument(
        "--index-prefix", default="", metavar="PREFIX",
        help="prefix of the bulk NDJSON index names (parsedmarc's index_prefix)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        index, _ = open_index(args)
    except (MailStoreError, IndexStoreError) as exc:
        return fail(str(exc))
    flt = ReportFilter(
        domain=args.domain, reporter=args.reporter, since=args.since, until=args.until
    )
    with index:
        try:
            with _output(args.output) as out:
                write_export(index, flt, args.reports, args.to, out, args.index_prefix)
        except BrokenPipeError:
            raise
        except OSError as exc:
            return fail(f"cannot write {args.output}: {exc.strerror or exc}")
    return 0


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        yield out


def write_export(
    index: Index, flt: ReportFilter, kind: str, shape: str, out: TextIO, index_prefix: str = ""
) -> int:
    """Write the export; returns how many reports went out."""
    if shape == "json":
        return _write_json(_json_items(index, flt, kind), out)
    if shape == "csv":
        return _write_csv(index, flt, kind, out)
    return _write_ndjson(index, flt, kind, out, index_prefix)


def _json_items(index: Index, flt: ReportFilter, kind: str) -> Iterator[str]:
    if kind == "aggregate":
        shapes = AggregateShapes()
        return (shapes.report_json(head, rows) for head, rows in index.export_aggregate(flt))
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    if kind == "failure":
        return (encode(failure_json(report)) for _, report in index.export_failures(flt))
    return (encode(tls_json(report)) for _, report in index.export_tls(flt))


def _write_json(items: Iterator[str], out: TextIO) -> int:
    """A JSON list, one report per line, written as each report is read."""
    n = 0
    out.write("[")
    for item in items:
        out.write(",\n" if n else "\n")
        out.write(item)
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _write_csv(index: Index, flt: ReportFilter, kind: str, out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    n = 0
    if kind == "aggregate":
        writer.writerow(AGGREGATE_CSV_FIELDS)
        shapes = AggregateShapes()
        for head, records in index.export_aggregate(flt):
            if records:
                out.write("\n".join(shapes.csv_lines(head, records)) + "\n")
            n += 1
    elif kind == "failure":
        writer.writerow(FAILURE_CSV_FIELDS)
        for _, failure in index.export_failures(flt):
            writer.writerow(_safe_row(failure_csv_row(failure)))
            n += 1
    else:
        writer.writerow(TLS_CSV_FIELDS)
        for _, tls in index.export_tls(flt):
            writer.writerows([_safe_row(row) for row in tls_csv_rows(tls)])
            n += 1
    return n


def _safe_row(row: list[Any]) -> list[Any]:
    return [safe_cell(value) for value in row]


def _write_ndjson(
    index: Index, flt: ReportFilter, kind: str, out: TextIO, index_prefix: str
) -> int:
    n = 0
    if kind == "aggregate":
        shapes = AggregateShapes(index_prefix)
        for head, records in index.export_aggregate(flt):
            out.write("\n".join(shapes.bulk_lines(head, records)))
            if records:
                out.write("\n")
            n += 1
    elif kind == "failure":
        for doc_id, failure in index.export_failures(flt):
            out.write("\n".join(failure_bulk_lines(failure, doc_id, index_prefix)) + "\n")
            n += 1
    else:
        for doc_id, tls in index.export_tls(flt):
            out.write("\n".join(tls_bulk_lines(tls, doc_id, index_prefix)) + "\n")
            n += 1
    return n
