"""Triage computed where the data is: verdicts per distinct combination, counts by SQL.

A verdict depends only on the columns of a ``combos`` row (source IP, header_from, evaluated
DKIM/SPF/disposition, override reasons, auth results), on the config and on PTR names. So each
combination is classified once, in Python (thousands, not millions), and everything counted per
source, day, reporter, policy domain and disposition comes from aggregates over the index's
``records_combo`` index, for the period asked. No record becomes a Python object.

:class:`IndexTriage` answers what :func:`dmarctui.triage.find_findings`,
:func:`dmarctui.readiness.readiness` and :class:`dmarctui.trend.FailingDays` answer from report
objects, which remain the reference the tests compare it with. Evidence rows are read on demand,
a page at a time (:meth:`IndexTriage.evidence`).
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from dmarctui.config import Config, own_domains_mismatch
from dmarctui.index_rows import record_from_row
from dmarctui.index_schema import COMBO_COLUMNS
from dmarctui.model import Evidence, Finding, FindingKind, PolicyPublished, Record
from dmarctui.readiness import Readiness, ReadinessCounts
from dmarctui.trend import FailingDays, covered_days
from dmarctui.triage import (
    Verdict,
    _Acc,
    _finding,
    auth_line,
    classify,
    is_problem,
    rank,
    shared_domains,
    signed_internally,
    spread_over_days,
)

BATCH = 512
"""Combinations counted per query: progress and cancellation between queries, and the rows of
one query at a time in memory."""
LONG_REPORT = 36 * 3600
"""Reports longer than this are spread over their days per record (``spread_over_days``)."""

_PERIOD = (
    "r.counted AND (:since IS NULL OR r.end > :since) AND (:until IS NULL OR r.begin < :until)"
)
"""Counted reports overlapping [since, until), as :func:`dmarctui.triage.in_period` keeps them."""
_PERIOD_POSITIONAL = "r.counted AND (? IS NULL OR r.end > ?) AND (? IS NULL OR r.begin < ?)"
_REPORTER = "coalesce(nullif(r.org_name, ''), r.email)"
_SPAN = "max(0, r.end - r.begin)"

_TABLES = itertools.count()
_COMBO_DAYS = f"""
SELECT x.combo_id,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN NULL
         ELSE date(r.begin + {_SPAN} / 2.0, 'unixepoch') END,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN r.begin END,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN r.end END,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN x.count END,
    sum(x.count), count(*), min(r.begin), max(r.end)
