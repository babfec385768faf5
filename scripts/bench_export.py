"""Export benchmark: ``dmarctui export`` of a full index against a plain SQLite read of its rows.

Builds (once, then reuses) an index of 100,000 reports with 1,000,000 records under the bench
cache, by inserting rows directly: the export reads only the index, so no mail folder needs
scanning. Each measurement runs in its own process so its peak RSS is its own; the export is
also run on a tenth of the reports to show memory stays flat. Prints rows for ``bench.py``'s
table, or the table itself when run alone. Target: export ≤ 3× the plain read, RSS flat.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("DMARCTUI_BENCH_CACHE", Path.home() / ".cache" / "dmarctui-bench"))
REPORTS = 100_000
RECORDS_PER_REPORT = 10


def build(folder: Path, db: Path, reports: int) -> None:
    """An index bound to an empty Maildir holding ``reports`` × 10 varied records."""
    sys.path.insert(0, str(REPO))
    from dmarctui.index import Index
    from dmarctui.index_schema import ip_key
    from dmarctui.index_update import ComboIds, write_records

    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    reporters = [("google.com", "noreply-dmarc-support@google.com"),
                 ("Yahoo", "dmarc@yahoo.com"), ("Mail.Ru", "dmarc@corp.mail.ru"),
                 ("Enterprise Outlook", "dmarcreport@microsoft.com")]  # fmt: skip
    auth_dkim = ['[["example.ac.jp","pass","s1",null]]', '[["example.ac.jp","fail","s1",null]]',
                 '[]', '[["lists.example.org","pass","k",null]]']  # fmt: skip
    auth_spf = ['[["example.ac.jp","pass","mfrom",null]]', '[["other.example","fail",null,null]]']
    with Index.open(folder, db=db) as index:
        conn = index._conn
        combos = ComboIds(conn)
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO messages (key, seq, location, size, mtime, scanned_at, bucket)"
            " VALUES ('m', 0, 'cur/m', 1, 0, 0, 'report')"
        )
        for pk in range(1, reports + 1):
            org, email = reporters[pk % len(reporters)]
            begin = 1_700_000_000 + (pk % 365) * 86400
            conn.execute(
                "INSERT INTO reports (pk, message_id, part, content_key, records_key, policy_key,"
                " org_name, email, report_id, begin, end, domain, p, pct, status, record_count,"
                " messages_total, passed, failed, d_none, d_quarantine, d_reject, is_first,"
                " counted) VALUES (?, 1, '2', ?, '', '', ?, ?, ?, ?, ?, 'example.ac.jp', 'none',"
                " 100, 'ok', 10, 10, 10, 0, 10, 0, 0, 1, 1)",
                (pk, f"c{pk:012d}", org, email, f"r{pk}", begin, begin + 86399),
            )
            rows = []
            for idx in range(RECORDS_PER_REPORT):
                ip = f"192.0.{rng.randrange(256)}.{rng.randrange(256)}"
                rows.append((idx, ip, rng.randrange(1, 50), "none",
                             rng.choice(("pass", "fail")), rng.choice(("pass", "fail")), "[]",
                             "example.ac.jp", None, None, rng.choice(auth_dkim),
                             rng.choice(auth_spf), ip_key(ip)))  # fmt: skip
            write_records(conn, pk, rows, combos)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('updated_at', '0')")
        conn.execute("COMMIT")


def prepared(reports: int) -> tuple[Path, Path]:
    folder = CACHE / f"export{reports}" / "Maildir"
    db = CACHE / f"export{reports}" / "index.sqlite3"
    if not db.exists():
        started = time.monotonic()
        db.parent.mkdir(parents=True, exist_ok=True)
        partial = db.with_suffix(".partial")
        for leftover in db.parent.glob("index.partial*"):
            leftover.unlink()
        build(folder, partial, reports)
        partial.rename(db)
        print(f"export index of {reports:,} reports ready in {time.monotonic() - started:.0f} s",
              file=sys.stderr)  # fmt: skip
    return folder, db


def measure(task: str, folder: str, db: str, shape: str = "") -> dict:
    """In this process: ``read`` iterates the export query's rows; ``export`` writes ``shape``."""
    sys.path.insert(0, str(REPO))
    from dmarctui.cli.export import write_export
    from dmarctui.index import Index, ReportFilter
    from dmarctui.index_export import aggregate_sql

    with Index.open(Path(folder), db=Path(db)) as index:
        started = time.monotonic()
        cpu = time.process_time()
        if task == "read":
            sql, params = aggregate_sql(ReportFilter())
            rows = sum(1 for _ in index._conn.execute(sql, params))
        else:
            with open(os.devnull, "w", encoding="utf-8") as out:
                rows = write_export(index, ReportFilter(), "aggregate", shape, out)
        elapsed = time.monotonic() - started
    return {
        "elapsed": elapsed,
        "cpu": time.process_time() - cpu,
        "rows": rows,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True, capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows() -> list[tuple[str, str, str, str]]:
    """The table rows: plain read, each export shape, and the small index for flat memory."""
    folder, db = prepared(REPORTS)
    records = REPORTS * RECORDS_PER_REPORT
    read = _child("read", str(folder), str(db))
    out = [(
        f"plain SQLite read of the export's {records:,} record rows",
        f"{read['elapsed']:.2f} s",
        f"{records / read['elapsed']:,.0f} rows/s (CPU {read['cpu']:.2f} s)",
        f"{read['maxrss_kib'] / 1024:.0f} MB",
    )]  # fmt: skip
    small_folder, small_db = prepared(REPORTS // 10)
    for shape in ("ndjson", "csv", "json"):
        result = _child("export", str(folder), str(db), shape)
        small = _child("export", str(small_folder), str(small_db), shape)
        out.append((
            f"export --to {shape}, {records:,} records (target ≤ 3× read, RSS flat)",
            f"{result['elapsed']:.2f} s",
            f"{records / result['elapsed']:,.0f} records/s;"
            f" {result['elapsed'] / read['elapsed']:.2f}× plain read"
            f" (CPU {result['cpu'] / read['cpu']:.2f}×)",
            f"{result['maxrss_kib'] / 1024:.0f} MB (at {records // 10:,} records:"
            f" {small['maxrss_kib'] / 1024:.0f} MB)",
        ))  # fmt: skip
    return out


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(*sys.argv[2:])))
        return 0
    print("| measurement | time | throughput | peak RSS |")
    print("|---|---:|---|---:|")
    for row in rows():
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
