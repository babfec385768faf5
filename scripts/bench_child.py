"""One benchmark measurement in its own process; prints a JSON object as its last line.

``index FOLDER DB``   update (or build) the index of FOLDER in DB
``floor FOLDER``      read each message, inflate its gzip/zip parts, run expat over the XML
``parsedmarc FOLDER N``  parsedmarc (run with the bench venv's python) on the first N messages
``tui FOLDER DB [IDLE [POLL]]``  the TUI (Pilot): first frames of the screen, Sources rows and
                      Readiness figures; CPU idle per pane; RSS after every pane and screen
``command ARG...``    the whole ``dmarctui ARG...`` command as a user runs it (its own process
                      tree, its output discarded): wall, CPU of the tree, peak RSS of the tree

Peak RSS is this process's, or its largest worker process's when that is larger.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def peak_kib() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, workers)


def message_files(folder: Path, limit: int | None = None) -> list[Path]:
    files = sorted(
        (p for sub in ("new", "cur") for p in (folder / sub).iterdir()),
        key=lambda p: p.name.split(":", 1)[0],
    )
    return files[:limit] if limit is not None else files


def run_index(folder: str, db: str) -> dict:
    from dmarctui.index import Index
    from dmarctui.scan import drain

    started = time.monotonic()
    with Index.open(Path(folder), db=Path(db)) as index:
        stats = drain(index.update())
        elapsed = time.monotonic() - started
        records = index._conn.execute("SELECT sum(record_count) FROM reports").fetchone()[0]
    import os

    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "parent_cpu": own.ru_utime + own.ru_stime,
        "workers_cpu": workers.ru_utime + workers.ru_stime,
        "elapsed": elapsed,
        "messages": stats.messages,
        "records": records or 0,
        "bodies_read": stats.bodies_read,
        "new": stats.new,
        "unchanged": stats.unchanged,
        "workers": os.cpu_count(),
    }


def run_floor(folder: str) -> dict:
    """The least any scanner must do: read, find the attachment, inflate, tokenise the XML."""
    import email
    import gzip
    import io
    import zipfile
    from email import policy
    from xml.parsers import expat

    started = time.monotonic()
    files = message_files(Path(folder))
    xml_bytes = 0
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.compat32)
        for part in msg.walk():
            if part.is_multipart():
                continue
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            try:
                if data[:2] == b"\x1f\x8b":
                    docs = [gzip.decompress(data)]
                elif data[:4] == b"PK\x03\x04":
                    with zipfile.ZipFile(io.BytesIO(data)) as archive:
                        docs = [archive.read(name) for name in archive.namelist()]
                elif data.lstrip()[:5] == b"<?xml":
                    docs = [data]
                else:
                    continue
                for doc in docs:
                    expat.ParserCreate().Parse(doc, True)
                    xml_bytes += len(doc)
            except Exception:  # hostile messages: the floor only skips them
                continue
    return {"elapsed": time.monotonic() - started, "messages": len(files), "xml_bytes": xml_bytes}


def run_parsedmarc(folder: str, limit: str) -> dict:
    """Timed from before its import, as a user running it waits for that too."""
    started = time.monotonic()
    import logging

    import parsedmarc

    logging.disable(logging.CRITICAL)
    files = message_files(Path(folder), int(limit) or None)
    reports = failed = 0
    for path in files:
        try:
            parsedmarc.parse_report_file(
                path.read_bytes(), offline=True, always_use_local_files=True, dns_timeout=0.1
            )
            reports += 1
        except Exception:
            failed += 1
    return {
        "elapsed": time.monotonic() - started,
        "messages": len(files),
        "reports": reports,
        "failed": failed,
        "version": parsedmarc.__version__,
    }


def tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants now (from /proc), in KiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def run_command(*argv: str) -> dict:
    """``dmarctui ARGV`` in a subprocess; CPU counts every process of its tree (each waits for
    its own children, so their times are added to it), RSS is sampled over the tree."""
    import subprocess
    import threading

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmarctui", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            peak = max(peak, tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"dmarctui {' '.join(argv)} failed: {err.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"elapsed": elapsed, "cpu": cpu, "tree_rss_kib": peak}


def rss_kib() -> int:
    """This process's resident memory now, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


TUI_PANES = ("reports", "sources", "readiness", "failures", "tls", "problems")


