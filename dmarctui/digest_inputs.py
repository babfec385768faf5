"""What the digest reads from the rest of the core, behind one small interface.

The digest needs current findings, failing messages per source and day, readiness, reporters,
intake problems and follow-up states. They all come through :class:`DigestInputs`, so when triage,
readiness or the notice history change how they compute these (from SQL aggregates in the index,
say), only this module needs re-pointing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dmarctui.config import Config
from dmarctui.history import NoticeHistory, SourceProgress, latest_progress
from dmarctui.model import AggregateReport, Finding
from dmarctui.readiness import Readiness, readiness
from dmarctui.trend import covered_days, daily_by_source
from dmarctui.triage import find_findings, in_period

if TYPE_CHECKING:
    from dmarctui.index import Index

IntakeKind = Literal["unreadable", "collision", "recovered"]


@dataclass(frozen=True)
class IntakeProblem:
    """A message or report the intake could not take as it came."""

    kind: IntakeKind
    key: str
    """Stable identity, to tell a new problem from one already said."""
    where: str
    """The message (``message#part``) or the reporter and report id."""
    detail: str
    date: int | None = None
    """The message's Date header (epoch), when known: ``--since`` compares it."""


class DigestInputs:
    """The folder's current state as the digest sees it; reports are read from the index once."""

    def __init__(
        self, index: Index, config: Config, ptrs: Mapping[str, str | None] | None = None
    ) -> None:
        self.index = index
        self.config = config
        self.ptrs: dict[str, str | None] = dict(ptrs or {})
        self._reports: list[AggregateReport] | None = None

    def reports(self, until: int | None = None) -> list[AggregateReport]:
        """Distinct counted reports; with ``until``, only those starting before it."""
        if self._reports is None:
            self._reports = list(self.index.counted_reports())
        if until is None:
            return self._reports
        return [r for r in self._reports if in_period(r, None, until)]

    def findings(self, until: int | None = None) -> list[Finding]:
        """Every finding over all reports (before ``until``), ranked, with the known PTRs."""
        return find_findings(self.reports(until), self.config, self.ptrs)

    def failing_per_day(self, until: int | None = None) -> dict[str, dict[str, int]]:
        """Failing (problem or enforced) messages per source and UTC day."""
        by_source = daily_by_source(self.reports(until), self.config, self.ptrs, failing_only=True)
        return {ip: dict(days) for ip, days in by_source.items()}

    def observed_days(self, until: int | None = None) -> list[str]:
        """The UTC days any report covers, oldest first."""
        days: set[str] = set()
        for report in self.reports(until):
            dr = report.report_metadata.date_range
            days.update(covered_days(dr.begin, dr.end))
        return sorted(days)

    def readiness(self, since: int | None, until: int | None = None) -> list[Readiness]:
        return readiness(self.reports(until), self.config, self.ptrs, since=since)

    def reporters(self, until: int | None = None) -> set[str]:
        return {r.report_metadata.org_name or r.report_metadata.email for r in self.reports(until)}

    def intake(self) -> list[IntakeProblem]:
        """Unreadable messages, report_id collisions and reports recovered from bad XML."""
        found: list[IntakeProblem] = []
        for p in self.index.errors():
            where = f"{p.message}#{p.part}" if p.part else p.message
            found.append(
                IntakeProblem(
                    "unreadable",
                    f"error {where} {p.reason}",
                    where,
                    p.reason,
                    self._date(p.message),
                )
            )
        for c in self.index.collisions():
            found.append(
                IntakeProblem(
                    "collision",
                    f"collision {c.report_id} {c.first} {c.second}",
                    c.report_id,
                    c.detail or c.reason,
                    self._date(c.second.partition("#")[0]),
                )
            )
        for r in self.reports():
            if r.repairs:
                meta = r.report_metadata
                who = meta.org_name or meta.email
                detail = "; ".join(dict.fromkeys(rep.detail for rep in r.repairs))
                found.append(
                    IntakeProblem(
                        "recovered",
                        f"recovered {who} {meta.report_id}",
                        f"{who} {meta.report_id}",
                        detail,
                        meta.date_range.end,
                    )
                )
        return found

    def _date(self, key: str) -> int | None:
        try:
            _, summary = self.index.message(key)
            return int(parsedate_to_datetime(summary.date).timestamp())
        except (KeyError, LookupError, TypeError, ValueError, IndexError):
            return None

    def follow_ups(
        self, days: int, history: Path | None = None, now: float | None = None
    ) -> list[SourceProgress]:
        """Every notified source's progress since its latest notice (``history`` module)."""
        with NoticeHistory.open(history) as notices:
            records = notices.all()
        if not records:
            return []
        return latest_progress(
            records,
            self.reports(),
            days,
            config=self.config,
            now=time.time() if now is None else now,
        )


def problem_sources(findings: Sequence[Finding]) -> list[str]:
    """Source IPs of the findings, most urgent first, each once."""
    return list(dict.fromkeys(f.source_ip for f in findings))
