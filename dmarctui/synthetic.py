"""Large synthetic report folders for the benchmark: realistic, reproducible, quick to build.

A year of aggregate reports from the demo's reporters (zip, gzip and plain XML, 1-50 records each
unless asked otherwise) with a few hostile messages mixed in: truncated gzip, personal mail, exact
duplicates. Files are written directly (no ``mailbox`` locking) so 100,000 messages take a few
minutes at most. A marker file written last records the parameters; a complete folder with the
same parameters is reused.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmarctui.demo import DEMO_NOW
from dmarctui.demo_reports import (
    REPORTERS,
    Reporter,
    aggregate_xml,
    compress,
    maildir_name,
    make_record,
    new_report_id,
    personal_email,
    report_email,
)
from dmarctui.model import (
    AggregateReport,
    DateRange,
    DkimAuthResult,
    FolderFormat,
    PolicyPublished,
    Record,
    ReportMetadata,
    SpfAuthResult,
)

SYNTHETIC_VERSION = "1"
MARKER = ".dmarctui-synthetic.json"
DAY = 86400
FOLDER_NAMES: dict[FolderFormat, str] = {"maildir": "Maildir", "mh": "MH", "mbox": "mbox"}
DOMAINS = ("example.ac.jp", "example.com", "example.org", "example.net", "lab1.example.ac.jp")
_REPORTER_WEIGHTS = {
    "google": 40,
    "microsoft": 25,
    "yahoo": 15,
    "mailru": 6,
    "amazonses": 6,
    "trendmicro": 4,
    "courriel": 4,
}
_KEYS = tuple(_REPORTER_WEIGHTS)
_WEIGHTS = tuple(_REPORTER_WEIGHTS.values())
_HOSTILE_EVERY = {"truncated": 499, "personal": 503, "duplicate": 509}
_FROM_LINE = re.compile(rb"^(>*From )", re.MULTILINE)
RECORDS = (1, 50)
"""Records per report, drawn uniformly between these bounds (both included) by default."""


class SyntheticError(Exception):
    """The synthetic folder cannot be built where asked (one line, for the user)."""


@dataclass(frozen=True)
class _Params:
    messages: int
    seed: int
    fmt: FolderFormat
    records: tuple[int, int] = RECORDS

    def as_json(self) -> dict[str, Any]:
        return {
            "version": SYNTHETIC_VERSION,
            "messages": self.messages,
            "seed": self.seed,
            "fmt": self.fmt,
            "records": list(self.records),
        }

    def built(self, marker: dict[str, Any]) -> bool:
        """Whether ``marker`` is that of a complete folder built with these parameters; a
        marker from before ``records`` existed had the default range."""
        given = {"records": list(RECORDS), **marker}
        return bool(marker.get("complete")) and all(
            given.get(k) == v for k, v in self.as_json().items()
        )


def _source_pool(rng: random.Random) -> list[str]:
    pool = [f"192.0.2.{n}" for n in range(1, 255)]
    pool += [f"198.51.100.{n}" for n in range(1, 255)]
    pool += [
        f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}."
        f"{rng.randrange(1, 255)}"
        for _ in range(2000)
    ]
    pool += [f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}" for _ in range(300)]
    return pool


def _auth(rng: random.Random, domain: str) -> tuple[tuple[DkimAuthResult, ...], SpfAuthResult]:
    """Mostly clean mail, with the problem shapes triage looks for in realistic proportions."""
    roll = rng.random()
    own_sig = DkimAuthResult(domain, "pass", "s1")
    if roll < 0.70:
        return (own_sig,), SpfAuthResult(domain, "pass", "mfrom")
    if roll < 0.78:
        return (), SpfAuthResult(domain, "pass", "mfrom")
    if roll < 0.84:
        return (
            (
                DkimAuthResult(domain, "fail", "s1"),
                DkimAuthResult("lists.example.org", "pass", "ml"),
            ),
            SpfAuthResult("lists.example.org", "pass", "mfrom"),
        )
    if roll < 0.90:
        return (
            (DkimAuthResult("saas.example.net", "pass", "sx"),),
            SpfAuthResult("bounce.saas.example.net", "pass", "mfrom"),
        )
    if roll < 0.95:
        return (own_sig,), SpfAuthResult(domain, "softfail", "mfrom")
    return (), SpfAuthResult(domain, rng.choice(("fail", "softfail", "none")), "mfrom")


def _report(
    rng: random.Random,
    reporter: Reporter,
    begin: int,
    pool: list[str],
    records_range: tuple[int, int] = RECORDS,
) -> AggregateReport:
    domain = rng.choice(DOMAINS[:4])
    policy = PolicyPublished(
        domain,
        rng.choice(("none", "none", "quarantine", "reject")),
        adkim="r",
        aspf="r",
        sp="none",
        pct=None if reporter.namespace else 100,
    )
    records: list[Record] = []
    for _ in range(rng.randint(*records_range)):
        header_from = domain if rng.random() < 0.9 else f"lab{rng.randint(1, 9)}.{domain}"
        dkim, spf = _auth(rng, domain)
        records.append(
            make_record(
                rng.choice(pool),
                rng.choice((1, 1, 2, 3, 5, 8, 40, 300)),
                header_from,
                policy,
                dkim=dkim,
                spf=spf,
            )
        )
    end = begin + DAY - (1 if reporter.inclusive_end else 0)
    meta = ReportMetadata(
        reporter.org_name,
        reporter.email,
        new_report_id(rng, reporter.id_style, begin),
        DateRange(begin, end),
    )
    return AggregateReport(
        meta, policy, tuple(records), version=reporter.version, namespace=reporter.namespace
    )


def _messages(
    seed: int,
    start: int,
    count: int,
    first_day: int,
    days: int,
    records: tuple[int, int] = RECORDS,
) -> Iterator[tuple[int, bytes]]:
    """``count`` messages numbered from ``start``: (delivery time, bytes), in delivery order."""
    rng = random.Random(f"dmarctui-synthetic:{seed}:{start}")
    pool = _source_pool(random.Random(seed))
    previous = b""
    for i in range(start, start + count):
        begin = first_day + (i - start) * days // max(count, 1) * DAY
        delivered = begin + DAY + rng.randrange(600, 80000)
        if previous and i % _HOSTILE_EVERY["duplicate"] == 0:
            yield delivered, previous
            continue
        if i % _HOSTILE_EVERY["personal"] == 0:
            yield (
                delivered,
                personal_email(
                    sender=("Taro Yamada", "yamada@example.ac.jp"),
                    subject="Re: 研究室サーバの設定",
                    body="了解です。\n",
                    delivered=delivered,
                    rng=rng,
                ),
            )
            continue
        truncated = i % _HOSTILE_EVERY["truncated"] == 0
        reporter = REPORTERS["yahoo" if truncated else rng.choices(_KEYS, _WEIGHTS)[0]]
        report = _report(rng, reporter, begin, pool, records)
        payload = None
        if truncated:  # the gzip stream stops half way, as when a relay cut the message
            whole = compress(aggregate_xml(report).encode(), "gzip", "", begin)
            payload = whole[: len(whole) // 2]
        previous = report_email(reporter, report, delivered=delivered, rng=rng, payload=payload)
        yield delivered, previous


def _write(
    folder: Path, fmt: FolderFormat, messages: Iterator[tuple[int, bytes]], first: int, seen: bool
) -> None:
    if fmt == "mbox":
        with folder.open("ab") as out:
            for delivered, data in messages:
                stamp = _mbox_date(delivered)
                out.write(b"From MAILER-DAEMON " + stamp + b"\n")
                out.write(_FROM_LINE.sub(rb">\1", data).rstrip(b"\n") + b"\n\n")
        return
    for n, (delivered, data) in enumerate(messages, start=first):
        if fmt == "mh":
            path = folder / str(n)
        else:
            path = folder / ("cur" if seen else "new") / maildir_name(delivered, n, seen)
        path.write_bytes(data)
        os.utime(path, (delivered, delivered))


def _mbox_date(ts: int) -> bytes:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(ts)).encode("ascii")


def _read_marker(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((target / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(target: Path, data: dict[str, Any]) -> None:
    tmp = target / (MARKER + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(target / MARKER)


def _drop_appended(target: Path, marker: dict[str, Any]) -> None:
    """Undo :func:`append_synthetic`, leaving the folder as first built."""
    folder = target / FOLDER_NAMES[marker["fmt"]]
    if marker["fmt"] == "maildir":
        for path in (folder / "new").iterdir():
            path.unlink()
    elif marker["fmt"] == "mh":
        for number in range(marker["messages"] + 1, marker["messages"] + marker["appended"] + 1):
            (folder / str(number)).unlink(missing_ok=True)
    else:
        with folder.open("r+b") as out:
            out.truncate(marker["size"])
    _write_marker(target, {**marker, "appended": 0})


def build_synthetic(
    target: Path,
    messages: int,
    *,
    seed: int = 1,
    fmt: FolderFormat = "maildir",
    records: tuple[int, int] = RECORDS,
) -> Path:
    """Build (or reuse) a folder of ``messages`` synthetic report e-mails under ``target``.

    Args:
        target: a directory of its own; it holds the folder and the marker file.
        messages: how many messages; about one in 170 is hostile.
        seed: the same seed gives the same bytes.
        fmt: ``maildir``, ``mh`` or ``mbox``.
        records: the least and most records per report (``(200, 200)``: exactly 200 each).

    Returns:
        The folder to scan: ``target/Maildir``, ``target/MH`` or the file ``target/mbox``.

    Raises:
        SyntheticError: ``target`` holds a folder that this function did not build, or
            ``records`` is not a range of at least one record.
    """
    low, high = records
    if not 1 <= low <= high:
        raise SyntheticError(f"records per report must be 1 <= low <= high, not {records}")
    params = _Params(messages, seed, fmt, (low, high))
    folder = target / FOLDER_NAMES[fmt]
    marker = _read_marker(target)
    if marker is not None and params.built(marker):
        if marker.get("appended"):
            _drop_appended(target, marker)
        return folder
    if marker is None and any(p.exists() for p in (target / n for n in FOLDER_NAMES.values())):
        raise SyntheticError(
            f"{target} holds a mail folder dmarctui did not build; choose an empty directory"
        )
    for name in FOLDER_NAMES.values():
        old = target / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    _write_marker(target, {**params.as_json(), "complete": False})
    if fmt == "maildir":
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
    elif fmt == "mh":
        folder.mkdir()
        (folder / ".mh_sequences").touch()  # as nmh leaves it; Mew's folders may lack one
    else:
        folder.touch()
    made = _messages(seed, 1, messages, DEMO_NOW - 366 * DAY, 365, params.records)
    _write(folder, fmt, made, 1, seen=True)
    size = folder.stat().st_size if fmt == "mbox" else 0
    _write_marker(target, {**params.as_json(), "complete": True, "appended": 0, "size": size})
    return folder


def append_synthetic(target: Path, n: int, seed: int = 1) -> Path:
    """Deliver ``n`` more messages (newer than the rest) to a folder from :func:`build_synthetic`.

    Raises:
        SyntheticError: ``target`` holds no complete synthetic folder.
    """
    marker = _read_marker(target)
    if marker is None or not marker.get("complete"):
        raise SyntheticError(f"{target} holds no synthetic folder; build it first")
    fmt: FolderFormat = marker["fmt"]
    folder = target / FOLDER_NAMES[fmt]
    first = marker["messages"] + marker.get("appended", 0) + 1
    days = max(1, n // 20)
    start_day = DEMO_NOW + marker.get("appended", 0) // 20 * DAY
    records = tuple(marker.get("records", RECORDS))
    made = _messages(seed + 7919, first, n, start_day, days, (records[0], records[1]))
    _write(folder, fmt, made, first, seen=False)
    _write_marker(target, {**marker, "appended": marker.get("appended", 0) + n})
    return folder
