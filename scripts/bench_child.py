"""One benchmark measurement in its own process; prints a JSON object as its last line.

``index FOLDER DB``   update (or build) the index of FOLDER in DB
``floor FOLDER``      read each message, inflate its gzip/zip parts, run expat over the XML
``parsedmarc FOLDER N``  parsedmarc (run with the bench venv's python) on the first N messages

Peak RSS is this process's, or its largest worker process's when that is larger.
"""

from __future__ import annotations

import json
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
    import logging

    import parsedmarc

    logging.disable(logging.CRITICAL)
    files = message_files(Path(folder), int(limit))
    reports = failed = 0
    started = time.monotonic()
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


def main(argv: list[str]) -> int:
    task, *args = argv
    result = {"index": run_index, "floor": run_floor, "parsedmarc": run_parsedmarc}[task](*args)
    result["maxrss_kib"] = peak_kib()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
