"""Key-press latency of the real app over a large index, measured with Pilot (run, don't test).

``python -m dmarctui.tui.keybench [--messages N]`` builds (or reuses) a synthetic folder and its
index under ``~/.cache/dmarctui-bench/``, opens the app on it and prints p50/p95 per key kind.
``scripts/bench.py`` runs it too. Never used for timed assertions.

Pilot's ``press`` waits for the app to look idle with two 20 ms sleeps, so its wall time has a
floor of about 45 ms even for a key nothing is bound to. The table therefore shows three figures
per key: Pilot's raw time, the same net of that floor, and, measured inside the app, the time
until the first and the last screen update the key caused were computed (what a user waits
for).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmarctui.index import Index, ReportFilter
from dmarctui.synthetic import build_synthetic

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from dmarctui.tui.app import DmarcApp

BASELINE = "unbound key (Pilot floor)"
KEYS: tuple[tuple[str, Sequence[str]], ...] = (
    (BASELINE, ("z",) * 20),
    ("down/up", ("j",) * 60 + ("k",) * 20),
    ("page down/up", ("pagedown",) * 20 + ("pageup",) * 5),
    ("last/first", ("G", "g") * 10),
    ("switch pane (every pane)", ("2", "3", "4", "5", "6", "1") * 4),
    ("next pane (tab)", ("tab",) * 12),
)
LEGEND = """\
- Pilot: wall time of `pilot.press(key)`, which includes Pilot's own idle waits.
- net: Pilot minus the unbound-key p50 (the Pilot floor); Pilot's idle check sleeps in 20 ms
  steps, so any work rounds up to one more step (cursor keys: ~21 net for ~6 shown)
- shown: from the key event entering the app to the first screen update computed after it
  (Textual's compositor update; only the write to a real terminal is skipped headless).
- painted: the same to the last update the key caused. After a pane switch that is Textual
  repainting scrollbars it re-styled for the focus change: it changes no cell and waits for the
  next tick of Textual's 60 fps update timer after the switch's own frame.
- CPU: process CPU time during the press, all threads; not slowed by other load on the machine."""


@dataclass
class Samples:
    """Milliseconds per press of one key kind."""

    pilot: list[float]
    shown: list[float]
    painted: list[float]
    cpu: list[float]


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


async def _settle(pilot: Pilot[None]) -> None:
    from textual.worker import WorkerCancelled

    with suppress(WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _watch_updates(app: DmarcApp) -> list[float]:
    """Times at which the app hands a computed screen update to its driver."""
    times: list[float] = []
    display = app._display

    def timed_display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            times.append(time.perf_counter())
        display(screen, renderable)

    app._display = timed_display  # type: ignore[method-assign]
    return times


async def measure(folder: Path, db: Path) -> dict[str, Samples]:
    """Samples per key kind; every pane has been shown (and computed) once before."""
    from dmarctui.tui.app import make_app
    from dmarctui.tui.panes import PANES

    app = make_app(folder, db=db, poll_seconds=None, scan_on_start=False)
    app.animation_level = "none"  # smooth scrolling and sliding tabs cost frames, not the key
    results: dict[str, Samples] = {}
    updates = _watch_updates(app)
    async with app.run_test(size=(120, 40)) as pilot:
        for number in [*range(2, len(PANES) + 1), 1]:  # warm: triage and readiness run once
            await pilot.press(str(number))
            await _settle(pilot)
        for name, keys in KEYS:
            samples = Samples([], [], [], [])
            for key in keys:
                updates.clear()
                cpu = time.process_time()
                started = time.perf_counter()
                await pilot.press(key)
                samples.pilot.append((time.perf_counter() - started) * 1000)
                samples.cpu.append((time.process_time() - cpu) * 1000)
                samples.shown.append((updates[0] - started) * 1000 if updates else 0.0)
                samples.painted.append((updates[-1] - started) * 1000 if updates else 0.0)
            results[name] = samples
        await pilot.press("q")
    return results


def table(results: dict[str, Samples]) -> list[str]:
    floor = statistics.median(results[BASELINE].pilot) if BASELINE in results else 0.0
    lines = [
        "| keys | presses | Pilot p50 | Pilot p95 | net p50 | net p95 | shown p50"
        " | shown p95 | painted p50 | painted p95 | CPU p50 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in results.items():
        net = [max(p - floor, 0.0) for p in s.pilot]
        figures = (
            statistics.median(s.pilot),
            percentile(s.pilot, 0.95),
            statistics.median(net),
            percentile(net, 0.95),
            statistics.median(s.shown),
            percentile(s.shown, 0.95),
            statistics.median(s.painted),
            percentile(s.painted, 0.95),
            statistics.median(s.cpu),
        )
        lines.append(
            f"| {name} | {len(s.pilot)} | " + " | ".join(f"{f:.1f}" for f in figures) + " |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args(argv)
    folder, db = prepare(args.messages)
    with Index.open(folder, db=db) as index:
        reports = index.count_reports(ReportFilter())
        records = sum(len(r.records) for r in index.counted_reports())
    results = asyncio.run(measure(folder, db))
    print(f"Key latency in ms, {reports:,} reports / {records:,} records, 120x40 terminal:")
    print("\n".join(table(results)))
    print(LEGEND)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