FROM temp.{{table}} t
JOIN records x ON x.combo_id = t.combo_id
JOIN reports r ON r.pk = x.report_pk
WHERE t.batch = :batch AND {_PERIOD}
GROUP BY 1, 2, 3, 4, 5
"""
"""Messages per combination and day (short reports: the UTC day of the midpoint, in SQL; long
reports: per begin, end and count, spread in Python exactly as the reference spreads each
record)."""

_COMBO_REPORTERS = f"""
SELECT DISTINCT x.combo_id, {_REPORTER}
FROM temp.{{table}} t
JOIN records x ON x.combo_id = t.combo_id
JOIN reports r ON r.pk = x.report_pk
WHERE t.flagged AND {_PERIOD}
"""

_VARIANTS = f"""
SELECT r.domain, r.p, r.sp, r.adkim, r.aspf, r.pct, {_REPORTER}, count(*)
FROM reports r WHERE {_PERIOD}
GROUP BY r.domain, r.p, r.sp, r.adkim, r.aspf, r.pct, {_REPORTER}
ORDER BY min(r.pk)
"""


@dataclass(frozen=True, slots=True)
class ComboVerdict:
    """One distinct combination of ours, classified."""

    combo_id: int
    source_ip: str
    header_from: str
    owner: str
    disposition: str
    reasons: tuple[str, ...]
    verdict: Verdict

    def kinds(self) -> tuple[FindingKind, ...]:
        """The findings this combination counts towards (cause, then ``enforced``)."""
        cause = self.verdict.cause
        kinds: tuple[FindingKind, ...] = (cause,) if cause is not None else ()
        return (*kinds, "enforced") if self.verdict.enforced else kinds


class ComboCache:
    """The parsed ``combos`` rows of one index, read once and then only the new ones.

    Combinations are never changed once written, so the cache only grows with the index.
    """

    def __init__(self) -> None:
        self.records: dict[int, Record] = {}
        self._last = 0
        self._guard = threading.Lock()

    def refresh(self, conn: sqlite3.Connection) -> dict[int, Record]:
        with self._guard:
            rows = conn.execute(
                f"SELECT id, {', '.join(COMBO_COLUMNS)} FROM combos WHERE id > ? ORDER BY id",
                (self._last,),
            ).fetchall()
            for cid, ip, hfrom, disposition, dkim, spf, reasons, auth_dkim, auth_spf in rows:
                self.records[cid] = record_from_row(
                    (0, ip, 0, disposition, dkim, spf, reasons, hfrom, None, None, auth_dkim,
                     auth_spf)
                )  # fmt: skip
                self._last = cid
            return self.records


Progress = Callable[[int, int], None]
"""Called with (combinations done, combinations in all) while the counts are read."""


class IndexTriage:
    """Findings, readiness and failing days of one index for one config, PTR set and period.

    Build it (one pass over the records of our combinations in the period, in SQL), then ask it.
    The index's lock is held per query, so an update can write between them.

    Args:
        conn, lock: the index connection and the lock serialising its use.
        cache: the index's :class:`ComboCache`.
        config: own domains (defaulting to the period's policy domains), networks, senders.
        ptrs: forward-confirmed PTR names by IP, for PTR-pattern senders and contacts.
        since, until: epoch bounds of the period; reports overlapping it count.
        progress: told how many combinations are counted so far.
        cancelled: polled while counting; True stops early (the result is then incomplete).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: AbstractContextManager[object],
        cache: ComboCache,
        config: Config,
        ptrs: Mapping[str, str | None] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        self._conn = conn
        self._lock = lock
        self.period: dict[str, int | None] = {"since": since, "until": until}
        self.ptrs: dict[str, str | None] = dict(ptrs or {})
        with lock:
            self.policy_domains = [
                d
                for (d,) in conn.execute(
                    f"SELECT DISTINCT r.domain FROM reports r WHERE {_PERIOD} ORDER BY r.domain",
                    self.period,
                )
            ]
            records = cache.refresh(conn)
        self.config = config.with_default_domains(self.policy_domains)
        self.warning = own_domains_mismatch(config, self.policy_domains)
        """A plain warning when the configured own domains match no policy domain."""
        cfg = self.config
        owners: dict[str, str | None] = {}
        ours: dict[int, tuple[Record, str]] = {}
        for cid, record in records.items():
            hfrom = record.identifiers.header_from
            owner = owners.get(hfrom, "")
            if owner == "":
                owner = owners[hfrom] = cfg.own_domain_for(hfrom)
            if owner is not None:
                ours[cid] = (record, owner)
        self.shared = shared_domains(cfg, self.policy_domains, self._signed(ours))
        self.combos: dict[int, ComboVerdict] = {}
        for cid, (record, owner) in ours.items():
            ip = record.source_ip
            self.combos[cid] = ComboVerdict(
                cid,
                ip,
                record.identifiers.header_from,
                owner,
                record.policy_evaluated.disposition,
                tuple(r.type for r in record.policy_evaluated.reason),
                classify(record, cfg, self.ptrs.get(ip), self.shared),
            )
        self.complete = True
        self._count(progress, cancelled)

    # ------------------------------------------------------------------ building

    def _signed(self, ours: Mapping[int, tuple[Record, str]]) -> set[str]:
        """From domains our DKIM signed at an internal source, in a counted report of the
        period (a combination is only a candidate until a record of it is found there)."""
        candidates: dict[str, list[int]] = defaultdict(list)
        for cid, (record, _) in ours.items():
            domain = signed_internally(record, self.config)
            if domain is not None:
                candidates[domain].append(cid)
        signed = set()
        sql = (
            "SELECT 1 FROM records x JOIN reports r ON r.pk = x.report_pk"
            f" WHERE x.combo_id = :cid AND {_PERIOD} LIMIT 1"
        )
        for domain, cids in candidates.items():
            for cid in cids:
                with self._lock:
                    hit = self._conn.execute(sql, {**self.period, "cid": cid}).fetchone()
                if hit is not None:
                    signed.add(domain)
                    break
        return signed

    def _count(self, progress: Progress | None, cancelled: Callable[[], bool] | None) -> None:
        cfg = self.config
        self._accs: dict[tuple[str, FindingKind], _Acc] = defaultdict(_Acc)
        self._readiness = ReadinessCounts(cfg)
        self._failing: dict[str, Counter[str]] = defaultdict(Counter)
        self._combo_ids: dict[tuple[str, FindingKind], list[int]] = defaultdict(list)
        for combo in self.combos.values():
            for kind in combo.kinds():
                self._combo_ids[(combo.source_ip, kind)].append(combo.combo_id)
        ordered = sorted(self.combos)
        batches = (len(ordered) + BATCH - 1) // BATCH
        table = f"triage_combos_{next(_TABLES)}"  # several triages may run at once (TUI panes)
        with self._lock:
            self._conn.execute(
                f"CREATE TEMP TABLE {table} (combo_id INTEGER PRIMARY KEY,"
                " flagged INTEGER NOT NULL, batch INTEGER NOT NULL)"
            )
            self._conn.execute(f"CREATE INDEX temp.{table}_batch ON {table}(batch, combo_id)")
            self._conn.executemany(
                f"INSERT INTO temp.{table} VALUES (?, ?, ?)",
                ((cid, bool(self.combos[cid].kinds()), i // BATCH) for i, cid in
                 enumerate(ordered)),
            )  # fmt: skip
        try:
            for batch in range(batches):
                if cancelled is not None and cancelled():
                    self.complete = False
                    break
                with self._lock:
                    rows = self._conn.execute(
                        _COMBO_DAYS.format(table=table), {**self.period, "batch": batch}
                    )
                    rows = rows.fetchall()
                for cid, day, begin, end, count, messages, n, first, final in rows:
                    combo = self.combos[cid]
                    if day is not None:
                        per_day = [(day, messages)]
                    else:
                        per_day = [(d, k * n) for d, k in spread_over_days(begin, end, count)]
                    self._add(combo, messages, first, final, per_day)
                if progress is not None:
                    progress(min(len(ordered), (batch + 1) * BATCH), len(ordered))
            with self._lock:
                reporters = self._conn.execute(
                    _COMBO_REPORTERS.format(table=table), self.period
                ).fetchall()
                variants = self._conn.execute(_VARIANTS, self.period).fetchall()
        finally:
            with self._lock:
                self._conn.execute(f"DROP TABLE temp.{table}")
        for cid, reporter in reporters:
            for kind in self.combos[cid].kinds():
                self._accs[(self.combos[cid].source_ip, kind)].reporters.setdefault(reporter, None)
        for domain, p, sp, adkim, aspf, pct, reporter, reports in variants:
            pp = PolicyPublished(domain=domain, p=p, adkim=adkim, aspf=aspf, sp=sp, pct=pct)
            self._readiness.add_policy(pp, reporter, reports)

    def _add(
        self,
        combo: ComboVerdict,
        messages: int,
        first: int,
        last: int,
        per_day: list[tuple[str, int]],
    ) -> None:
        verdict = combo.verdict
        self._readiness.add_messages(combo.owner, verdict, combo.disposition, messages, per_day)
        kinds = combo.kinds()
        if verdict.enforced or any(is_problem(k) for k in kinds):
            failing = self._failing[combo.source_ip]
            for day, k in per_day:
                failing[day] += k
        for kind in kinds:
            acc = self._accs[(combo.source_ip, kind)]
            acc.messages += messages
            acc.first = first if acc.first is None else min(acc.first, first)
            acc.last = last if acc.last is None else max(acc.last, last)
            acc.header_from[combo.header_from.lower()] += messages
            for day, k in per_day:
                acc.per_day[day] += k
            if verdict.label:
                acc.labels[verdict.label] += messages
            for reason in combo.reasons:
                acc.reasons[reason] += messages

    # ------------------------------------------------------------------ answers

    def findings(self) -> list[Finding]:
        """Every finding, ranked, without evidence rows (see :meth:`evidence`)."""
        return rank(
            _finding(ip, kind, acc, self.config, self.ptrs.get(ip))
            for (ip, kind), acc in self._accs.items()
        )

    def readiness(self) -> list[Readiness]:
        return self._readiness.result()

    def failing_by_source(self) -> dict[str, dict[str, int]]:
        """Failing messages per source and UTC day (problem findings or enforced)."""
        return {ip: dict(days) for ip, days in self._failing.items()}

    def failing_days(self) -> FailingDays:
        """Failing messages per source and day, and the days the period's reports cover."""
        with self._lock:
            ranges = self._conn.execute(
                f"SELECT DISTINCT r.begin, r.end FROM reports r WHERE {_PERIOD}", self.period
            ).fetchall()
        observed = {day for begin, end in ranges for day in covered_days(begin, end)}
        return FailingDays(self._failing, observed)

    def combo_ids(self, source_ip: str, kind: FindingKind) -> list[int]:
        return list(self._combo_ids.get((source_ip, kind), ()))

    def evidence_count(self, source_ip: str, kind: FindingKind) -> int:
        ids = self.combo_ids(source_ip, kind)
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM records x JOIN reports r ON r.pk = x.report_pk"
                f" WHERE x.combo_id IN ({marks}) AND {_PERIOD_POSITIONAL}",
                (*ids, *self._positional()),
            ).fetchone()
        return int(row[0])

    def evidence(
        self, source_ip: str, kind: FindingKind, *, offset: int = 0, limit: int | None = None
    ) -> list[Evidence]:
        """One page of the records behind a finding, oldest first, as the reference orders
        them (report begin, reporter, report id, then folder order)."""
        ids = self.combo_ids(source_ip, kind)
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        sql = (
            f"SELECT {_REPORTER}, r.report_id, r.begin, r.end, x.count, x.header_from,"
            " x.disposition, x.dkim, x.spf, x.auth_dkim, x.auth_spf, x.reasons"
            " FROM records x JOIN reports r ON r.pk = x.report_pk"
            " JOIN messages m ON m.id = r.message_id"
            f" WHERE x.combo_id IN ({marks}) AND {_PERIOD_POSITIONAL}"
            f" ORDER BY r.begin, {_REPORTER}, r.report_id, m.seq, r.pk, x.idx"
            " LIMIT ? OFFSET ?"
        )
        params = (*ids, *self._positional(), -1 if limit is None else limit, max(0, offset))
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_evidence(row) for row in rows]

    def with_evidence(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings with all their evidence rows: for the few a letter is about."""
        return [replace(f, evidence=tuple(self.evidence(f.source_ip, f.kind))) for f in findings]

    def _positional(self) -> tuple[Any, ...]:
        since, until = self.period["since"], self.period["until"]
        return (since, since, until, until)


def _evidence(row: tuple[Any, ...]) -> Evidence:
    (reporter, report_id, begin, end, count, hfrom, disposition, dkim, spf, auth_dkim,
     auth_spf, reasons) = row  # fmt: skip
    record = record_from_row(
        (0, "", count, disposition, dkim, spf, reasons, hfrom, None, None, auth_dkim, auth_spf)
    )
    return Evidence(
        reporter=reporter,
        report_id=report_id,
        begin=begin,
        end=end,
        count=count,
        header_from=hfrom,
        disposition=disposition,
        dkim=dkim,
        spf=spf,
        auth=auth_line(record),
    )
