"""One benchmark measurement in its own process; prints a JSON object as its last line.

``index FOLDER DB``   update (or build) the index of FOLDER in DB
``floor FOLDER``      read each message, inflate its gzip/zip parts, run expat over the XML
``parsedmarc FOLDER N``  parsedmarc (run with the bench venv's python) on the first N messages
``tui FOLDER DB``     the TUI (Pilot): first screen, first Sources rows, Readiness figures
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


def run_tui(folder: str, db: str) -> dict:
    """The TUI as a user opens it on an indexed folder (Pilot, no DNS): time from start to the
    first screen and to the first Sources rows, and from its key to the Readiness figures; its
    peak RSS after both panes."""
    import asyncio

    from dmarctui.tui.app import make_app
    from dmarctui.tui.screens.sources import SourcesPane

    async def drive() -> dict:
        started = time.monotonic()
        app = make_app(folder, db=Path(db), poll_seconds=None, dns=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            opened = time.monotonic() - started
            while app.scanning:  # the rescan of an unchanged folder, started on open
                await pilot.pause(0.05)
            await pilot.press("2")
            while not app.screen.query_one(SourcesPane).loaded:
                await pilot.pause(0.05)
            await pilot.pause()
            sources = time.monotonic() - started  # ranking may begin before the key
            await pilot.press("3")
            begun = time.monotonic()
            status = app.screen.query_one("#readiness-status")
            while str(status.render()).startswith("Counting"):
                await pilot.pause(0.05)
            await pilot.pause()
            readiness = time.monotonic() - begun
        return {"opened": opened, "sources": sources, "readiness": readiness}

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
