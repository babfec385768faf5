"""Key-press latency of the real app over a large index, measured with Pilot (run, don't test).

``python -m dmarctui.tui.keybench [--messages N]`` builds (or reuses) a synthetic folder and its
index under ``~/.cache/dmarctui-bench/``, opens the app on it and prints p50/p95 per key kind.
The benchmark script calls :func:`measure` too. Never used for timed assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from dmarctui.index import Index, ReportFilter
from dmarctui.synthetic import build_synthetic

KEYS: tuple[tuple[str, Sequence[str]], ...] = (
    ("unbound key (Pilot overhead)", ("z",) * 20),
    ("down/up", ("j",) * 60 + ("k",) * 20),
    ("page down/up", ("pagedown",) * 20 + ("pageup",) * 5),
    ("last/first", ("G", "g") * 10),
    ("switch pane", ("4", "1") * 10),
)


def bench_dir() -> Path:
    return Path.home() / ".cache" / "dmarctui-bench"


def prepare(messages: int) -> tuple[Path, Path]:
    """A synthetic folder of ``messages`` e-mails and an up-to-date index of it."""
    target = bench_dir() / f"keybench-{messages}"
    folder = build_synthetic(target, messages, seed=1)
    db = target / "index.sqlite"
    with Index.open(folder, db=db) as index:
        for _progress in index.update():
            pass
    return folder, db


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(folder: Path, db: Path) -> dict[str, tuple[float, float, int]]:
    """Milliseconds (p50, p95, presses) per key kind, each press until the app is idle again."""
    from dmarctui.tui.app import make_app

    app = make_app(folder, db=db, poll_seconds=None, scan_on_start=False)
    app.animation_level = "none"  # the tab underline slides; what it costs is not the key's
    results: dict[str, tuple[float, float, int]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for name, keys in KEYS:
            samples = []
            for key in keys:
                started = time.perf_counter()
                await pilot.press(key)
                samples.append((time.perf_counter() - started) * 1000)
            results[name] = (statistics.median(samples), percentile(samples, 0.95), len(samples))
        await pilot.press("q")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args(argv)
    folder, db = prepare(args.messages)
    with Index.open(folder, db=db) as index:
        reports = index.count_reports(ReportFilter())
        records = sum(len(r.records) for r in index.counted_reports())
    results = asyncio.run(measure(folder, db))
    print(f"Key latency, {reports:,} reports / {records:,} records, 120x40 terminal:")
    print("| keys | p50 ms | p95 ms | presses |")
    print("|---|---:|---:|---:|")
    for name, (p50, p95, count) in results.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
