"""Triage computed where the data is: verdicts per distinct combination, counts by SQL.

A verdict depends only on the columns of a ``combos`` row (source IP, header_from, evaluated
DKIM/SPF/disposition, override reasons, auth results), on the config and on PTR names. So each
combination is classified once, in Python (thousands, not millions), and everything counted per
source, day, reporter, policy domain and disposition comes from SQL aggregates over the index
(``records_report`` covers what they read), for the period asked. No record becomes a Python
object.

:class:`IndexTriage` answers what :func:`dmarctui.triage.find_findings`,
:func:`dmarctui.readiness.readiness` and :class:`dmarctui.trend.FailingDays` answer from report
objects, which remain the reference the tests compare it with. Evidence rows are read on demand,
a page at a time (:meth:`IndexTriage.evidence`).

The counts are stored in the index with the state of the data they were counted at
(:mod:`dmarctui.index_triage_store`): asked again with nothing changed (a warm ``flagged``, the
Readiness pane after Sources), the triage reads them instead of counting; after new mail it
counts only the reports added since and adds them (:meth:`IndexTriage._count_added`).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from dmarctui import index_triage_store as stored_results
from dmarctui.config import Config, Sender, own_domains_mismatch
from dmarctui.index_rows import record_from_row
from dmarctui.index_schema import COMBO_COLUMNS
from dmarctui.model import (
    DkimAuthResult,
    Evidence,
    Finding,
    FindingKind,
    Identifiers,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    SpfAuthResult,
)
from dmarctui.readiness import Readiness, ReadinessCounts
from dmarctui.trend import FailingDays, covered_days
from dmarctui.triage import (
    SEVERITY,
    SEVERITY_ORDER,
    FindingCounts,
    Verdict,
    auth_line,
    build_finding,
    classify,
    is_problem,
    rank,
    shared_domains,
    signed_internally,
    spread_over_days,
)

BATCH = 2000
"""Reports whose records are counted per query: progress and cancellation between queries."""
NO_REPORT = -(2**63)
"""Lower than any report id: count them all."""
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
_REPORT_DAYS = f"""
INSERT INTO temp.{{reports}}
SELECT r.pk,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN NULL
         ELSE date(r.begin + {_SPAN} / 2.0, 'unixepoch') END,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN r.begin END,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN r.end END,
    r.begin, r.end, {_REPORTER}
FROM reports r WHERE r.pk > :after AND {_PERIOD}
"""
"""The counted reports of the period (those with a higher id than ``after``) with the day their
messages count on (short reports: the UTC day of the midpoint; long reports: begin and end,
spread in Python per record exactly as the reference spreads them), computed once per report
rather than per record."""

_FILL_DAYS = """
INSERT INTO temp.{days}
SELECT g.cause, g.enforced, g.readiness, g.failing, x.combo_id, d.day, d.b, d.e,
    CASE WHEN d.day IS NULL THEN x.count END, sum(x.count), count(*), min(d.begin), max(d.end)
FROM temp.{reports} d
JOIN records x ON x.report_pk = d.pk
JOIN temp.{groups} g ON g.combo_id = x.combo_id
WHERE d.pk BETWEEN :low AND :high
GROUP BY x.combo_id, 6, 7, 8, 9
"""
"""One pass over the records of a range of reports, in report order along ``records_report``
(which covers combo_id and count): messages per combination of ours and day, with the groups
the combination counts in (its findings, its readiness column, its failing source)."""

_GROUP_DAYS = """
SELECT {key}, day, b, e, c, sum(n), sum(k) FROM temp.{days}
WHERE {key} IS NOT NULL GROUP BY 1, 2, 3, 4, 5
"""
"""Messages per day of one grouping (readiness column, failing source)."""

_FINDING_DAYS = """
SELECT key, day, b, e, c, sum(n), sum(k) FROM (
    SELECT cause AS key, day, b, e, c, n, k FROM temp.{days} WHERE cause IS NOT NULL
    UNION ALL
    SELECT enforced, day, b, e, c, n, k FROM temp.{days} WHERE enforced IS NOT NULL
) GROUP BY 1, 2, 3, 4, 5
"""

_COMBO_REPORTERS = """
SELECT DISTINCT g.cause, g.enforced, d.reporter
FROM temp.{reports} d
JOIN records x ON x.report_pk = d.pk
JOIN temp.{groups} g ON g.combo_id = x.combo_id
WHERE g.cause IS NOT NULL OR g.enforced IS NOT NULL
"""

_VARIANTS = f"""
SELECT r.domain, r.p, r.sp, r.adkim, r.aspf, r.pct, {_REPORTER}, count(*)
FROM reports r WHERE r.pk > :after AND {_PERIOD}
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


