"""The scan pipeline: folder → messages → outcomes → ledger, as a generator with progress.

The generator yields a :class:`Progress` about every quarter second and checks a cancel flag
between messages, so a UI can show a progress bar and stop it; it knows nothing about any UI.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dmarctui.mailstore import MailStore, open_store
from dmarctui.model import (
    AggregateReport,
    Bucket,
    Collision,
    Duplicate,
    FolderFormat,
    FoundReport,
    MessageRef,
    MessageSummary,
    Problem,
)

if TYPE_CHECKING:  # the parser is imported when a message is parsed: not by a warm command
    from dmarctui.analysis import MessageOutcome
    from dmarctui.ledger import FoundFailure, FoundTls, Ledger
    from dmarctui.payloads import Limits

R = TypeVar("R")

PROGRESS_EVERY = 0.25
"""Seconds between progress updates."""
PARALLEL_FROM = 400
"""Below this many messages a process pool costs more than it saves."""


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    reports: int
    errors: int
    elapsed: float


@dataclass
class ScanResult:
    folder: Path
    format: FolderFormat
    ledger: Ledger
    refs: dict[str, MessageRef] = field(default_factory=dict)
    summaries: dict[str, MessageSummary] = field(default_factory=dict)
    cancelled: bool = False
    elapsed: float = 0.0

    @property
    def messages(self) -> int:
        return self.ledger.messages

    @property
    def buckets(self) -> dict[str, int]:
        return self.ledger.bucket_counts()

    @property
    def reports(self) -> list[FoundReport]:
        return self.ledger.reports

    @property
    def failures(self) -> list[FoundFailure]:
        return self.ledger.failures

    @property
    def tls(self) -> list[FoundTls]:
        return self.ledger.tls

    @property
    def duplicates(self) -> list[Duplicate]:
        return self.ledger.duplicates

    @property
    def collisions(self) -> list[Collision]:
        return self.ledger.collisions

    @property
    def errors(self) -> list[Problem]:
        return self.ledger.errors

    @property
    def warnings(self) -> list[Problem]:
        return self.ledger.warnings

    def is_counted(self, found: FoundReport) -> bool:
        from dmarctui.ledger import report_ref

        return report_ref(found) not in self.ledger.uncounted

    def counted_reports(self) -> list[AggregateReport]:
        """Distinct reports, with a date-range-only collision counted once."""
        return [f.report for f in self.ledger.reports if self.is_counted(f)]


OutcomeHook = Callable[["MessageOutcome", Bucket, "Ledger"], None]


def scan_iter(
    store: MailStore,
    *,
    limits: Limits | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    keep_xml: bool = False,
    on_outcome: OutcomeHook | None = None,
) -> Generator[Progress, None, ScanResult]:
    """Scan every message of ``store``; yields progress, returns the :class:`ScanResult`.

    Args:
        workers: processes to parse in; ``None`` picks all cores for large folders.
        keep_xml: keep each report's XML on the outcome passed to ``on_outcome``.
        on_outcome: called in folder order with each message's outcome, its final bucket and
            the ledger so far.
    """
    from dmarctui.ledger import Ledger
    from dmarctui.payloads import Limits

    limits = limits or Limits()
    started = time.monotonic()
    result = ScanResult(store.path, store.format, Ledger())
    refs = list(store.refs())
    total = len(refs)
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM else 1
    outcomes = _outcomes(store, refs, limits, keep_xml, workers)
    last = started
    try:
        for outcome in outcomes:
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            bucket = result.ledger.add(outcome)
            result.refs[outcome.ref.key] = outcome.ref
            result.summaries[outcome.ref.key] = outcome.summary
            if on_outcome is not None:
                on_outcome(outcome, bucket, result.ledger)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                yield _progress(result, total, now - started)
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()
    result.elapsed = time.monotonic() - started
    yield _progress(result, total, result.elapsed)
    return result


def run_scan(
    path: str | Path,
    fmt: FolderFormat | None = None,
    *,
    limits: Limits | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan a folder to the end, ignoring progress."""
    store = open_store(path, fmt)
    return drain(scan_iter(store, limits=limits, cancel=cancel, workers=workers))


def drain(gen: Generator[Progress, None, R]) -> R:
    """Run a scan or index-update generator to completion and return its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _progress(result: ScanResult, total: int, elapsed: float) -> Progress:
    return Progress(
        done=result.messages,
        total=total,
        reports=len(result.ledger.reports),
        errors=len(result.ledger.errors),
        elapsed=elapsed,
    )


def _outcomes(
    store: MailStore,
    refs: list[MessageRef],
    limits: Limits,
    keep_xml: bool,
    workers: int,
) -> Iterator[MessageOutcome]:
    jobs = ((store.format, store.path, ref, limits, keep_xml) for ref in refs)
    if workers <= 1:
        return map(_analyse_job, jobs)
    return _pooled(jobs, workers)


def _pooled(jobs: Iterable[tuple], workers: int) -> Generator[MessageOutcome, None, None]:
    from dmarctui import worker_pool

    with worker_pool.pool(workers) as pool:
        yield from pool.imap(_analyse_job, jobs, chunksize=16)


def _analyse_job(job: tuple[FolderFormat, Path, MessageRef, Limits, bool]) -> MessageOutcome:
    from dmarctui.analysis import read_and_analyse

    fmt, folder, ref, limits, keep_xml = job
    return read_and_analyse(fmt, folder, ref, limits, keep_xml=keep_xml)[0]
