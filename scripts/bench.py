"""``make bench``: whole commands as a user runs them, against parsedmarc, and the internals.

Whole-command rows run ``dmarctui scan`` (cold, a fresh index each run), then the warm ``scan``,
``flagged --json`` and ``readiness --json``, each in its own process tree: wall time, CPU seconds
of every process of the tree, peak RSS summed over the tree, the median and range over
``--runs``. parsedmarc (PyPI, installed into ``.bench-venv/``, run offline) parses the same
messages. They run on a deterministic synthetic folder (built once under
``~/.cache/dmarctui-bench/``) and on a folder the project did not generate: the public corpus
repeated to 10,000 messages, each with its own Message-ID. Internal rows time ``Index.update``
alone and the parse floor. Prints one markdown table. Nothing here is a test: numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("DMARCTUI_BENCH_CACHE", Path.home() / ".cache" / "dmarctui-bench"))
BENCH_VENV = REPO / ".bench-venv"
PARSEDMARC = "parsedmarc==11.1.0"


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


def build(size: int) -> Path:
    from dmarctui.synthetic import build_synthetic

    started = time.monotonic()
    folder = build_synthetic(CACHE / f"s{size}", size, seed=1)
    print(f"folder of {size:,} messages ready in {time.monotonic() - started:.1f} s: {folder}",
          file=sys.stderr)  # fmt: skip
    return folder


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


def spread(values: list[float]) -> str:
    """Median, and the range over the runs when there are several."""
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    if len(ordered) == 1:
        return f"{median:.2f} s"
    return f"{median:.2f} s ({ordered[0]:.2f}–{ordered[-1]:.2f})"


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


Row = tuple[str, str, str, str, str, str]


def command_rows(
    name: str, folder: Path, work: Path, runs: int, pdm: str | None, pdm_limit: int = 0
) -> list[Row]:
    """Whole commands on one folder, each run ``runs`` times: cold ``dmarctui scan`` (a fresh
    index each run) against parsedmarc on the same messages, then the warm commands."""
    rows: list[Row] = []
    colds = []
    for run in range(runs):
        db = work / f"{name}-{run}.sqlite3"
        colds.append(child("command", "scan", str(folder), "--db", str(db)))
        colds[-1]["messages"] = sum(1 for sub in ("cur", "new") for _ in (folder / sub).iterdir())
    cold_wall = median([c["elapsed"] for c in colds])
    cold_cpu = median([c["cpu"] for c in colds])
    rows.append((
        f"`dmarctui scan`, cold, {name}", "command", spread([c["elapsed"] for c in colds]),
        f"{cold_cpu:.1f}", "100 %", mb(max(c["tree_rss_kib"] for c in colds)),
    ))  # fmt: skip
    if pdm is not None:
        theirs = [child("parsedmarc", str(folder), str(pdm_limit), python=pdm) for _ in range(runs)]
        wall, cpu = median([t["elapsed"] for t in theirs]), median([t["cpu"] for t in theirs])
        # With --parsedmarc N it parses the first N messages only: compared per message.
        scale = colds[0]["messages"] / theirs[0]["messages"] if pdm_limit else 1.0
        which = f"first {theirs[0]['messages']:,} messages" if pdm_limit else "same messages"
        rows.append((
            f"parsedmarc {theirs[0]['version']} (offline), {name}, {which}", "command",
            spread([t["elapsed"] for t in theirs]), f"{cpu:.1f}",
            f"ours is {wall * scale / cold_wall:.1f}× faster (wall),"
            f" {cpu * scale / cold_cpu:.1f}× (CPU)" + (" per message" if pdm_limit else ""),
            mb(max(t["maxrss_kib"] for t in theirs)),
        ))  # fmt: skip
    db = work / f"{name}-0.sqlite3"
    rows += tui_rows(name, folder, db, runs, cold_wall)
    for label, argv in (
        ("`dmarctui scan`, warm (summary)", ["scan"]),
        ("`dmarctui flagged --json`, warm", ["flagged", "--json"]),
        ("`dmarctui readiness --json`, warm", ["readiness", "--json"]),
    ):
        results = [
            child("command", argv[0], str(folder), "--db", str(db), *argv[1:]) for _ in range(runs)
        ]
        wall = median([r["elapsed"] for r in results])
        rows.append((
            f"{label}, {name}", "command", spread([r["elapsed"] for r in results]),
            f"{median([r['cpu'] for r in results]):.1f}",
            f"{100 * wall / cold_wall:.1f} % (target ≤ 5 %)",
            mb(max(r["tree_rss_kib"] for r in results)),
        ))  # fmt: skip
    return rows


TUI_IDLE_SECONDS, TUI_POLL_SECONDS = 10, 2
"""The first TUI run stays this long on every pane and screen, polling the folder this often."""


def tui_rows(name: str, folder: Path, db: Path, runs: int, cold_wall: float) -> list[Row]:
    """The TUI on a warm index (``bench_child.py tui``): first frames with the screen's content,
    idle CPU per pane (first run only), resident and peak memory after every pane."""
    idle = [str(TUI_IDLE_SECONDS), str(TUI_POLL_SECONDS)]
    tuis = [
        child("tui", str(folder), str(db), *(idle if run == 0 else ["0"])) for run in range(runs)
    ]
    rows: list[Row] = []
    for key, label in (
        ("opened", "TUI first screen (warm index)"),
        ("sources", "TUI Sources pane, first rows on screen, after the key"),
        ("sources_start", "TUI Sources pane, first rows on screen, from start"),
        ("readiness", "TUI Readiness pane, figures on screen, after the key"),
    ):
        wall = median([t[key] for t in tuis])
        rows.append((
            f"{label}, {name}", "command", spread([t[key] for t in tuis]), "",
            f"{100 * wall / cold_wall:.1f} % (target ≤ 1 s)" if key != "opened" else "", "",
        ))  # fmt: skip
    panes = [k for k in tuis[0] if k.startswith("idle_") and k != "idle_seconds"]
    figures = ", ".join(f"{k[5:]} {tuis[0][k]:.2f}" for k in panes)
    rows.append((
        f"TUI idle {TUI_IDLE_SECONDS} s on each pane, a poll every {TUI_POLL_SECONDS} s, {name}",
        "command", "", f"{max(tuis[0][k] for k in panes):.2f}",
        f"CPU s per pane: {figures} (target ~0)", "",
    ))  # fmt: skip
    rows.append((
        f"TUI after every pane, a report's tabs, a source's records, a notice, {name}",
        "command", "", "",
        f"resident now {mb(max(t['rss_kib'] for t in tuis))} (target: peak ≤ 300 MB)",
        mb(max(t["maxrss_kib"] for t in tuis)),
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
        help="give parsedmarc only the first N messages, compared per message (default: all;"
        " -1 skips it)",
    )  # fmt: skip
    parser.add_argument("--keys", action="store_true", help="also run the TUI key benchmark")
    opts = parser.parse_args()
    sys.path.insert(0, str(REPO))

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
        from dmarctui.synthetic import append_synthetic

        db = work / f"synthetic {opts.messages:,}-0.sqlite3"
        append_synthetic(small.parent, 100)
        added = child("command", "scan", str(small), "--db", str(db))
        rows.append((
            f"`dmarctui scan` after 100 new messages, synthetic {opts.messages:,}", "command",
            f"{added['elapsed']:.2f} s", f"{added['cpu']:.1f}", "", mb(added["tree_rss_kib"]),
        ))  # fmt: skip
        build(opts.messages)  # drops the 100 appended messages again
        rows += internal_rows(small, work, opts.messages)
        if opts.large:
            large = build(opts.large)
            rows += command_rows(f"synthetic {opts.large:,}", large, work, 1, None)
            rows += internal_rows(large, work, opts.large)
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
