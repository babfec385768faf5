"""Accounting across messages: one bucket per message, duplicates and report_id collisions.

Per-message analysis is independent and can run in any process; deciding that a report is a
duplicate, or that two reports collide on their ``report_id``, needs everything seen before it.
The ledger is that order-dependent part, fed with outcomes in folder order.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from dmarctui.analysis import MessageOutcome
from dmarctui.model import (
    BUCKETS,
    Bucket,
    Collision,
    Duplicate,
    FailureReport,
    FoundReport,
    Problem,
    TlsReport,
)


def report_ref(found: FoundReport) -> str:
    """``message#part``: how a report is named in collisions and the UI."""
    return f"{found.message}#{found.part}"


@dataclass(frozen=True, slots=True)
class FoundFailure:
    message: str
    report: FailureReport


@dataclass(frozen=True, slots=True)
class FoundTls:
    message: str
    report: TlsReport


@dataclass
class Ledger:
    """Feeds on message outcomes in folder order and keeps the folder's accounts."""

    reports: list[FoundReport] = field(default_factory=list)
    failures: list[FoundFailure] = field(default_factory=list)
    tls: list[FoundTls] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    not_reports: list[Problem] = field(default_factory=list)
    buckets: Counter[str] = field(default_factory=Counter)
    uncounted: set[str] = field(default_factory=set)
    """``message#part`` of reports merged into another (a date-range-only collision)."""
    bucket_of: dict[str, Bucket] = field(default_factory=dict)
    _by_content: dict[str, str] = field(default_factory=dict)
    _by_report_id: dict[str, list[FoundReport]] = field(default_factory=dict)
    _other_seen: dict[str, str] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(self.buckets.values())

    def bucket_counts(self) -> dict[str, int]:
        return {name: self.buckets.get(name, 0) for name in BUCKETS}

    def is_first(self, found: FoundReport) -> bool:
        """Whether ``found`` is the first copy of its report (not a duplicate)."""
        return self._by_content.get(found.content_key) == found.message

    def add(self, outcome: MessageOutcome) -> Bucket:
        """Account for one message and return the bucket it landed in."""
        key = outcome.ref.key
        bucket = self._classify(outcome)
        self.buckets[bucket] += 1
        self.bucket_of[key] = bucket
        return bucket

    def _classify(self, outcome: MessageOutcome) -> Bucket:
        key = outcome.ref.key
        if outcome.failures:
            return self._add_others(key, "failure", outcome.failures, outcome)
        new_reports = [f for f in outcome.reports if self._add_report(f)]
        if outcome.reports:
            self.warnings.extend(outcome.problems)
            if new_reports:
                return "aggregate"
            return "duplicate"
        if outcome.tls:
            self.warnings.extend(outcome.problems)
            return self._add_others(key, "tls", outcome.tls, outcome)
        if outcome.problems:
            self.errors.append(_merge_problems(key, outcome.problems))
            return "error"
        self.not_reports.append(Problem(key, outcome.not_report_reason or "no report found"))
        return "not_report"

    def _add_others(
        self,
        key: str,
        bucket: Bucket,
        found: tuple[FailureReport, ...] | tuple[TlsReport, ...],
        outcome: MessageOutcome,
    ) -> Bucket:
        fresh = False
        for report in found:
            digest = hashlib.sha256(repr(report).encode()).hexdigest()
            first = self._other_seen.setdefault(digest, key)
            if first != key:
                self.duplicates.append(
                    Duplicate(key, first, f"same {bucket} report as in {first}",
                              getattr(report, "report_id", "")),
                )
                continue
            fresh = True
            if isinstance(report, FailureReport):
                self.failures.append(FoundFailure(key, report))
            else:
                self.tls.append(FoundTls(key, report))
        return bucket if fresh else "duplicate"

    def _add_report(self, found: FoundReport) -> bool:
        """Record a report; False when it is a duplicate of one seen before."""
        first = self._by_content.get(found.content_key)
        meta = found.report.report_metadata
        if first is not None:
            why = "same report content"
            if found.filename:
                why += f" ({found.filename})"
            self.duplicates.append(Duplicate(found.message, first, why, meta.report_id))
            return False
        self._by_content[found.content_key] = found.message
        for earlier in self._by_report_id.get(meta.report_id, []):
            collision = _collision(earlier, found)
            self.collisions.append(collision)
            if collision.counted_once:
                self.uncounted.add(report_ref(found))
        self._by_report_id.setdefault(meta.report_id, []).append(found)
        self.reports.append(found)
        return True


def _merge_problems(key: str, problems: tuple[Problem, ...]) -> Problem:
    if len(problems) == 1:
        return problems[0]
    reason = "; ".join(
        f"{p.filename or 'part ' + (p.part or '?')}: {p.reason}" for p in problems
    )
    return Problem(key, reason, problems[0].part, problems[0].filename)


def _collision(earlier: FoundReport, later: FoundReport) -> Collision:
    from dmarctui.aggregate import records_key

    a, b = earlier.report, later.report
    ma, mb = a.report_metadata, b.report_metadata
    if ma.email.lower() != mb.email.lower():
        reason = "different_email"
        detail = f"reported by {ma.email or '(no email)'} and by {mb.email or '(no email)'}"
        counted_once = False
    elif (
        ma.date_range != mb.date_range
        and records_key(a) == records_key(b)
        and a.policy_published == b.policy_published
        and ma.org_name == mb.org_name
    ):
        reason = "date_range_only"
        detail = (
            f"only date_range differs ({ma.date_range.begin}–{ma.date_range.end} vs "
            f"{mb.date_range.begin}–{mb.date_range.end}); records identical, counted once"
        )
        counted_once = True
    else:
        reason = "other"
        detail = "same report_id and reporter, different content"
        counted_once = False
    return Collision(
        report_id=ma.report_id,
        first=report_ref(earlier),
        second=report_ref(later),
        reason=reason,  # type: ignore[arg-type]
        detail=detail,
        counted_once=counted_once,
    )
