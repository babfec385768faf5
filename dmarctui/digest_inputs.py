"""What the digest reads from the rest of the core, behind one small interface.

The digest needs current findings, failing messages per source and day, readiness, reporters,
intake problems and follow-up states. They all come through :class:`DigestInputs`, which reads them
from the index's triage (SQL aggregates, one verdict per distinct combination) and report rows.
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
from dmarctui.model import Finding
from dmarctui.readiness import Readiness

if TYPE_CHECKING:
    from dmarctui.index import Index
    from dmarctui.index_triage import IndexTriage

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
    """The folder's current state as the digest sees it, from the index's triage.

    Findings, failing days and readiness come from :meth:`dmarctui.index.Index.triage` (one
    verdict per distinct combination, counts in SQL); reporters and recovered reports from the
    report rows. No record is loaded into Python, so a digest costs what ``flagged`` costs.
    """

    def __init__(
        self, index: Index, config: Config, ptrs: Mapping[str, str | None] | None = None
    ) -> None:
        self.index = index
        self.config = config
        self.ptrs: dict[str, str | None] = dict(ptrs or {})
        self._runs: dict[tuple[int | None, int | None], IndexTriage] = {}
        self._heads: dict[int | None, list[tuple[int, str, str, str]]] = {}

    def _run(self, since: int | None = None, until: int | None = None) -> IndexTriage:
        key = (since, until)
        if key not in self._runs:
            self._runs[key] = self.index.triage(self.config, self.ptrs, since=since, until=until)
        return self._runs[key]

    def _report_heads(self, until: int | None = None) -> list[tuple[int, str, str, str]]:
        if until not in self._heads:
            self._heads[until] = self.index.counted_heads(until)
        return self._heads[until]

    def report_count(self, until: int | None = None) -> int:
        """Distinct counted reports (starting before ``until``)."""
        return len(self._report_heads(until))

    def findings(self, until: int | None = None) -> list[Finding]:
        """Every finding over all reports (before ``until``), ranked, with the known PTRs."""
        return self._run(until=until).findings()

    def failing_per_day(self, until: int | None = None) -> dict[str, dict[str, int]]:
        """Failing (problem or enforced) messages per source and UTC day."""
        return {
            ip: dict(days) for ip, days in self._run(until=until).failing_days().by_source.items()
        }

    def observed_days(self, until: int | None = None) -> list[str]:
        """The UTC days any report covers, oldest first."""
        return sorted(self._run(until=until).failing_days().observed)

    def readiness(self, since: int | None, until: int | None = None) -> list[Readiness]:
        return self._run(since, until).readiness()

    def reporters(self, until: int | None = None) -> set[str]:
        return {org or email for _, org, email, _ in self._report_heads(until)}

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
        for pk, _, _, status in self._report_heads():
            if status != "recovered":
                continue
            r = self.index.report(pk).report
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
            self._run().failing_days(),
            days,
            config=self.config,
            now=time.time() if now is None else now,
        )


def problem_sources(findings: Sequence[Finding]) -> list[str]:
    """Source IPs of the findings, most urgent first, each once."""
    return list(dict.fromkeys(f.source_ip for f in findings))
