"""Trend per source: messages per day (for sparklines) and failures before/after a date.

Used to see whether a server improved after its admin was notified. Days are UTC days, counted
the way :mod:`dmarctui.triage` counts them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from dmarctui.config import Config
from dmarctui.model import AggregateReport, Record
from dmarctui.triage import (
    classify,
    is_problem,
    our_domains,
    spread_over_days,
    triage_context,
    utc_day,
)


def daily_by_source(
    reports: Iterable[AggregateReport],
    config: Config,
    ptrs: Mapping[str, str | None] | None = None,
    *,
    failing_only: bool = False,
) -> dict[str, tuple[tuple[str, int], ...]]:
    """``{source_ip: ((day, messages), ...)}`` for records of our domains, oldest day first.

    With ``failing_only`` only records that make a problem finding (or were enforced) count.
    """
    chosen = list(reports)
    cfg, shared = triage_context(config, chosen)
    names = ptrs or {}
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for report in chosen:
        dr = report.report_metadata.date_range
        for record in report.records:
            if not cfg.is_own_domain(record.identifiers.header_from):
                continue
            if failing_only and not _failing(record, cfg, names.get(record.source_ip), shared):
                continue
            for day, n in spread_over_days(dr.begin, dr.end, record.count):
                days[record.source_ip][day] += n
    return {ip: tuple(sorted(counter.items())) for ip, counter in days.items()}


def _failing(record: Record, cfg: Config, ptr: str | None, shared: frozenset[str]) -> bool:
    verdict = classify(record, cfg, ptr, shared)
    return verdict.enforced or (verdict.cause is not None and is_problem(verdict.cause))


def before_after(
    reports: Iterable[AggregateReport],
    source_ip: str,
    when: int,
    config: Config | None = None,
    ptrs: Mapping[str, str | None] | None = None,
) -> tuple[float, float]:
    """Failing messages per observed day from ``source_ip`` before and after ``when`` (epoch).

    A day is observed when any report covers it, so a quiet server after the notice counts as
    0 per day rather than as no data. A side with no observed day gives 0.0.
    """
    chosen = list(reports)
    cfg = our_domains(config or Config(), chosen)
    cut = utc_day(when)
    observed: set[str] = set()
    for report in chosen:
        dr = report.report_metadata.date_range
        observed.update(covered_days(dr.begin, dr.end))
    failing = dict(daily_by_source(chosen, cfg, ptrs, failing_only=True).get(source_ip, ()))
    before_days = [d for d in observed if d < cut]
    after_days = [d for d in observed if d >= cut]
    before = sum(failing.get(d, 0) for d in before_days)
    after = sum(failing.get(d, 0) for d in after_days)
    return (
        before / len(before_days) if before_days else 0.0,
        after / len(after_days) if after_days else 0.0,
    )


def covered_days(begin: int, end: int) -> list[str]:
    """The UTC days a report's messages are attributed to (see ``spread_over_days``)."""
    return [day for day, _ in spread_over_days(begin, end, 1 << 20)]


class FailingDays:
    """Failing messages per source and UTC day, and the days any report covers.

    What the notice's before/after figures and the follow-up round are computed from. Built from
    report objects (:meth:`from_reports`, the reference) or from the index
    (:meth:`dmarctui.index_triage.IndexTriage.failing_days`).
    """

    def __init__(self, by_source: Mapping[str, Mapping[str, int]], observed: Iterable[str]) -> None:
        self.by_source = {ip: dict(days) for ip, days in by_source.items()}
        self.observed = frozenset(observed)

    @classmethod
    def from_reports(
        cls,
        reports: Iterable[AggregateReport],
        config: Config | None = None,
        ptrs: Mapping[str, str | None] | None = None,
    ) -> FailingDays:
        chosen = list(reports)
        by_source = daily_by_source(chosen, config or Config(), ptrs, failing_only=True)
        observed = {
            day
            for r in chosen
            for day in covered_days(
                r.report_metadata.date_range.begin, r.report_metadata.date_range.end
            )
        }
        return cls({ip: dict(days) for ip, days in by_source.items()}, observed)

    @property
    def last_day(self) -> str:
        return max(self.observed, default="")

    def since(self, ip: str, day: str) -> int:
        return sum(n for d, n in self.by_source.get(ip, {}).items() if d >= day)

    def before_after(self, ip: str, when: int) -> tuple[float, float]:
        """As :func:`before_after`: failing messages per observed day before and after ``when``."""
        cut = utc_day(when)
        failing = self.by_source.get(ip, {})
        before_days = [d for d in self.observed if d < cut]
        after_days = [d for d in self.observed if d >= cut]
        before = sum(failing.get(d, 0) for d in before_days)
        after = sum(failing.get(d, 0) for d in after_days)
        return (
            before / len(before_days) if before_days else 0.0,
            after / len(after_days) if after_days else 0.0,
        )