def run_tui(folder: str, db: str, idle: str = "0", poll: str = "5") -> dict:
    """The TUI as a user opens it on an indexed folder (Pilot at 120x40, no DNS).

    Timed on the screen, not the call: each figure ends at the first screen update the app
    hands its driver once what it waits for is in the widgets (``first frame``). ``opened``:
    from start to the first frame; ``sources``: from the key to the first frame with ranked
    rows; ``readiness``: from the key to the first frame with the figures; ``sources_start``:
    from start to the Sources rows (ranking may run before the key). ``idle`` seconds (0: not
    measured) are then spent on every pane with a poll every ``poll`` seconds, each giving the
    CPU seconds of the whole process (all threads) as ``idle_PANE``. Then a report's four tabs,
    a source's records and the notice preview are opened; ``rss_kib`` is the resident memory
    after all that, ``maxrss_kib`` (added by ``main``) the peak.
    """
    import asyncio
    from typing import Any

    from textual.widgets import Static

    from dmarctui.tui.app import make_app
    from dmarctui.tui.screens.sources import SourcesPane

    idle_s, poll_s = float(idle), float(poll)
    started = time.monotonic()
    app = make_app(folder, db=Path(db), poll_seconds=poll_s or None, dns=False)
    app.animation_level = "none"
    frames: list[tuple[float, bool]] = []
    waiting: dict[str, Any] = {"check": lambda: True}  # the first frame of all
    display = app._display

    def timed_display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            check = waiting["check"]
            frames.append((time.monotonic(), bool(check and check())))
        display(screen, renderable)

    app._display = timed_display  # type: ignore[method-assign]

    async def frame_with(pilot: Any, check: Any, key: str | None = None) -> float:
        """Seconds from now (pressing ``key``) to the first frame drawn once ``check()`` holds."""
        frames.clear()
        waiting["check"] = check
        since = time.monotonic()
        if key is not None:
            await pilot.press(key)
        while not any(ok for _, ok in frames):
            await pilot.pause(0.01)
        waiting["check"] = None
        return next(t for t, ok in frames if ok) - since

    async def idle_cpu(pilot: Any) -> float:
        before = time.process_time()
        await asyncio.sleep(idle_s)
        return time.process_time() - before

    def sources_ranked() -> bool:
        pane = app.screen.query_one(SourcesPane)
        return pane.display and pane._ranked

    def readiness_shown() -> bool:
        status = app.screen.query_one("#readiness-status")
        return not str(status.render()).startswith("Counting")

    async def drive() -> dict:
        out: dict[str, Any] = {}
        async with app.run_test(size=(120, 40)) as pilot:
            while not frames:
                await pilot.pause(0.01)
            out["opened"] = frames[0][0] - started
            while app.scanning:  # the rescan of an unchanged folder, started on open
                await pilot.pause(0.05)
            key = time.monotonic()
            out["sources"] = await frame_with(pilot, sources_ranked, "2")
            out["sources_start"] = key - started + out["sources"]
            out["readiness"] = await frame_with(pilot, readiness_shown, "3")
            out["rss_panes_kib"] = rss_kib()
            if idle_s:
                for number, pane in enumerate(TUI_PANES, start=1):
                    await pilot.press(str(number))
                    await pilot.pause(0.5)
                    out[f"idle_{pane}"] = await idle_cpu(pilot)
            await pilot.press("1", "enter")  # the newest report: its four tabs
            for tab in ("2", "3", "4", "1"):
                await pilot.press(tab)
                await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.press("escape", "2", "enter")  # the first source's records
            await pilot.pause(0.5)
            await pilot.press("escape", "n")  # its notice preview
            while type(app.screen).__name__ != "NoticeScreen":
                if type(app.screen).__name__ == "PromptScreen":  # no contact configured
                    await pilot.press(*"admin@example.org", "enter")
                await pilot.pause(0.05)
            await pilot.pause(0.5)
            preview = app.screen.query_one("#notice-preview-text", Static)
            out["notice_chars"] = len(str(preview.render()))
            if idle_s:
                out["idle_notice"] = await idle_cpu(pilot)
            out["rss_kib"] = rss_kib()
            await pilot.press("escape")
            out["idle_seconds"] = idle_s
            out["poll_seconds"] = poll_s
        return out

    return asyncio.run(drive())


def main(argv: list[str]) -> int:
    task, *args = argv
    tasks = {
        "index": run_index,
        "floor": run_floor,
        "parsedmarc": run_parsedmarc,
        "command": run_command,
        "tui": run_tui,
    }
    started_cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = tasks[task](*args)
    own = resource.getrusage(resource.RUSAGE_SELF)
    result.setdefault(
        "cpu",
        (own.ru_utime - started_cpu.ru_utime) + (own.ru_stime - started_cpu.ru_stime),
    )
    result["maxrss_kib"] = peak_kib()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
