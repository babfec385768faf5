"""``make bench``: cold scan, warm rescans, the parse floor and parsedmarc on the same folder.

Builds (once, then reuses) deterministic synthetic folders of 10,000 and 100,000 messages under
``~/.cache/dmarctui-bench/`` and runs every measurement in a child process, so each one's peak
memory is its own. parsedmarc is installed from PyPI into ``.bench-venv/`` and run offline (no
DNS, no downloads). Prints one markdown table. Nothing here is a test: numbers are printed, never
asserted.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="cold-scan folder size")
    parser.add_argument(
        "--large", type=int, default=100_000,
        help="folder size for the memory target (cold scan) and the warm rescan",
    )  # fmt: skip
    parser.add_argument(
        "--parsedmarc", type=int, default=None, metavar="N",
        help="give parsedmarc only the first N messages (default: all of them, the very reports"
        " of the cold scan; 0 skips it)",
    )  # fmt: skip
    parser.add_argument("--keys", action="store_true", help="also run the TUI key benchmark")
    opts = parser.parse_args()
    sys.path.insert(0, str(REPO))

    small = build(opts.messages)
    large = build(opts.large)
    work = Path(tempfile.mkdtemp(prefix="dmarctui-bench-"))
    rows: list[tuple[str, str, str, str]] = []
    load_before = os.getloadavg()
    try:
        db = work / "small.sqlite3"
        cold = child("index", str(small), str(db))
        rows.append((
            f"cold scan, {cold['messages']:,} messages ({cold['workers']} workers)",
            f"{cold['elapsed']:.2f} s",
            f"{cold['messages'] / cold['elapsed']:,.0f} msg/s, "
            f"{cold['records'] / cold['elapsed']:,.0f} records/s; CPU: writer "
            f"{cold['parent_cpu']:.1f} s, workers {cold['workers_cpu']:.1f} s",
            mb(cold["maxrss_kib"]),
        ))  # fmt: skip
        floor = child("floor", str(small))
        rows.append((
            "floor: read + inflate + expat, 1 process",
            f"{floor['elapsed']:.2f} s",
            f"{floor['messages'] / floor['elapsed']:,.0f} msg/s; cold scan = "
            f"{cold['elapsed'] / floor['elapsed']:.2f}× floor (target ≤ 3×)",
            mb(floor["maxrss_kib"]),
        ))  # fmt: skip
        python = ensure_parsedmarc() if opts.parsedmarc != 0 else None
        if python is not None:
            limit = str(opts.parsedmarc or opts.messages)
            theirs = child("parsedmarc", str(small), limit, python=python)
            ours = cold["messages"] / cold["elapsed"]
            rate = theirs["messages"] / theirs["elapsed"]
            which = "all" if theirs["messages"] == cold["messages"] else "first"
            rows.append((
                f"parsedmarc {theirs['version']}, offline, {which} {theirs['messages']:,} messages"
                f" ({theirs['reports']:,} reports parsed)",
                f"{theirs['elapsed']:.2f} s",
                f"{rate:,.1f} msg/s; ours = {ours / rate:,.1f}× parsedmarc (target ≥ 10×)",
                mb(theirs["maxrss_kib"]),
            ))  # fmt: skip
        warm = child("index", str(small), str(db))
        rows.append(_warm_row(f"warm rescan, {opts.messages:,} unchanged", warm))
        from dmarctui.synthetic import append_synthetic

        append_synthetic(small.parent, 100)
        appended = child("index", str(small), str(db))
        rows.append(_warm_row(f"rescan after 100 new ({appended['new']} read)", appended))
        large_db = work / "large.sqlite3"  # built afresh: its peak memory is a target too
        prepared = child("index", str(large), str(large_db))
        rows.append((
            f"cold scan, {prepared['bodies_read']:,} messages (target ≤ 250 MB)",
            f"{prepared['elapsed']:.2f} s",
            f"{prepared['bodies_read'] / prepared['elapsed']:,.0f} msg/s",
            mb(prepared["maxrss_kib"]),
        ))  # fmt: skip
        warm_large = child("index", str(large), str(large_db))
        rows.append(_warm_row(f"warm rescan, {opts.large:,} unchanged (target ≤ 1 s)", warm_large))
        if opts.keys:
            _key_bench()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        build(opts.messages)  # drops the 100 appended messages again

    print(f"\n{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}")
    load = ", ".join(f"{n:.2f}" for n in load_before)
    print(f"load average before the runs: {load} (other work on the machine slows every row)\n")
    print("| measurement | time | throughput | peak RSS |")
    print("|---|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    subprocess.run([sys.executable, str(REPO / "scripts" / "bench_export.py")], check=False)
    return 0


def _warm_row(label: str, result: dict) -> tuple[str, str, str, str]:
    return (
        label,
        f"{result['elapsed']:.3f} s",
        f"{result['bodies_read']} bodies read, {result['unchanged']:,} unchanged",
        mb(result["maxrss_kib"]),
    )


def _key_bench() -> None:
    for script in (REPO / "scripts" / "keybench.py", REPO / "dmarctui" / "tui" / "keybench.py"):
        if script.exists():
            subprocess.run([sys.executable, str(script)], cwd=REPO, check=False)
            return
    print("no key benchmark script found (scripts/keybench.py)", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
