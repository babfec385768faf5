"""``make bench``: whole commands as a user runs them, against parsedmarc, and the internals.

Whole-command rows run ``dmarctui scan`` (cold, a fresh index each run; it ends by ranking the
sources and storing the ranking, and ``--no-ranking`` times the scan alone), then the warm ``scan``,
``flagged --json`` and ``readiness --json`` (also counted: stored triage results dropped first,
as after a change; and ``flagged --json`` after 100 new messages, which brings the stored result
up to date), each in its own process tree: wall time, CPU seconds
of every process of the tree, peak RSS summed over the tree, the median and range over
``--runs``. parsedmarc (PyPI, installed into ``.bench-venv/``, run offline) parses the same
messages. They run on a deterministic synthetic folder (built once under
``~/.cache/dmarctui-bench/``) and on a folder the project did not generate: the public corpus
repeated to 10,000 messages, each with its own Message-ID. A re-triage row times ``flagged
--json`` right after the config changed (other own domains and networks) against the same run
with the config unchanged. ``--folder NxR`` (or ``--issue-folders``) adds synthetic folders of N
reports with R records each, as the performance targets name them. Internal rows time
``Index.update`` alone and the parse floor. Prints one markdown table. Nothing here is a test:
numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("DMARCTUI_BENCH_CACHE", Path.home() / ".cache" / "dmarctui-bench"))
BENCH_VENV = REPO / ".bench-venv"
PARSEDMARC = "parsedmarc==11.1.0"


def compile_package() -> None:
    """Byte-compile dmarctui as an install does (pip, pipx and uv compile what they install): a
    checkout run with ``PYTHONDONTWRITEBYTECODE`` set compiles every module on every start
    (0.05-0.1 s a command), which no user waits for."""
    import compileall

    compileall.compile_dir(REPO / "dmarctui", quiet=1)


def child(task: str, *args: str, python: str = sys.executable) -> dict:
    """Run one measurement in a fresh process; its last stdout line is a JSON object."""
    out = subprocess.run(
        [python, str(REPO / "scripts" / "bench_child.py"), task, *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_parsedmarc() -> str | None:
    """The bench venv's python with parsedmarc installed; None (and why) when it cannot be."""
    python = BENCH_VENV / "bin" / "python"
    probe = [str(python), "-c", "import parsedmarc"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    print(f"installing {PARSEDMARC} into {BENCH_VENV} ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PARSEDMARC], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"parsedmarc could not be installed ({exc}); skipping it", file=sys.stderr)
        return None
    return str(python)


def build(size: int, records: int | None = None) -> Path:
    """The synthetic folder of ``size`` messages: 1-50 records per report, or ``records`` each."""
    from dmarctui.synthetic import build_synthetic

    started = time.monotonic()
    if records is None:
        folder = build_synthetic(CACHE / f"s{size}", size, seed=1)
    else:
        folder = build_synthetic(CACHE / f"s{size}x{records}", size, seed=1,
                                 records=(records, records))  # fmt: skip
    print(f"folder of {size:,} messages ready in {time.monotonic() - started:.1f} s: {folder}",
          file=sys.stderr)  # fmt: skip
    return folder


def shape(text: str) -> tuple[int, int]:
    """``10000x30``: 10,000 reports of 30 records each."""
    try:
        messages, records = (int(n) for n in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected MESSAGESxRECORDS, e.g. 10000x30"
        ) from None
    if messages < 1 or records < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: both numbers must be at least 1")
    return messages, records


ISSUE_FOLDERS = ((10_000, 30), (100_000, 10), (10_000, 200))
"""The folders issue 10's targets name: warm commands on the first two, cold RSS on the last."""


def mb(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


CORPUS = Path(os.environ.get("DMARCTUI_SHARED", REPO.parent / "shared")) / "corpus" / "public"


def build_corpus_repeat(size: int) -> Path | None:
    """The public corpus's Maildir repeated to ``size`` messages, each with its own Message-ID:
    material the project did not generate, at the size of the synthetic folder."""
    source = CORPUS / "mail" / "Maildir"
    if not source.is_dir():
        print(f"public corpus not found at {source}; skipping its rows", file=sys.stderr)
        return None
    target = CACHE / f"corpus{size}"
    folder = target / "Maildir"
    marker = target / "complete"
    if marker.exists():
        return folder
    shutil.rmtree(target, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    originals = sorted(p for sub in ("cur", "new") for p in (source / sub).iterdir())
    for n in range(size):
        data = originals[n % len(originals)].read_bytes()
        head, sep, body = data.partition(b"\n\n")
        lines = [line for line in head.split(b"\n") if not line.lower().startswith(b"message-id:")]
        lines.insert(0, f"Message-ID: <bench-{n}@dmarctui.invalid>".encode())
        (folder / "cur" / f"{1700000000 + n}.M{n}P1.bench:2,S").write_bytes(
            b"\n".join(lines) + sep + body
        )
    marker.touch()
    return folder


def spread(values: list[float], unit: str = " s", digits: int = 2) -> str:
    """Median, and the range over the runs when there are several."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    if len(ordered) == 1:
        return f"{median:.{digits}f}{unit}"
    return f"{median:.{digits}f}{unit} ({ordered[0]:.{digits}f}–{ordered[-1]:.{digits}f})"


def cpu_spread(values: list[float]) -> str:
    return spread(values, "", 1)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


Row = tuple[str, str, str, str, str, str]


def message_count(folder: Path) -> int:
    return sum(1 for sub in ("cur", "new") for _ in (folder / sub).iterdir())


def forget_triage_results(db: Path) -> None:
    """Drop the triage results stored in the index, so the next command counts."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("DELETE FROM triage_results")
        conn.commit()
    finally:
        conn.close()


def command_rows(
    name: str,
    folder: Path,
    work: Path,
    runs: int,
    pdm: str | None,
    pdm_limit: int = 0,
    *,
    tui: bool = True,
    retriage: bool = True,
) -> list[Row]:
    """Whole commands on one folder, each run ``runs`` times: cold ``dmarctui scan`` (a fresh
    index each run) against parsedmarc on the same messages, then the warm commands."""
    rows: list[Row] = []
    colds = []
    for run in range(runs):
        db = work / f"{name}-{run}.sqlite3"
        colds.append(child("command", "scan", str(folder), "--db", str(db)))
    cold_wall = median([c["elapsed"] for c in colds])
    messages = message_count(folder)
    db = work / f"{name}-0.sqlite3"
    records = _records(db)
    rows.append((
        f"`dmarctui scan`, cold, {name} ({records:,} records)", "command",
        spread([c["elapsed"] for c in colds]), cpu_spread([c["cpu"] for c in colds]), "100 %",
        mb(max(c["tree_rss_kib"] for c in colds)),
    ))  # fmt: skip
    alone = []  # the scan without the ranking it stores for the triage commands after it
    for run in range(runs):
        db_alone = work / f"{name}-alone-{run}.sqlite3"
        alone.append(child("command", "scan", str(folder), "--db", str(db_alone), "--no-ranking"))
        db_alone.unlink()
    rows.append((
        f"`dmarctui scan --no-ranking`, cold (the scan without ranking the sources), {name}",
        "command", spread([c["elapsed"] for c in alone]), cpu_spread([c["cpu"] for c in alone]),
        f"{100 * median([c['elapsed'] for c in alone]) / cold_wall:.0f} %",
        mb(max(c["tree_rss_kib"] for c in alone)),
    ))  # fmt: skip
    if pdm is not None:
        rows.append(parsedmarc_row(name, folder, runs, pdm, pdm_limit, messages, colds, alone))
    if tui:
        rows += tui_rows(name, folder, db, max(runs, 2), cold_wall)  # counted, then stored
    if retriage:  # first: the warm rows below leave the stored result the later rows expect
        rows.append(retriage_row(name, folder, db, work, runs, cold_wall))
    for label, argv, forget in (
        ("`dmarctui scan`, warm (summary)", ["scan"], False),
        ("`dmarctui flagged --json`, counted (first after a change)", ["flagged", "--json"], True),
        ("`dmarctui flagged --json`, warm", ["flagged", "--json"], False),
        (
            "`dmarctui readiness --json`, counted (first after a change)",
            ["readiness", "--json"],
            True,
        ),
        ("`dmarctui readiness --json`, warm", ["readiness", "--json"], False),
    ):
        results = []
        for _ in range(runs):
            if forget:  # as after new mail: no stored triage result to read
                forget_triage_results(db)
            results.append(child("command", argv[0], str(folder), "--db", str(db), *argv[1:]))
        wall = median([r["elapsed"] for r in results])
        rows.append((
            f"{label}, {name}", "command", spread([r["elapsed"] for r in results]),
            cpu_spread([r["cpu"] for r in results]),
            f"{100 * wall / cold_wall:.1f} % (target ≤ 5 %)",
            mb(max(r["tree_rss_kib"] for r in results)),
        ))  # fmt: skip
    return rows


def _records(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        conn.close()


def parsedmarc_row(
    name: str,
    folder: Path,
    runs: int,
    pdm: str,
    limit: int,
    messages: int,
    colds: list[dict],
    alone: list[dict],
) -> Row:
    """parsedmarc on the folder's messages, against our cold scans of the whole folder (and
    against the scans without the ranking, which parsedmarc does not do).

    With ``limit``, parsedmarc reads the first ``limit // 2`` and the first ``limit`` messages:
    the difference is its cost per message, the rest its start (about 0.7 s: imports, its
    tables). Its time for the whole folder is then the start once plus the cost per message
    times the messages. Scaling the run of ``limit`` messages whole counted the start once per
    ``limit`` messages and made parsedmarc about an eighth slower than it is at 10,000.
    """
    sizes = [limit // 2, limit] if limit and limit < messages else [0]
    theirs = {n: [child("parsedmarc", str(folder), str(n), python=pdm) for _ in range(runs)]
              for n in sizes}  # fmt: skip
    full = theirs[sizes[-1]]
    parsed = full[0]["messages"]
    if not limit and parsed != messages:
        raise SystemExit(f"parsedmarc read {parsed} messages of {messages} in {folder}")

    def whole(key: str) -> float:
        """parsedmarc's median ``key`` for the whole folder."""
        value = median([t[key] for t in theirs[sizes[-1]]])
        if len(sizes) == 1:
            return value
        half = median([t[key] for t in theirs[sizes[0]]])
        per_message = (value - half) / (sizes[1] - sizes[0])
        return value + per_message * (messages - sizes[1])

    wall, cpu = whole("elapsed"), whole("cpu")
    cold_wall = median([c["elapsed"] for c in colds])
    cold_cpu = median([c["cpu"] for c in colds])
    which = (
        f"first {sizes[0]:,} and {parsed:,} of the {messages:,} messages, start counted once,"
        f" extrapolated to {messages:,}: {wall:.1f} s wall, {cpu:.1f} s CPU"
        if len(sizes) > 1
        else f"all {messages:,} messages"
    )
    return (
        f"parsedmarc {full[0]['version']} (offline), {name}, {which}"
        f" ({full[0]['failed']:,} raised an error)", "command",
        spread([t["elapsed"] for t in full]), cpu_spread([t["cpu"] for t in full]),
        f"ours is {wall / cold_wall:.1f}× faster (wall), {cpu / cold_cpu:.1f}×"
        f" (CPU); without the ranking {wall / median([c['elapsed'] for c in alone]):.1f}×"
        f" and {cpu / median([c['cpu'] for c in alone]):.1f}×; targets ≥ 10× and ≥ 5×",
        mb(max(t["maxrss_kib"] for t in full)),
    )  # fmt: skip


RETRIAGE_CONFIGS = (
    '[domains]\nown = ["example.ac.jp"]\n\n[networks]\ninternal = ["192.0.2.0/24", "{extra}"]\n',
    '[domains]\nown = ["example.ac.jp", "example.com"]\ninclude_subdomains = false\n\n'
    '[networks]\ninternal = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32", "{extra}"]\n',
)
"""Configs with other own domains and networks (every combination's verdict may change); each
run adds a network of its own, so no triage result stored for an earlier run can answer."""


def retriage_row(name: str, folder: Path, db: Path, work: Path, runs: int, cold_wall: float) -> Row:
    """``flagged --json`` on the warm index right after the config changed (own domains and
    networks), against the same command run again with the config unchanged: the first is what
    a user waits for after editing the config (every combination classified again, the counts
    made for that config), the second reads the result stored by the first."""
    changed, unchanged = [], []
    for run in range(runs):
        config = work / f"retriage-{run}.toml"
        extra = f"203.0.113.{run % 256}/32"
        config.write_text(RETRIAGE_CONFIGS[run % 2].format(extra=extra), encoding="utf-8")
        argv = ["flagged", str(folder), "--db", str(db), "--json", "--config", str(config)]
        changed.append(child("command", *argv))
        unchanged.append(child("command", *argv))
    wall = median([r["elapsed"] for r in changed])
    again = median([r["elapsed"] for r in unchanged])
    return (
        f"re-triage after a config change (`flagged --json`, other own domains and networks),"
        f" warm index, {name}", "command", spread([r["elapsed"] for r in changed]),
        cpu_spread([r["cpu"] for r in changed]),
        f"{100 * wall / cold_wall:.1f} %; config unchanged (stored result):"
        f" {spread([r['elapsed'] for r in unchanged])} = {100 * again / cold_wall:.1f} %"
        " (target ≤ 2 s at 1M records)",
        mb(max(r["tree_rss_kib"] for r in changed)),
    )  # fmt: skip


def new_mail_rows(name: str, folder: Path, db: Path) -> list[Row]:
    """100 messages delivered to a folder whose index the warm rows left up to date (as a cron
    scan finds it), then ``scan`` and ``flagged --json``, which brings the stored triage result
    up to date by counting only the new messages' reports. The caller drops the 100 again."""
    from dmarctui.synthetic import append_synthetic

    append_synthetic(folder.parent, 100)
    added = child("command", "scan", str(folder), "--db", str(db))
    updated = child("command", "flagged", str(folder), "--db", str(db), "--json")
    return [
        (
            f"`dmarctui scan` after 100 new messages, {name}", "command",
            f"{added['elapsed']:.2f} s", f"{added['cpu']:.1f}",
            "target ≤ 1 s plus the parse of the 100", mb(added["tree_rss_kib"]),
        ),
        (
            f"`dmarctui flagged --json` after those 100 (stored result brought up to date), {name}",
            "command", f"{updated['elapsed']:.2f} s", f"{updated['cpu']:.1f}", "",
            mb(updated["tree_rss_kib"]),
        ),
    ]  # fmt: skip


TUI_IDLE_SECONDS, TUI_POLL_SECONDS = 10, 2
"""The first TUI run stays this long on every pane and screen, polling the folder this often."""


def tui_rows(name: str, folder: Path, db: Path, runs: int, cold_wall: float) -> list[Row]:
    """The TUI on a warm index (``bench_child.py tui``): first frames with the screen's content,
    idle CPU per pane (first run only), resident and peak memory after every pane.

    The first run opens the index with no triage result stored (the ranking is counted, as on
    the first open after a config change, or after ``scan --no-ranking``); the later runs open
    it again with the result the first stored (as on every later open, and after a scan)."""
    idle = [str(TUI_IDLE_SECONDS), str(TUI_POLL_SECONDS)]
    forget_triage_results(db)
    tuis = [
        child("tui", str(folder), str(db), *(idle if run == 0 else ["0"])) for run in range(runs)
    ]
    rows: list[Row] = []
    for which, group in (("no ranking stored, counted", tuis[:1]),
                         ("ranking stored", tuis[1:])):  # fmt: skip
        if not group:
            continue
        for key, label in (
            ("opened", "TUI first screen"),
            ("sources", "TUI Sources pane, first rows on screen, after the key"),
            ("sources_start", "TUI Sources pane, first rows on screen, from start"),
            ("readiness", "TUI Readiness pane, figures on screen, after the key"),
        ):
            wall = median([t[key] for t in group])
            rows.append((
                f"{label} ({which}), {name}", "command", spread([t[key] for t in group]), "",
                f"{100 * wall / cold_wall:.1f} % (target ≤ 1 s)" if key != "opened" else "", "",
            ))  # fmt: skip
        rows.append((
            f"TUI after every pane, a report's tabs, a source's records, a notice ({which}),"
            f" {name}", "command", "", f"{median([t['cpu'] for t in group]):.1f}",
            f"resident now {mb(max(t['rss_kib'] for t in group))} (target: peak ≤ 300 MB)",
            mb(max(t["maxrss_kib"] for t in group)),
        ))  # fmt: skip
    panes = [k for k in tuis[0] if k.startswith("idle_") and k != "idle_seconds"]
    figures = ", ".join(f"{k[5:]} {tuis[0][k]:.2f}" for k in panes)
    rows.append((
        f"TUI idle {TUI_IDLE_SECONDS} s on each pane, a poll every {TUI_POLL_SECONDS} s, {name}",
        "command", "", f"{max(tuis[0][k] for k in panes):.2f}",
        f"CPU s per pane: {figures} (target ~0)", "",
    ))  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="synthetic folder size")
    parser.add_argument(
        "--large", type=int, default=0,
        help="also a synthetic folder of this size (e.g. 100000): cold and warm, internals",
    )  # fmt: skip
    parser.add_argument(
        "--corpus", type=int, default=10_000, metavar="N",
        help="the public corpus repeated to N messages (0 skips it)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="runs per whole-command row")
    parser.add_argument(
        "--parsedmarc", type=int, default=0, metavar="N",
        help="give parsedmarc only the first N/2 and N messages and extrapolate (its start"
        " counted once; default: all messages; -1 skips it)",
    )  # fmt: skip
    parser.add_argument(
        "--folder", type=shape, action="append", default=[], metavar="NxR",
        help="also a synthetic folder of N reports with R records each (e.g. 10000x30): cold"
        " scan, warm commands, re-triage; repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--issue-folders", action="store_true",
        help="also the folders of the performance targets: "
        + ", ".join(f"{n}x{r}" for n, r in ISSUE_FOLDERS) + " (long: an hour or more)",
    )  # fmt: skip
    parser.add_argument("--keys", action="store_true", help="also run the TUI key benchmark")
    opts = parser.parse_args()
    sys.path.insert(0, str(REPO))

    compile_package()
    small = build(opts.messages)
    corpus = build_corpus_repeat(opts.corpus) if opts.corpus else None
    work = Path(tempfile.mkdtemp(prefix="dmarctui-bench-"))
    rows: list[Row] = []
    load_before = os.getloadavg()
    pdm = None if opts.parsedmarc < 0 else ensure_parsedmarc()
    limit = max(0, opts.parsedmarc)
    try:
        rows += command_rows(f"synthetic {opts.messages:,}", small, work, opts.runs, pdm, limit)
        if corpus is not None:
            rows += command_rows(
                f"public corpus × {opts.corpus:,}", corpus, work, opts.runs, pdm, limit
            )
        db = work / f"synthetic {opts.messages:,}-0.sqlite3"
        rows += new_mail_rows(f"synthetic {opts.messages:,}", small, db)
        build(opts.messages)  # drops the 100 appended messages again
        rows += internal_rows(small, work, opts.messages)
        if opts.large:
            large = build(opts.large)
            rows += command_rows(f"synthetic {opts.large:,}", large, work, 1, None)
            db = work / f"synthetic {opts.large:,}-0.sqlite3"
            rows += new_mail_rows(f"synthetic {opts.large:,}", large, db)
            build(opts.large)
            rows += internal_rows(large, work, opts.large)
        wanted = opts.folder + list(ISSUE_FOLDERS if opts.issue_folders else ())
        shapes = list(dict.fromkeys(wanted))
        for size, records in shapes:
            shaped = build(size, records)
            runs = 1 if size * records > 500_000 else opts.runs
            name = f"synthetic {size:,} × {records} records"
            rows += command_rows(name, shaped, work, runs, None)
            rows += new_mail_rows(name, shaped, work / f"{name}-0.sqlite3")
            build(size, records)  # drops the 100 appended messages again
            for n in range(runs):  # each folder's indexes are big: not kept to the end
                (work / f"{name}-{n}.sqlite3").unlink(missing_ok=True)
        if opts.keys:
            _key_bench()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        build(opts.messages)

    print(f"\n{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    load = ", ".join(f"{n:.2f}" for n in load_before)
    print(f"load average before the runs: {load} (other work on the machine slows every row)\n")
    print("Whole commands are what a user runs (own process tree: wall, CPU of every process,")
    print("peak RSS summed over the tree); internals time one function in a child process.\n")
    print("| measurement | kind | wall (median, range) | CPU s | ratio | peak RSS |")
    print("|---|---|---:|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    subprocess.run([sys.executable, str(REPO / "scripts" / "bench_export.py")], check=False)
    return 0


def internal_rows(folder: Path, work: Path, size: int) -> list[Row]:
    """``Index.update`` alone (cold, warm) and the parse floor: internals, not commands."""
    db = work / f"internal-{size}.sqlite3"
    cold = child("index", str(folder), str(db))
    floor = child("floor", str(folder))
    warm = child("index", str(folder), str(db))
    return [
        (
            f"internal: `Index.update` cold, {size:,} ({cold['workers']} workers)", "internal",
            f"{cold['elapsed']:.2f} s",
            f"{cold['parent_cpu'] + cold['workers_cpu']:.1f}",
            f"{cold['records'] / cold['elapsed']:,.0f} records/s", mb(cold["maxrss_kib"]),
        ),
        (
            f"internal: parse floor (read + inflate + expat, 1 process), {size:,}", "internal",
            f"{floor['elapsed']:.2f} s", f"{floor['cpu']:.1f}",
            f"cold update = {cold['elapsed'] / floor['elapsed']:.2f}× floor",
            mb(floor["maxrss_kib"]),
        ),
        (
            f"internal: `Index.update` warm, {size:,} unchanged", "internal",
            f"{warm['elapsed']:.3f} s", f"{warm['parent_cpu']:.1f}", "", mb(warm["maxrss_kib"]),
        ),
    ]  # fmt: skip


def _key_bench() -> None:
    for script in (REPO / "scripts" / "keybench.py", REPO / "dmarctui" / "tui" / "keybench.py"):
        if script.exists():
            subprocess.run([sys.executable, str(script)], cwd=REPO, check=False)
            return
    print("no key benchmark script found (scripts/keybench.py)", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