ComboRow = tuple[str, str, str, str, str, str, str, str]
"""A ``combos`` row: source_ip, header_from, disposition, dkim, spf, reasons, auth_dkim and
auth_spf."""


class ComboCache:
    """The ``combos`` rows of one index, read once and then only the new ones.

    Combinations are never changed once written, so the cache only grows with the index.
    """

    def __init__(self) -> None:
        self.rows: dict[int, ComboRow] = {}
        self._last = 0
        self._guard = threading.Lock()

    def refresh(self, conn: sqlite3.Connection) -> dict[int, ComboRow]:
        with self._guard:
            intern = sys.intern  # the columns but the address repeat a few hundred values
            for cid, ip, *rest in conn.execute(
                f"SELECT id, {', '.join(COMBO_COLUMNS)} FROM combos WHERE id > ? ORDER BY id",
                (self._last,),
            ):
                self.rows[cid] = (ip, *map(intern, rest))  # type: ignore[assignment]
                self._last = cid
            return self.rows


def combo_record(row: ComboRow) -> Record:
    """What :func:`classify` reads of a combination, as a record (count 0)."""
    ip, hfrom, disposition, dkim, spf, reasons, auth_dkim, auth_spf = row
    return Record(
        source_ip=ip,
        count=0,
        policy_evaluated=PolicyEvaluated(disposition, dkim, spf, _reasons(reasons)),
        identifiers=Identifiers(hfrom),
        dkim=_dkim(auth_dkim),
        spf=_spf(auth_spf),
    )


@lru_cache(maxsize=1 << 14)
def _reasons(text: str) -> tuple[PolicyOverrideReason, ...]:
    """Parsed once per distinct JSON text: combinations repeat a few auth patterns."""
    return tuple(PolicyOverrideReason(t, c) for t, c in json.loads(text))


@lru_cache(maxsize=1 << 14)
def _dkim(text: str) -> tuple[DkimAuthResult, ...]:
    return tuple(DkimAuthResult(d, r, s, h) for d, r, s, h in json.loads(text))


@lru_cache(maxsize=1 << 14)
def _spf(text: str) -> tuple[SpfAuthResult, ...]:
    return tuple(SpfAuthResult(d, r, s, h) for d, r, s, h in json.loads(text))


Progress = Callable[[int, int], None]
"""Called with (reports done, reports in all) while the counts are read."""


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
        self._reason_types: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._findings: tuple[tuple[tuple[str, str], ...], list[Finding]] | None = None
        self._accs: dict[tuple[str, FindingKind], FindingCounts] = {}
        self._failing: dict[str, Counter[str]] = defaultdict(Counter)
        self._combo_ids: dict[tuple[str, FindingKind], list[int]] = defaultdict(list)
        self._ranked: list[str] | None = None
        self._unparsed: dict[str, str] = {}
        """Parts of a stored result not parsed yet (see :meth:`_restore`)."""
        self._parsing = threading.Lock()  # TUI panes may ask from two threads at once
        self.config: Config = config
        self.policy_domains: list[str] = []
        self.warning: str | None = None
        """A plain warning when the configured own domains match no policy domain."""
        self.shared: frozenset[str] = frozenset()
        self.combos: dict[int, ComboVerdict] = {}
        self.classified = 0
        self.complete = False
        stored_key = stored_results.result_key(config, self.ptrs, since, until)
        with lock:
            now = stored_results.data_state(conn)
            stored = stored_results.load(conn, stored_key, now)
        self.stored = stored is not None and stored[1] is None
        """Whether the counts were read from the result stored for the same data, config, PTR
        names and period, rather than counted."""
        self.updated = False
        """Whether a stored result was brought up to date by counting only the reports added
        since it was counted."""
        if stored is not None:
            parts, delta = stored
            self._restore(config, parts)
            if delta is None or self._count_added(config, delta, progress, cancelled):
                if self.updated and self.complete:
                    with lock:
                        stored_results.save(conn, stored_key, now, self._parts())
                return
            self._reset()
        with lock:
            self.policy_domains = self._policy_domains()
            records = cache.refresh(conn)
        ours, keys = self._prepare(config, records)
        self.shared = shared_domains(self.config, self.policy_domains, self._signed(ours, keys))
        self._judge(ours, keys)
        self.classified = len(self._reason_types)
        """Distinct classifications computed (the rest of the combinations share them); a
        stored result's, when read or brought up to date."""
        self._add_ids(self.combos.values())
        self.complete = True
        self._count(progress, cancelled)
        if self.complete:
            with lock:
                stored_results.save(conn, stored_key, now, self._parts())

    def _reset(self) -> None:
        """Back to nothing counted (a stored result that could not be brought up to date)."""
        self._reason_types = {}
        self._accs = {}
        self._failing = defaultdict(Counter)
        self._combo_ids = defaultdict(list)
        self._ranked = None
        self._unparsed = {}
        self.combos = {}

    def _policy_domains(self) -> list[str]:
        sql = f"SELECT DISTINCT r.domain FROM reports r WHERE {_PERIOD} ORDER BY r.domain"
        return [d for (d,) in self._conn.execute(sql, self.period)]

    def _prepare(
        self, config: Config, records: Mapping[int, ComboRow]
    ) -> tuple[dict[int, tuple[ComboRow, str]], dict[int, tuple[Any, ...]]]:
        """The config in effect, and the combinations of ours with their classification keys."""
        self.config = config.with_default_domains(self.policy_domains)
        self.warning = own_domains_mismatch(config, self.policy_domains)
        cfg = self.config
        owners: dict[str, str | None] = {}
        ours: dict[int, tuple[ComboRow, str]] = {}
        for cid, row in records.items():
            hfrom = row[1]
            owner = owners.get(hfrom, "")
            if owner == "":
                owner = owners[hfrom] = cfg.own_domain_for(hfrom)
            if owner is not None:
                ours[cid] = (row, owner)
        # A verdict depends on the source only through "internal?" and the matching sender, so
        # it is computed once per (that, the other columns): a few hundred classifications.
        sources: dict[str, tuple[bool, Sender | None]] = {}
        keys: dict[int, tuple[Any, ...]] = {}
        firsts: dict[tuple[Any, ...], ComboRow] = {}
        for cid, (row, _) in ours.items():
            ip = row[0]
            cls = sources.get(ip)
            if cls is None:
                cls = sources[ip] = (cfg.is_internal(ip), cfg.sender_for(ip, self.ptrs.get(ip)))
            key = keys[cid] = (*cls, *row[1:])
            firsts.setdefault(key, row)
        self._records = {key: combo_record(row) for key, row in firsts.items()}
        return ours, keys

    def _judge(
        self, ours: Mapping[int, tuple[ComboRow, str]], keys: Mapping[int, tuple[Any, ...]]
    ) -> None:
        """Classify the combinations of ours (once per classification key)."""
        cfg = self.config
        verdicts: dict[tuple[Any, ...], Verdict] = {}
        self.combos = {}
        for cid, (row, owner) in ours.items():
            key = keys[cid]
            verdict = verdicts.get(key)
            if verdict is None:
                record = self._records[key]
                verdict = verdicts[key] = classify(record, cfg, self.ptrs.get(record.source_ip),
                                                   self.shared)  # fmt: skip
                self._reason_types[key] = tuple(r.type for r in record.policy_evaluated.reason)
            self.combos[cid] = ComboVerdict(
                cid, row[0], row[1], owner, row[2], self._reason_types[key], verdict
            )

    def _add_ids(self, combos: Iterable[ComboVerdict]) -> None:
        """File combinations under the findings they count towards (for evidence)."""
        for combo in combos:
            for kind in combo.kinds():
                self._combo_ids[(combo.source_ip, kind)].append(combo.combo_id)

    def _count_added(
        self,
        config: Config,
        delta: stored_results.Delta,
        progress: Progress | None,
        cancelled: Callable[[], bool] | None,
    ) -> bool:
        """Add the counts of the reports added since the restored result was counted; False
        when they change what the result's verdicts rest on (the policy domains, and so the
        own domains by default, or the shared domains): then everything is counted again.

        The reports the result counted are unchanged (no change logged), so the reports that
        count now are those and the added ones, and every answer is a sum, a minimum, a maximum
        or a union over reports: adding the new reports' share gives what counting all gives.
        """
        stored_domains = self.policy_domains
        with self._lock:
            self.policy_domains = self._policy_domains()
            if self.policy_domains != stored_domains:
                return False
            added = {
                cid
                for (cid,) in self._conn.execute(
                    # CROSS JOIN: the added reports first (a rowid range), then their records
                    "SELECT DISTINCT x.combo_id FROM reports r CROSS JOIN records x"
                    f" ON x.report_pk = r.pk WHERE r.pk > :after AND {_PERIOD}",
                    {**self.period, "after": delta.after},
                )
            }
            records: dict[int, ComboRow] = {}
            for cid, *row in self._conn.execute(
                f"SELECT id, {', '.join(COMBO_COLUMNS)} FROM combos WHERE id > ? ORDER BY id",
                (delta.max_combo,),
            ):
                records[cid] = tuple(row)  # type: ignore[assignment]
            for cid in sorted(added - records.keys()):
                row = self._conn.execute(
                    f"SELECT {', '.join(COMBO_COLUMNS)} FROM combos WHERE id = ?", (cid,)
                ).fetchone()
                records[cid] = tuple(row)  # type: ignore[assignment]
        shared = self.shared
        ours, keys = self._prepare(config, records)
        for cid in ours.keys() & added:  # signed by us at an internal source, counted now
            domain = signed_internally(self._records[keys[cid]], self.config)
            if domain and self.config.is_own_domain(domain) and domain not in shared:
                return False
        self._finding_counts()
        self._failing_counts()
        self._ids()
        self._judge(ours, keys)
        self._add_ids(c for cid, c in sorted(self.combos.items()) if cid > delta.max_combo)
        self.combos = {cid: c for cid, c in self.combos.items() if cid in added}
        self._ranked = None
        self._findings = None
        self.updated = True
        self._count(progress, cancelled, after=delta.after)
        return True

    # ------------------------------------------------------------------ stored results

    def _parts(self) -> dict[str, str]:
        """The counts as JSON texts, one per part an answer needs (see :meth:`_restore`)."""
        ready = self._readiness
        summary = {
            "policy_domains": self.policy_domains,
            "shared": sorted(self.shared),
            "classified": self.classified,
            "ranked": self.ranked_sources(),
            "days": ready.days,
            "affected": ready.affected,
            "enforced": ready.enforced,
            "variants": {
                owner: [[list(k), list(who)] for k, who in keys.items()]
                for owner, keys in ready.variants.items()
            },
            "reports_per_variant": [[list(k), n] for k, n in ready.reports_per_variant.items()],
        }
        findings = [
            [ip, kind, a.messages, a.first, a.last, a.header_from, list(a.reporters), a.per_day,
             a.labels, a.reasons]
            for (ip, kind), a in self._accs.items()
        ]  # fmt: skip
        ids = [[ip, kind, ids] for (ip, kind), ids in self._combo_ids.items()]
        return {
            name: json.dumps(data, separators=(",", ":"))
            for name, data in (
                ("summary", summary), ("findings", findings), ("failing", self._failing),
                ("combo_ids", ids),
            )
        }  # fmt: skip

    def _restore(self, config: Config, parts: dict[str, str]) -> None:
        """The state :meth:`_count` leaves, from the :meth:`_parts` of a stored result; the
        findings, failing days and combinations are parsed when first asked for."""
        data = json.loads(parts["summary"])
        self.policy_domains = data["policy_domains"]
        self.config = config.with_default_domains(self.policy_domains)
        self.warning = own_domains_mismatch(config, self.policy_domains)
        self.shared = frozenset(data["shared"])
        self.classified = data["classified"]
        self.complete = True
        self.combos = {}
        self._ranked = data["ranked"]
        ready = self._readiness = ReadinessCounts(self.config)
        for owner, days in data["days"].items():
            for day, columns in days.items():
                ready.days[owner][day] = Counter(columns)
        for owner, kinds in data["affected"].items():
            ready.affected[owner] = Counter(kinds)
        ready.enforced = Counter(data["enforced"])
        for owner, keys in data["variants"].items():
            for k, who in keys:
                ready.variants[owner][tuple(k)] = dict.fromkeys(who)  # type: ignore[index]
        for k, n in data["reports_per_variant"]:
            ready.reports_per_variant[tuple(k)] = n  # type: ignore[index]
        self._unparsed = dict(parts)

    def _finding_counts(self) -> dict[tuple[str, FindingKind], FindingCounts]:
        with self._parsing:
            self._parse_findings(self._unparsed.pop("findings", None))
        return self._accs

    def _parse_findings(self, text: str | None) -> None:
        if text is not None:
            for ip, kind, messages, first, last, hfrom, who, per_day, labels, reasons in json.loads(
                text
            ):
                self._accs[(ip, kind)] = FindingCounts(
                    messages=messages, first=first, last=last, header_from=_counter(hfrom),
                    reporters=dict.fromkeys(who), per_day=_counter(per_day),
                    labels=_counter(labels), reasons=_counter(reasons),
                )  # fmt: skip

    def _failing_counts(self) -> dict[str, Counter[str]]:
        with self._parsing:
            text = self._unparsed.pop("failing", None)
            if text is not None:
                for ip, days in json.loads(text).items():
                    self._failing[ip] = _counter(days)
        return self._failing

    def _ids(self) -> dict[tuple[str, FindingKind], list[int]]:
        with self._parsing:
            text = self._unparsed.pop("combo_ids", None)
            if text is not None:
                for ip, kind, ids in json.loads(text):
                    self._combo_ids[(ip, kind)] = ids
        return self._combo_ids

    def ranked_sources(self) -> list[str]:
        """The sources of the findings in rank order (as :meth:`findings` ranks them), each
        once: whose PTR names to look up first, without building the findings."""
        if self._ranked is None:
            keys = sorted(
                self._accs.items(),
                key=lambda kv: (SEVERITY_ORDER[SEVERITY[kv[0][1]]], -kv[1].messages, *kv[0]),
            )
            self._ranked = list(dict.fromkeys(ip for (ip, _), _ in keys))
        return list(self._ranked)

    # ------------------------------------------------------------------ building

    def _signed(
        self, ours: Mapping[int, tuple[ComboRow, str]], keys: Mapping[int, tuple[Any, ...]]
    ) -> set[str]:
        """From domains our DKIM signed at an internal source, in a counted report of the
        period (a combination is only a candidate until a record of it is found there)."""
        candidates: dict[str, list[int]] = defaultdict(list)
        signs: dict[tuple[Any, ...], str | None] = {}
        for cid in ours:
            key = keys[cid]
            if key not in signs:
                signs[key] = signed_internally(self._records[key], self.config)
            domain = signs[key]
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

    def _count(
        self,
        progress: Progress | None,
        cancelled: Callable[[], bool] | None,
        after: int | None = None,
    ) -> None:
        """Count in SQL, grouped by what each answer needs; Python sees one row per group and
        day (and one per combination for the totals), not one per record. With ``after``, only
        the reports with a higher id, added to the counts already there."""
        if after is None:
            self._readiness = ReadinessCounts(self.config)
        from_pk = NO_REPORT if after is None else after
        findings: dict[tuple[str, FindingKind], int] = {}
        columns: dict[tuple[str, str], int] = {}
        sources: dict[str, int] = {}
        groups: list[tuple[int, int | None, int | None, int, int | None]] = []
        for combo in self.combos.values():
            kinds = combo.kinds()
            fids: dict[str, int | None] = {"cause": None, "enforced": None}
            for kind in kinds:
                fid = findings.setdefault((combo.source_ip, kind), len(findings))
                fids["enforced" if kind == "enforced" else "cause"] = fid
            column = (combo.owner, _column(combo.verdict))
            rid = columns.setdefault(column, len(columns))
            failing = bool(kinds) and (combo.verdict.enforced or any(map(is_problem, kinds)))
            sid = sources.setdefault(combo.source_ip, len(sources)) if failing else None
            groups.append((combo.combo_id, fids["cause"], fids["enforced"], rid, sid))
        n = next(_TABLES)  # several triages may run at once (TUI panes): tables of their own
        names = {"reports": f"triage_reports_{n}", "days": f"triage_days_{n}",
                 "groups": f"triage_groups_{n}"}  # fmt: skip
        conn = self._conn
        with self._lock:
            conn.execute("BEGIN")  # one transaction, not one per row inserted
            conn.execute(
                f"CREATE TEMP TABLE {names['reports']} (pk INTEGER PRIMARY KEY, day TEXT,"
                " b INTEGER, e INTEGER, begin INTEGER, end INTEGER, reporter TEXT)"
            )
            conn.execute(_REPORT_DAYS.format(**names), {**self.period, "after": from_pk})
            conn.execute(
                f"CREATE TEMP TABLE {names['days']} (cause INTEGER, enforced INTEGER,"
                " readiness INTEGER, failing INTEGER, combo_id INTEGER, day TEXT, b INTEGER,"
                " e INTEGER, c INTEGER, n INTEGER, k INTEGER, first INTEGER, last INTEGER)"
            )
            conn.execute(
                f"CREATE TEMP TABLE {names['groups']} (combo_id INTEGER PRIMARY KEY,"
                " cause INTEGER, enforced INTEGER, readiness INTEGER, failing INTEGER)"
            )
            conn.executemany(f"INSERT INTO temp.{names['groups']} VALUES (?, ?, ?, ?, ?)", groups)
            conn.execute("COMMIT")
            pks = [pk for (pk,) in conn.execute(f"SELECT pk FROM temp.{names['reports']}")]
        ranges = [(pks[i], pks[min(i + BATCH, len(pks)) - 1]) for i in range(0, len(pks), BATCH)]
        try:
            for done, (low, high) in enumerate(ranges, 1):
                if cancelled is not None and cancelled():
                    self.complete = False
                    break
                with self._lock:
                    conn.execute(_FILL_DAYS.format(**names), {"low": low, "high": high})
                if progress is not None:
                    progress(min(len(pks), done * BATCH), len(pks))
            if not self.complete:  # the caller drops the answers: no use counting the rest
                return
            with self._lock:  # rows are taken as they come: none is held longer than needed
                for cid, messages, first, last in conn.execute(
                    "SELECT combo_id, sum(n), min(first), max(last)"
                    f" FROM temp.{names['days']} GROUP BY combo_id"
                ):
                    verdict = self.combos.get(cid)
                    if verdict is not None:  # None: a From domain not ours
                        self._add(verdict, messages, first, last)
                per_key = {
                    key: _days(conn.execute(_GROUP_DAYS.format(key=key, **names)))
                    for key in ("readiness", "failing")
                }
                per_key["finding"] = _days(conn.execute(_FINDING_DAYS.format(**names)))
                reporters = conn.execute(_COMBO_REPORTERS.format(**names)).fetchall()
                variants = conn.execute(_VARIANTS, {**self.period, "after": from_pk}).fetchall()
        finally:
            with self._lock:
                for table in names.values():
                    conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
        finding_keys = list(findings)
        for fid, per_day in per_key["finding"].items():
            self._accs[finding_keys[fid]].per_day.update(per_day)
        column_keys = list(columns)
        for rid, per_day in per_key["readiness"].items():
            col_owner, col_name = column_keys[rid]
            days = self._readiness.days[col_owner]
            for day, count in per_day.items():
                days[day][col_name] += count
        source_keys = list(sources)
        for sid, per_day in per_key["failing"].items():
            self._failing[source_keys[sid]].update(per_day)
        for cause, enforced, reporter in reporters:
            for fid in (cause, enforced):
                if fid is not None:
                    self._accs[finding_keys[fid]].reporters.setdefault(reporter, None)
        for domain, p, sp, adkim, aspf, pct, reporter, reports in variants:
            pp = PolicyPublished(domain=domain, p=p, adkim=adkim, aspf=aspf, sp=sp, pct=pct)
            self._readiness.add_policy(pp, reporter, reports)

    def _add(self, combo: ComboVerdict, messages: int, first: int, last: int) -> None:
        """The totals of one combination (its days are counted per group in SQL)."""
        verdict = combo.verdict
        self._readiness.add_messages(combo.owner, verdict, combo.disposition, messages, ())
        for kind in combo.kinds():
            acc = self._accs.get((combo.source_ip, kind))
            if acc is None:
                acc = self._accs[(combo.source_ip, kind)] = FindingCounts()
            acc.messages += messages
            acc.first = first if acc.first is None else min(acc.first, first)
            acc.last = last if acc.last is None else max(acc.last, last)
            acc.header_from[combo.header_from.lower()] += messages
            if verdict.label:
                acc.labels[verdict.label] += messages
            for reason in combo.reasons:
                acc.reasons[reason] += messages

    # ------------------------------------------------------------------ answers

    def findings(self) -> list[Finding]:
        """Every finding, ranked, without evidence rows (see :meth:`evidence`)."""
        key = tuple(sorted((ip, n) for ip, n in self.ptrs.items() if n))
        if self._findings is None or self._findings[0] != key:
            found = rank(
                build_finding(ip, kind, acc, self.config, self.ptrs.get(ip))
                for (ip, kind), acc in self._finding_counts().items()
            )
            self._findings = (key, found)
        return list(self._findings[1])

    def readiness(self) -> list[Readiness]:
        return self._readiness.result()

    def failing_by_source(self) -> dict[str, dict[str, int]]:
        """Failing messages per source and UTC day (problem findings or enforced)."""
        return {ip: dict(days) for ip, days in self._failing_counts().items()}

    def failing_days(self) -> FailingDays:
        """Failing messages per source and day, and the days the period's reports cover."""
        with self._lock:
            ranges = self._conn.execute(
                f"SELECT DISTINCT r.begin, r.end FROM reports r WHERE {_PERIOD}", self.period
            ).fetchall()
        observed = {day for begin, end in ranges for day in covered_days(begin, end)}
        return FailingDays(self._failing_counts(), observed)

    def combo_ids(self, source_ip: str, kind: FindingKind) -> list[int]:
        return list(self._ids().get((source_ip, kind), ()))

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


def _counter(counts: dict[str, int]) -> Counter[str]:
    """A Counter of parsed counts, without ``Counter.update``'s checks (a fifth of the time:
    a stored result has tens of thousands of them)."""
    counter: Counter[str] = _NEW_COUNTER(Counter)
    dict.update(counter, counts)
    return counter


_NEW_COUNTER = Counter.__new__


def _column(verdict: Verdict) -> str:
    """The readiness column of a verdict (as :meth:`ReadinessCounts.add_messages` files it)."""
    if verdict.passed:
        return "passed"
    return "failed_outside" if verdict.cause == "outside_spoofing" else "failed_legit"


def _days(rows: Iterable[tuple[Any, ...]]) -> dict[int, Counter[str]]:
    """Messages per group and day from grouped rows, long reports spread as the reference does
    (each of the ``k`` records with ``c`` messages is spread on its own)."""
    out: dict[int, Counter[str]] = defaultdict(Counter)
    for key, day, begin, end, count, messages, k in rows:
        if day is not None:
            out[key][day] += messages
        else:
            for d, share in spread_over_days(begin, end, count):
                out[key][d] += share * k
    return out


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
