"""Triage computed where the data is: verdicts per distinct pattern and kind of source, counts by
SQL.

A verdict depends only on the columns of a ``combos`` row (source IP, header_from, evaluated
DKIM/SPF/disposition, override reasons, auth results), on the config and on PTR names, and on the
source IP only through whether it is internal and which configured sender it matches. An index
has a few thousand distinct sources and a few hundred distinct patterns (the other columns), while
combinations (source × pattern) number hundreds of thousands. So the sources are classified per
IP and the patterns once per kind of source, in Python; which group of counts each combination
falls in is then joined in SQL (temporary tables of the sources, the patterns and their verdicts),
and everything counted per finding, source, day, reporter, policy domain and disposition comes
from SQL aggregates over the index (``records_report`` covers what they read), for the period
asked. Python sees a row per group of counts (a source with one verdict, From domain and override
reasons), never one per combination or record. A full count of many records is split in two,
the later reports counted at the same time on a second connection (:meth:`IndexTriage._count`).

:class:`IndexTriage` answers what :func:`dmarctui.triage.find_findings`,
:func:`dmarctui.readiness.readiness` and :class:`dmarctui.trend.FailingDays` answer from report
objects, which remain the reference the tests compare it with. Evidence rows are read on demand,
a page at a time (:meth:`IndexTriage.evidence`), from the combinations of the one source asked
about (classified then).

The counts are stored in the index with the state of the data they were counted at
(:mod:`dmarctui.index_triage_store`): asked again with nothing changed (a warm ``flagged``, the
Readiness pane after Sources), the triage reads them instead of counting; after new mail it
counts only the reports added since and adds them (:meth:`IndexTriage._count_added`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

from dmarctui import index_triage_store as stored_results
from dmarctui.config import Config, Sender, own_domains_mismatch
from dmarctui.index_rows import record_from_row
from dmarctui.index_schema import COMBO_COLUMNS, SOURCE_COMBOS, ip_key
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
    ENFORCING,
    SEVERITY,
    SEVERITY_ORDER,
    FindingCounts,
    Verdict,
    auth_line,
    build_finding,
    classify,
    finding_of,
    is_problem,
    rank,
    shared_domains,
    signed_internally,
    spread_over_days,
)

BATCH = 2000
"""Reports whose records are counted per query: progress and cancellation between queries."""
PARALLEL_RECORDS = 100_000
"""Records from which a full count is split in two, the later half counted on a second
connection in a thread (SQLite runs without the GIL): at a million records the count took
twice the two seconds a config change may cost, most of it per-record SQL."""
NO_REPORT = -(2**63)
"""Lower than any report id: count them all."""
LONG_REPORT = 36 * 3600
"""Reports longer than this are spread over their days per record (``spread_over_days``)."""
DAY = 86400

KINDS: tuple[FindingKind, ...] = (
    "internal_no_dkim", "dkim_broken", "unaligned_third_party", "forwarded", "outside_spoofing",
    "enforced",
)  # fmt: skip
"""Finding kinds by number: a finding is numbered ``source number * 8 + kind number`` in SQL."""
_KIND_IDS = {kind: i for i, kind in enumerate(KINDS)}

_PERIOD = (
    "r.counted AND (:since IS NULL OR r.end > :since) AND (:until IS NULL OR r.begin < :until)"
)
"""Counted reports overlapping [since, until), as :func:`dmarctui.triage.in_period` keeps them."""
_PERIOD_POSITIONAL = "r.counted AND (? IS NULL OR r.end > ?) AND (? IS NULL OR r.begin < ?)"
_REPORTER = "coalesce(nullif(r.org_name, ''), r.email)"
_SPAN = "max(0, r.end - r.begin)"
_PATTERN = COMBO_COLUMNS[1:]
"""The columns of a combination but its source: what a verdict reads besides the source."""

_TABLES = itertools.count()
_MIDPOINT = f"(2 * r.begin + {_SPAN})"
"""Twice the midpoint of a report (an integer), whose UTC day its messages count on."""
_REPORT_DAYS = f"""
INSERT INTO temp.{{reports}} (pk, day, begin, end, reporter, domain, p, sp, adkim, aspf, pct,
    records)
SELECT r.pk,
    CASE WHEN {_SPAN} > {LONG_REPORT} THEN NULL
         WHEN {_MIDPOINT} >= 0 THEN {_MIDPOINT} / {2 * DAY}
         ELSE -(({2 * DAY - 1} - {_MIDPOINT}) / {2 * DAY}) END,
    r.begin, r.end, {_REPORTER}, r.domain, r.p, r.sp, r.adkim, r.aspf, r.pct, r.record_count
FROM reports r WHERE r.pk > :after AND {_PERIOD}
"""
"""The counted reports of the period (those with a higher id than ``after``) with the day their
messages count on, as a day number since 1970-01-01 (short reports: the UTC day of the midpoint,
floored as Python's dates are; long reports: NULL, spread in Python per record exactly as the
reference spreads them), computed once per report rather than per record; and what readiness
counts of its policy (one pass over the reports table for all of it)."""

_ADDED_COMBOS = f"""
INSERT OR IGNORE INTO temp.{{added}}
SELECT x.combo_id FROM reports r CROSS JOIN records x ON x.report_pk = r.pk
WHERE r.pk > :after AND {_PERIOD}
"""
"""The combinations of the reports added since a stored result (CROSS JOIN: the added reports
first, a rowid range, then their records)."""

_SOURCE_PATTERNS = f"""
INSERT INTO temp.{{combos}}
SELECT c.id, s.id, s.class, p.id FROM {{source}}
CROSS JOIN temp.{{patterns}} p ON {" AND ".join(f"p.{col} = c.{col}" for col in _PATTERN)}
CROSS JOIN temp.{{sources}} s ON s.ip = c.source_ip
"""
"""Each combination of ours as (source number, kind of source, pattern number): its pattern
looked up first (only ours are numbered), then its source."""

_CREATE = {
    "sources": "CREATE TEMP TABLE {name} (ip TEXT PRIMARY KEY, id INTEGER NOT NULL,"
    " class INTEGER NOT NULL) WITHOUT ROWID",
    "patterns": f"CREATE TEMP TABLE {{name}} (id INTEGER PRIMARY KEY, {', '.join(_PATTERN)},"
    f" UNIQUE ({', '.join(_PATTERN)}))",
    "combos": "CREATE TEMP TABLE {name} (combo_id INTEGER PRIMARY KEY, source INTEGER NOT NULL,"
    " class INTEGER NOT NULL, pattern INTEGER NOT NULL)",
    "verdicts": "CREATE TEMP TABLE {name} (class INTEGER, pattern INTEGER, g INTEGER,"
    " PRIMARY KEY (class, pattern)) WITHOUT ROWID",
    "facts": "CREATE TEMP TABLE {name} (g INTEGER PRIMARY KEY, cause INTEGER, enforced INTEGER,"
    " readiness INTEGER, failing INTEGER, header_from INTEGER, reasons INTEGER, label INTEGER)",
    "groups": "CREATE TEMP TABLE {name} (combo_id INTEGER PRIMARY KEY, gid INTEGER NOT NULL,"
    " cause INTEGER, enforced INTEGER, readiness INTEGER, failing INTEGER)",
}
"""The working tables of classifying: the sources and our patterns by number, each of our
combinations with its source, kind of source and pattern, the group of counts of each (kind of
source, pattern), what each group's verdict facts count in (numbers of kinds, readiness
columns, From domains, override reason sets and labels), and each combination's group."""

_COPIED = ("sources", "patterns", "verdicts", "facts")
"""What a second connection counting part of the records copies; it joins the combinations to
them itself (:data:`_SOURCE_PATTERNS`, :data:`_GROUPS`), in SQL rather than row by row."""

_GROUPS = """
INSERT INTO temp.{groups}
SELECT c.combo_id, c.source * {width} + v.g, c.source * 8 + f.cause, c.source * 8 + f.enforced,
    f.readiness, CASE WHEN f.failing THEN c.source END
FROM temp.{combos} c
JOIN temp.{verdicts} v ON v.class = c.class AND v.pattern = c.pattern
JOIN temp.{facts} f ON f.g = v.g
"""
"""The group of counts of each combination of ours: its source and the facts its verdict gives
(numbered ``source * width + facts``), and what it counts in by day: its findings (numbered
``source * 8 + kind``), its readiness column and its source when failing."""

_SIGNED_SEEN = f"""
SELECT 1 FROM temp.{{combos}} c
CROSS JOIN temp.{{signs}} s ON s.class = c.class AND s.pattern = c.pattern
CROSS JOIN records x ON x.combo_id = c.combo_id
CROSS JOIN reports r ON r.pk = x.report_pk
WHERE s.domain = :domain AND {_PERIOD} LIMIT 1
"""
"""Whether a combination signed for ``domain`` has a record in a report of the period (CROSS
JOIN: from our combinations to their records by ``records_combo``, never all records)."""

_FILL_DAYS = """
INSERT INTO temp.{days}
SELECT g.gid, g.cause, g.enforced, g.readiness, g.failing, d.day, d.rid, x.count, d.begin, d.end
FROM records x
CROSS JOIN temp.{groups} g ON g.combo_id = x.combo_id
CROSS JOIN temp.{reports} d ON d.pk = x.report_pk
WHERE x.report_pk BETWEEN :low AND :high
"""
"""One pass over the records of a range of reports, in report order along ``records_report``
(which covers combo_id and count): each record of ours with its group of counts, day and
reporter (CROSS JOIN: a record's report is looked up only when its combination is ours).
Not grouped here: records rarely share a group, day and reporter (sorting them to
find out costs more than the rows it saves)."""

_GROUP_TOTALS = """
INSERT INTO temp.{totals}
SELECT gid, n, begin, end FROM temp.{days} WHERE true
ON CONFLICT (gid) DO UPDATE
SET n = n + excluded.n, first = min(first, excluded.first), last = max(last, excluded.last)
"""
"""The totals of each group of counts: a few per finding, where the days table has a row per
record. Summed into a table keyed by the group (an upsert per row) rather than by ``GROUP BY``,
which sorts every row first: 2-2.5 times slower at a million rows."""

_FINDING_TOTALS = """
SELECT {key}, f.header_from, f.reasons, f.label, sum(d.n), min(d.first), max(d.last)
FROM temp.{totals} d JOIN temp.{facts} f ON f.g = d.gid % {width}
WHERE ({key}) IS NOT NULL GROUP BY 1, 2, 3, 4
"""
"""The totals of the findings (cause, or enforced), per From domain and override reasons."""

_FACT_TOTALS = "SELECT gid % {width}, sum(n) FROM temp.{totals} GROUP BY 1"
"""Messages per verdict facts (for readiness: its affected and enforced totals)."""

_KEY_DAYS = """
INSERT INTO temp.{sums}
SELECT ({key}) * {span} + day - {first_day}, n FROM temp.{days}
WHERE {key} IS NOT NULL AND day IS NOT NULL
ON CONFLICT (k) DO UPDATE SET n = n + excluded.n
"""
"""Messages per day of one grouping (finding, readiness column, failing source), summed into
a table keyed by ``key * span + day`` (``span``: the days the reports cover), as the group
totals are; read back in key order by :data:`_KEY_DAY_ROWS`."""

_KEY_DAY_ROWS = "SELECT k / {span}, k % {span} + {first_day}, n FROM temp.{sums} ORDER BY k"

_KEY_LONG = """
SELECT {key}, begin, end, n, count(*) FROM temp.{days}
WHERE {key} IS NOT NULL AND day IS NULL GROUP BY 1, 2, 3, 4
"""
"""The records of long reports of one grouping, to spread over their days per record."""

_FINDING_REPORTERS = """
INSERT OR IGNORE INTO temp.{sums} (k)
SELECT {key} * {span} + reporter FROM temp.{days} WHERE {key} IS NOT NULL
"""
"""The reporters of each finding (cause, then enforced), as ``finding * span + reporter``
keys (``span``: one more than the highest reporter number), distinct by the table's key."""

_VARIANTS = """
SELECT domain, p, sp, adkim, aspf, pct, reporter, count(*) FROM temp.{reports}
GROUP BY domain, p, sp, adkim, aspf, pct, reporter ORDER BY min(pk)
"""

SourceClass = tuple[bool, Sender | None]
"""What a verdict reads of a source: whether it is internal, and the configured sender it is."""
Pattern = tuple[str, str, str, str, str, str, str]
"""The ``combos`` columns but the source: header_from, disposition, dkim, spf, reasons,
auth_dkim and auth_spf."""


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What the combinations of one group of counts share besides their source."""

    kinds: tuple[FindingKind, ...]
    """The findings they count towards (cause, then ``enforced``)."""
    owner: str
    verdict: Verdict
    header_from: str
    """Lower-cased, as findings count it."""
    reasons: tuple[str, ...]
    """The override reason types, each as often as the record gives it."""
    enforcing: bool
    """The disposition quarantines or rejects."""

    @property
    def failing(self) -> bool:
        """Counted as failing on its source's days (a problem finding or enforced)."""
        return bool(self.kinds) and (self.verdict.enforced or any(map(is_problem, self.kinds)))


def verdict_kinds(verdict: Verdict) -> tuple[FindingKind, ...]:
    """The findings a verdict counts towards (cause, then ``enforced``)."""
    cause = verdict.cause
    kinds: tuple[FindingKind, ...] = (cause,) if cause is not None else ()
    return (*kinds, "enforced") if verdict.enforced else kinds


def combo_record(ip: str, pattern: Pattern) -> Record:
    """What :func:`classify` reads of a combination, as a record (count 0)."""
    hfrom, disposition, dkim, spf, reasons, auth_dkim, auth_spf = pattern
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
def _reason_types(text: str) -> tuple[str, ...]:
    return tuple(r.type for r in _reasons(text))


@lru_cache(maxsize=1 << 14)
def _dkim(text: str) -> tuple[DkimAuthResult, ...]:
    return tuple(DkimAuthResult(d, r, s, h) for d, r, s, h in json.loads(text))


@lru_cache(maxsize=1 << 14)
def _spf(text: str) -> tuple[SpfAuthResult, ...]:
    return tuple(SpfAuthResult(d, r, s, h) for d, r, s, h in json.loads(text))


Progress = Callable[[int, int], None]
"""Called with (reports done, reports in all) while the counts are read."""


@dataclass(frozen=True, slots=True)
class _Shape:
    """How a count numbers its keys: the same on every connection counting a part of it."""

    width: int
    """Groups of counts per source (``gid = source * width + facts``)."""
    first_day: int
    span: int
    """Days the reports cover (``key * span + day - first_day``)."""
    reporters: int
    """One more than the highest reporter number."""
    long: bool
    """Some reports are spread over their days per record."""


@dataclass(slots=True)
class _Part:
    """What the records of one range of reports count, added up by ``IndexTriage._add_part``."""

    facts: list[tuple[int, int]]
    """Messages per verdict facts."""
    findings: list[tuple[int, ...]]
    """Totals per finding, From domain, override reasons and label (cause, then enforced)."""
    days: dict[str, dict[int, Counter[str]]]
    """Messages per day by finding (cause, enforced), readiness column and failing source."""
    reporters: list[tuple[int, int]]
    """(finding, reporter number) pairs."""


def _count_part(
    conn: sqlite3.Connection,
    lock: AbstractContextManager[object],
    tables: _Tables,
    pks: list[int],
    shape: _Shape,
    tick: Callable[[int], bool],
) -> _Part | None:
    """Count the records of the reports ``pks`` (ascending, in ``tables["reports"]``) by the
    groups of ``tables["groups"]``. ``tick(0)`` is asked before each batch whether to go on
    (None when not), ``tick(n)`` told after it that ``n`` more reports are counted."""
    t, width, span, first_day = tables, shape.width, shape.span, shape.first_day
    with lock:
        conn.execute(
            f"CREATE TEMP TABLE {t['days']} (gid INTEGER, cause INTEGER, enforced INTEGER,"
            " readiness INTEGER, failing INTEGER, day INTEGER, reporter INTEGER, n INTEGER,"
            " begin INTEGER, end INTEGER)"
        )
    for i in range(0, len(pks), BATCH):
        if not tick(0):
            return None
        batch = pks[i : i + BATCH]
        with lock:
            conn.execute(t.sql(_FILL_DAYS), {"low": batch[0], "high": batch[-1]})
        tick(len(batch))
    days: dict[str, dict[int, Counter[str]]] = {}
    findings: list[tuple[int, ...]] = []
    with lock:  # rows are taken as they come: none is held longer than needed
        conn.execute(
            f"CREATE TEMP TABLE {t['totals']} (gid INTEGER PRIMARY KEY, n INTEGER,"
            " first INTEGER, last INTEGER)"
        )
        conn.execute(t.sql(_GROUP_TOTALS))
        facts = conn.execute(t.sql(_FACT_TOTALS, width=width)).fetchall()
        for name in ("cause", "enforced"):
            key = f"d.gid / {width} * 8 + f.{name}"
            findings += conn.execute(t.sql(_FINDING_TOTALS, key=key, width=width))
        conn.execute(f"CREATE TEMP TABLE {t['sums']} (k INTEGER PRIMARY KEY, n INTEGER)")
        for key in _DAY_KEYS:
            conn.execute(t.sql(_KEY_DAYS, key=key, span=span, first_day=first_day))
            rows = conn.execute(t.sql(_KEY_DAY_ROWS, span=span, first_day=first_day))
            per_key = days[key] = _days(rows)
            conn.execute(f"DELETE FROM temp.{t['sums']}")
            if shape.long:
                _spread(per_key, conn.execute(t.sql(_KEY_LONG, key=key)))
        reporters = shape.reporters
        for key in ("cause", "enforced"):
            conn.execute(t.sql(_FINDING_REPORTERS, key=key, span=reporters))
        pairs = conn.execute(
            f"SELECT k / {reporters}, k % {reporters} FROM temp.{t['sums']}"
        ).fetchall()
    return _Part(facts, findings, days, pairs)


_DAY_KEYS = ("cause", "enforced", "readiness", "failing")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _split(reports: list[tuple[int, int]]) -> int:
    """How many of the reports (pk, records) the calling thread counts: all of them when they
    are few or there is one core; else up to :data:`CALLER_SHARE` of the records, the rest
    going to a second connection."""
    total = sum(n for _, n in reports)
    if total < PARALLEL_RECORDS or _cores() < 2:
        return len(reports)
    done = 0
    for i, (_, n) in enumerate(reports):
        done += n
        if done >= CALLER_SHARE * total:
            return i + 1
    return len(reports)


CALLER_SHARE = 0.55
"""The calling thread's share of a split count: the second connection first builds its working
tables (0.15 s at a million records), so both halves end together with a little more here."""


class _Progress:
    """Progress and cancellation of a count made in two parts: the calling thread reports
    and polls for both (the callbacks may be bound to it, as the TUI's are)."""

    def __init__(
        self, total: int, progress: Progress | None, cancelled: Callable[[], bool] | None
    ) -> None:
        self.total = total
        self._progress = progress
        self._cancelled = cancelled
        self._done = [0, 0]
        self.stopped = False

    def mine(self, n: int) -> bool:
        """The calling thread's tick (see :func:`_count_part`)."""
        if n:
            self._done[0] += n
            if self._progress is not None:
                self._progress(sum(self._done), self.total)
            return True
        if self._cancelled is not None and self._cancelled():
            self.stopped = True
        return not self.stopped

    def theirs(self, n: int) -> None:
        """The second part's reports counted (told from its thread)."""
        self._done[1] += n

    def finish(self) -> None:
        """Every report counted: said once more, as the second part may have ended last."""
        if self._progress is not None:
            self._progress(self.total, self.total)

    def waiting(self) -> bool:
        """Report while the calling thread waits for the second part; False once cancelled."""
        if self._progress is not None:
            self._progress(sum(self._done), self.total)
        return self.mine(0)


def _count_elsewhere(
    conn: sqlite3.Connection,
    inputs: dict[str, list[Any]],
    pks: list[int],
    shape: _Shape,
    tick: Callable[[int], bool],
) -> _Part | None:
    """Count the reports ``pks`` on a connection of their own (in a thread): the working tables
    are built from the copied ``inputs`` (see ``IndexTriage._helper_inputs``), the combinations
    joined to them in SQL, and the records counted as :func:`_count_part` counts the others."""
    own = _Tables()
    conn.execute(
        f"CREATE TEMP TABLE {own['reports']} (pk INTEGER PRIMARY KEY, day INTEGER,"
        " begin INTEGER, end INTEGER, rid INTEGER)"
    )
    for name in (*_COPIED, "combos", "groups"):
        conn.execute(_CREATE[name].format(name=own[name]))
    conn.execute("BEGIN")
    for name, rows in inputs.items():
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO temp.{own[name]} VALUES ({marks})", rows)
    conn.execute("COMMIT")
    inputs.clear()
    conn.execute(own.sql(_SOURCE_PATTERNS, source="combos c"))
    conn.execute(own.sql(_GROUPS, width=shape.width))
    return _count_part(conn, contextlib.nullcontext(), own, pks, shape, tick)


class _Helper:
    """A part of a count made in a thread of its own, on a connection of its own (opened and
    closed there), stopped between batches or, when asked to stop, by interrupting its query."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        count: Callable[..., _Part | None],
        *args: object,
        progress: _Progress,
    ) -> None:
        self._connect = connect
        self._progress = progress
        self._stop = threading.Event()
        self._conn: sqlite3.Connection | None = None
        self._part: _Part | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(count, *args), name="dmarctui-count", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _tick(self, n: int) -> bool:
        if n:
            self._progress.theirs(n)
            return True
        return not self._stop.is_set()

    def _run(self, count: Callable[..., _Part | None], *args: object) -> None:
        try:
            self._conn = conn = self._connect()
            try:
                if not self._stop.is_set():
                    self._part = count(conn, *args, self._tick)
            finally:
                conn.close()  # its temporary tables go with it
        except BaseException as exc:  # raised again in the calling thread
            self._error = exc

    def result(self) -> _Part | None:
        """The part's counts once done; None when the count was cancelled."""
        while self._thread.is_alive():
            self._thread.join(0.1)
            if not self._progress.waiting():
                self.stop()
        if not self._stop.is_set() and not self._progress.waiting():
            self.stop()  # asked once more, as the second part may have ended before any wait
        if self._stop.is_set():
            return None
        if self._error is not None:
            raise self._error
        return self._part

    def stop(self) -> None:
        """Stop the part (interrupting its query if one runs) and wait for its connection to
        close; nothing to wait for when it was never started."""
        self._stop.set()
        if self._thread.ident is None:
            return
        conn = self._conn
        if conn is not None and self._thread.is_alive():
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed meanwhile
                conn.interrupt()
        self._thread.join()


class _Tables:
    """The temporary tables of one count, named for it: several triages may run at once on one
    connection (TUI panes)."""

    NAMES = ("reports", "days", "groups", "sources", "patterns", "combos", "verdicts", "facts",
             "signs", "added", "reporters", "totals", "sums")  # fmt: skip

    def __init__(self) -> None:
        n = next(_TABLES)
        self.names = {name: f"triage_{name}_{n}" for name in self.NAMES}
        self.reports_loaded = False

    def sql(self, template: str, **extra: object) -> str:
        return template.format(**self.names, **extra)

    def __getitem__(self, name: str) -> str:
        return self.names[name]


def ranking_stored(
    conn: sqlite3.Connection,
    lock: AbstractContextManager[object],
    config: Config,
    *,
    since: int | None = None,
    until: int | None = None,
) -> bool:
    """Whether a result for ``config`` (cached PTR names aside) and the period is stored and
    serves the data as it is now, as stored or brought up to date by the reports added since
    (counting those is the cheap part); otherwise the next triage counts every record.

    Added reports with a policy domain the result did not count refuse the update (own domains
    default to the policy domains), and that is checked here; a domain our DKIM signs at an
    internal source, first seen in them, is found only by classifying them, and is not."""
    key = stored_results.result_key(config, {}, since, until)
    with lock:
        found = stored_results.serving(conn, key, stored_results.data_state(conn))
        if found is None:
            return False
        after, summary = found
        if after is None:
            return True
        added = conn.execute(
            f"SELECT DISTINCT r.domain FROM reports r WHERE r.pk > :after AND {_PERIOD}",
            {"since": since, "until": until, "after": after},
        ).fetchall()
    counted = set(json.loads(summary)["policy_domains"])
    return all(domain in counted for (domain,) in added)


class IndexTriage:
    """Findings, readiness and failing days of one index for one config, PTR set and period.

    Build it (one pass over the records of our combinations in the period, in SQL), then ask it.
    The index's lock is held per query, so an update can write between them.

    Args:
        conn, lock: the index connection and the lock serialising its use.
        config: own domains (defaulting to the period's policy domains), networks, senders.
        ptrs: forward-confirmed PTR names by IP, for PTR-pattern senders and contacts.
        since, until: epoch bounds of the period; reports overlapping it count.
        progress: told how many reports are counted so far.
        cancelled: polled while counting; True stops early (the result is then incomplete).
        connect: opens another connection to the same index: a count of many records is then
            split in two, one half counted on it at the same time. None counts on ``conn``.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: AbstractContextManager[object],
        config: Config,
        ptrs: Mapping[str, str | None] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
        connect: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        self._conn = conn
        self._connect = connect
        self._lock = lock
        self.period: dict[str, int | None] = {"since": since, "until": until}
        self.ptrs: dict[str, str | None] = dict(ptrs or {})
        self._findings: tuple[tuple[tuple[str, str], ...], list[Finding]] | None = None
        self._accs: dict[tuple[str, FindingKind], FindingCounts] = {}
        self._failing: dict[str, Counter[str]] = defaultdict(Counter)
        self._ranked: list[str] | None = None
        self._unparsed: dict[str, str] = {}
        """Parts of a stored result not parsed yet (see :meth:`_restore`)."""
        self._parsing = threading.Lock()  # TUI panes may ask from two threads at once
        self._rows: tuple[str, list[list[Any]]] | None = None
        """The stored findings' text and its parsed rows (see :meth:`_stored_rows`)."""
        self._classes: dict[str, SourceClass] = {}
        self._owners: dict[str, str | None] = {}
        self._verdicts: dict[tuple[SourceClass, Pattern], Verdict] = {}
        self._by_source: dict[str, dict[FindingKind, list[int]]] = {}
        """The combinations of a source per finding kind, classified when its evidence is asked."""
        self._sources: list[str] = []
        """The sources of a count by number (the ``gid // width`` of a group of counts)."""
        self._facts: list[GroupFacts] = []
        self._width = 1
        self._reporters: dict[int, str] = {}
        self.config: Config = config
        self.policy_domains: list[str] = []
        self.warning: str | None = None
        """A plain warning when the configured own domains match no policy domain."""
        self.shared: frozenset[str] = frozenset()
        self.classified = 0
        """Distinct classifications (kind of source × pattern) of the combinations of ours when
        counted in full; a stored result keeps its figure when read or brought up to date (the
        added reports' new pairs are not told apart from those already classified). For
        profiling and tests: nothing shown to a user reads it."""
        self.complete = False
        stored_key = stored_results.result_key(config, self.ptrs, since, until)
        with lock:
            now = stored_results.data_state(conn)
            stored = stored_results.load(conn, stored_key, now)
        self._max_combo = None if now is None else now.max_combo
        """The combinations that existed when counted: evidence is looked for among them."""
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
        tables = _Tables()
        try:
            self._load_reports(tables, NO_REPORT)
            with lock:
                self.policy_domains = [
                    d
                    for (d,) in conn.execute(
                        f"SELECT DISTINCT domain FROM temp.{tables['reports']} ORDER BY domain"
                    )
                ]
            self._prepare(config)
            self._classify_combos(tables)
            self.complete = True
            self._count(tables, progress, cancelled)
        finally:
            self._drop(tables)
        if self.complete:
            with lock:
                stored_results.save(conn, stored_key, now, self._parts())

    def _reset(self) -> None:
        """Back to nothing counted (a stored result that could not be brought up to date)."""
        self._accs = {}
        self._failing = defaultdict(Counter)
        self._ranked = None
        self._unparsed = {}
        self._by_source = {}

    def _policy_domains(self) -> list[str]:
        sql = f"SELECT DISTINCT r.domain FROM reports r WHERE {_PERIOD} ORDER BY r.domain"
        return [d for (d,) in self._conn.execute(sql, self.period)]

    def _prepare(self, config: Config) -> None:
        """The config in effect (own domains defaulting to the policy domains), nothing
        classified with it yet."""
        self.config = config.with_default_domains(self.policy_domains)
        self.warning = own_domains_mismatch(config, self.policy_domains)
        self._classes = {}
        self._owners = {}
        self._verdicts = {}
        self._by_source = {}

    # ------------------------------------------------------------------ classifying

    def _source_class(self, ip: str) -> SourceClass:
        """What a verdict reads of a source: internal?, and its configured sender."""
        cls = self._classes.get(ip)
        if cls is None:
            cfg = self.config
            cls = self._classes[ip] = (cfg.is_internal(ip), cfg.sender_for(ip, self.ptrs.get(ip)))
        return cls

    def _owner(self, header_from: str) -> str | None:
        """Our own domain a From domain belongs to; None when it is not ours."""
        owner = self._owners.get(header_from, "")
        if owner == "":
            owner = self._owners[header_from] = self.config.own_domain_for(header_from)
        return owner

    def _verdict(self, ip: str, cls: SourceClass, pattern: Pattern) -> Verdict:
        """The verdict of a combination of ours, computed once per kind of source and pattern
        (``ip`` is any source of that kind: the verdict is the same for all)."""
        key = (cls, pattern)
        verdict = self._verdicts.get(key)
        if verdict is None:
            record = combo_record(ip, pattern)
            verdict = classify(record, self.config, self.ptrs.get(ip), self.shared)
            self._verdicts[key] = verdict
        return verdict

    def _classify_combos(self, tables: _Tables, after: int | None = None) -> bool:
        """Number the sources and our patterns, join each combination of ours to them, classify
        each (kind of source, pattern) that occurs, and put each combination's group of counts
        in ``tables["groups"]``. With ``after``, only the combinations of the reports added
        since a stored result; False when one of them changes the shared domains that result
        rests on (then everything is counted again)."""
        conn, t = self._conn, tables
        source = "combos c"
        with self._lock:
            for name in ("sources", "patterns", "combos"):
                conn.execute(_CREATE[name].format(name=t[name]))
            if after is not None:
                conn.execute(f"CREATE TEMP TABLE {t['added']} (combo_id INTEGER PRIMARY KEY)")
                conn.execute(t.sql(_ADDED_COMBOS), {**self.period, "after": after})
                source = f"temp.{t['added']} a CROSS JOIN combos c ON c.id = a.combo_id"
            ips = [ip for (ip,) in conn.execute(f"SELECT DISTINCT c.source_ip FROM {source}")]
            patterns: list[Pattern] = conn.execute(
                f"SELECT DISTINCT {', '.join(f'c.{col}' for col in _PATTERN)} FROM {source}"
            ).fetchall()
        classes: dict[SourceClass, int] = {}
        examples: list[str] = []  # a source of each kind
        sources = []
        for i, ip in enumerate(ips):
            k = classes.setdefault(self._source_class(ip), len(classes))
            if k == len(examples):
                examples.append(ip)
            sources.append((ip, i, k))
        self._sources = ips
        ours = [p for p in patterns if self._owner(p[0]) is not None]
        with self._lock:
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO temp.{t['sources']} VALUES (?, ?, ?)", sources)
            conn.executemany(
                f"INSERT INTO temp.{t['patterns']} VALUES (?{', ?' * len(_PATTERN)})",
                ((i, *p) for i, p in enumerate(ours)),
            )
            conn.execute("COMMIT")
            conn.execute(t.sql(_SOURCE_PATTERNS, source=source))
            pairs = conn.execute(
                f"SELECT DISTINCT class, pattern FROM temp.{t['combos']}"
            ).fetchall()
        kinds = list(classes)
        if after is None:
            self.classified = len(pairs)
            signed = self._signed(tables, [(k, p, examples[k], ours[p]) for k, p in pairs])
            self.shared = shared_domains(self.config, self.policy_domains, signed)
        else:
            for k, p in pairs:  # signed by us at an internal source, counted now
                domain = signed_internally(combo_record(examples[k], ours[p]), self.config)
                if domain and self.config.is_own_domain(domain) and domain not in self.shared:
                    return False
        facts: dict[GroupFacts, int] = {}
        verdicts = []
        for k, p in pairs:
            pattern = ours[p]
            verdict = self._verdict(examples[k], kinds[k], pattern)
            owner = self._owner(pattern[0])
            assert owner is not None  # only our patterns were numbered
            group = GroupFacts(
                verdict_kinds(verdict), owner, verdict, pattern[0].lower(),
                _reason_types(pattern[4]), pattern[1].lower() in ENFORCING,
            )  # fmt: skip
            verdicts.append((k, p, facts.setdefault(group, len(facts))))
        self._facts = list(facts)
        self._width = width = max(1, len(facts))
        self._columns: dict[tuple[str, str], int] = {}
        rows = []
        hfroms: dict[str, int] = {}
        reason_sets: dict[tuple[str, ...], int] = {}
        labels: dict[str, int] = {}
        for g, group in enumerate(self._facts):
            verdict = group.verdict
            column = (group.owner, _column(verdict))
            rows.append((
                g,
                None if verdict.cause is None else _KIND_IDS[verdict.cause],
                _KIND_IDS["enforced"] if verdict.enforced else None,
                self._columns.setdefault(column, len(self._columns)),
                1 if group.failing else None,
                hfroms.setdefault(group.header_from, len(hfroms)),
                reason_sets.setdefault(group.reasons, len(reason_sets)),
                labels.setdefault(verdict.label, len(labels)) if verdict.label else None,
            ))  # fmt: skip
        self._hfroms, self._reason_sets, self._labels = (
            list(hfroms),
            list(reason_sets),
            list(labels),
        )
        with self._lock:
            for name in ("verdicts", "facts", "groups"):
                conn.execute(_CREATE[name].format(name=t[name]))
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO temp.{t['verdicts']} VALUES (?, ?, ?)", verdicts)
            conn.executemany(f"INSERT INTO temp.{t['facts']} VALUES (?{', ?' * 7})", rows)
            conn.execute("COMMIT")
            conn.execute(t.sql(_GROUPS, width=width))
        return True

    def _signed(self, tables: _Tables, pairs: list[tuple[int, int, str, Pattern]]) -> set[str]:
        """From domains our DKIM signed at an internal source, in a counted report of the
        period (a combination is only a candidate until a record of it is found there)."""
        signs = []
        for k, p, ip, pattern in pairs:
            domain = signed_internally(combo_record(ip, pattern), self.config)
            if domain is not None:
                signs.append((k, p, domain))
        if not signs:
            return set()
        conn, t = self._conn, tables
        with self._lock:
            conn.execute(
                f"CREATE TEMP TABLE {t['signs']} (class INTEGER, pattern INTEGER, domain TEXT,"
                " PRIMARY KEY (class, pattern)) WITHOUT ROWID"
            )
            conn.execute("BEGIN")
            conn.executemany(f"INSERT INTO temp.{t['signs']} VALUES (?, ?, ?)", signs)
            conn.execute("COMMIT")
        signed = set()
        for domain in sorted({domain for _, _, domain in signs}):
            with self._lock:
                hit = conn.execute(t.sql(_SIGNED_SEEN), {**self.period, "domain": domain})
                if hit.fetchone() is not None:
                    signed.add(domain)
        return signed

    def _drop(self, tables: _Tables) -> None:
        with self._lock:
            for name in tables.names.values():
                self._conn.execute(f"DROP TABLE IF EXISTS temp.{name}")

    # ------------------------------------------------------------------ counting

    def _count(
        self,
        tables: _Tables,
        progress: Progress | None,
        cancelled: Callable[[], bool] | None,
        after: int | None = None,
    ) -> None:
        """Count in SQL, grouped by what each answer needs; Python sees one row per group of
        counts (and per finding, readiness column or failing source and day), not one per
        combination or record. With ``after``, only the reports with a higher id, added to the
        counts already there. A full count of many records is split in two halves, the later
        reports counted on a second connection at the same time (:meth:`_count_elsewhere`):
        every count is a sum, minimum, maximum or union, so the halves add up."""
        if after is None:
            self._readiness = ReadinessCounts(self.config)
        from_pk = NO_REPORT if after is None else after
        conn, t = self._conn, tables
        self._load_reports(tables, from_pk)
        with self._lock:
            reports = conn.execute(f"SELECT pk, records FROM temp.{t['reports']}").fetchall()
            first_day, last_day = conn.execute(
                f"SELECT coalesce(min(day), 0), coalesce(max(day), 0) FROM temp.{t['reports']}"
            ).fetchone()
            long = conn.execute(
                f"SELECT 1 FROM temp.{t['reports']} WHERE day IS NULL LIMIT 1"
            ).fetchone()
            variants = conn.execute(t.sql(_VARIANTS)).fetchall()
        shape = _Shape(
            width=self._width,
            first_day=first_day,
            span=last_day - first_day + 1,  # the reports' dates lie in 1970-9999: no overflow
            reporters=max(self._reporters, default=0) + 1,
            long=long is not None,
        )
        pks = [pk for pk, _ in reports]
        split = _split(reports) if after is None and self._connect is not None else len(pks)
        mine, theirs = pks[:split], pks[split:]
        progress_of = _Progress(len(pks), progress, cancelled)
        helper = None
        if theirs:
            assert self._connect is not None
            inputs = self._helper_inputs(tables, theirs)
            helper = _Helper(
                self._connect, _count_elsewhere, inputs, theirs, shape, progress=progress_of
            )
        try:
            if helper is not None:
                helper.start()
            part = _count_part(conn, self._lock, tables, mine, shape, progress_of.mine)
            if part is not None:
                self._add_part(part)
                if helper is not None and (part := helper.result()) is not None:
                    self._add_part(part)
        finally:
            if helper is not None:
                helper.stop()
        if progress_of.stopped:
            self.complete = False  # the caller drops the answers
            return
        progress_of.finish()
        for domain, p, sp, adkim, aspf, pct, reporter, reports_n in variants:
            pp = PolicyPublished(domain=domain, p=p, adkim=adkim, aspf=aspf, sp=sp, pct=pct)
            self._readiness.add_policy(pp, reporter, reports_n)

    def _helper_inputs(self, tables: _Tables, pks: list[int]) -> dict[str, list[Any]]:
        """What a second connection counting the reports ``pks`` copies, read here, in the
        calling thread (which may hold the lock): their days and reporter numbers, and the
        small tables it joins the combinations to (:func:`_count_elsewhere`)."""
        t = tables
        with self._lock:
            inputs = {
                name: self._conn.execute(f"SELECT * FROM temp.{t[name]}").fetchall()
                for name in _COPIED
            }
            inputs["reports"] = self._conn.execute(
                f"SELECT pk, day, begin, end, rid FROM temp.{t['reports']} WHERE pk >= ?",
                (pks[0],),
            ).fetchall()
        return inputs

    def _add_part(self, part: _Part) -> None:
        """Add the counts of one range of reports to those of the others."""
        self._add_readiness(part.facts)
        self._add_findings(part.findings)
        for name in ("cause", "enforced"):
            for fid, per_day in part.days[name].items():
                self._accs[self._finding_key(fid)].per_day.update(per_day)
        column_keys = list(self._columns)
        for rid, per_day in part.days["readiness"].items():
            col_owner, col_name = column_keys[rid]
            owner_days = self._readiness.days[col_owner]
            for day, count in per_day.items():
                owner_days[day][col_name] += count
        for sid, per_day in part.days["failing"].items():
            self._failing[self._sources[sid]].update(per_day)
        reporters = self._reporters
        for fid, rid in part.reporters:
            self._accs[self._finding_key(fid)].reporters.setdefault(reporters[rid], None)

    def _load_reports(self, tables: _Tables, after: int) -> None:
        """The reports to count (those of the period with a higher id than ``after``) in
        ``tables["reports"]``, with their day and reporter numbers; once per count."""
        conn, t = self._conn, tables
        if t.reports_loaded:
            return
        t.reports_loaded = True
        with self._lock:
            conn.execute(
                f"CREATE TEMP TABLE {t['reports']} (pk INTEGER PRIMARY KEY, day INTEGER,"
                " begin INTEGER, end INTEGER, reporter TEXT, rid INTEGER, domain TEXT, p TEXT,"
                " sp TEXT, adkim TEXT, aspf TEXT, pct INTEGER, records INTEGER)"
            )
            conn.execute(t.sql(_REPORT_DAYS), {**self.period, "after": after})
            conn.execute(
                f"CREATE TEMP TABLE {t['reporters']} (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"
            )
            conn.execute(
                f"INSERT INTO temp.{t['reporters']} (name)"
                f" SELECT DISTINCT reporter FROM temp.{t['reports']}"
            )
            conn.execute(
                f"UPDATE temp.{t['reports']} SET rid = (SELECT w.id FROM temp.{t['reporters']} w"
                f" WHERE w.name = temp.{t['reports']}.reporter)"
            )
            self._reporters = dict(conn.execute(f"SELECT id, name FROM temp.{t['reporters']}"))

    def _finding_key(self, fid: int) -> tuple[str, FindingKind]:
        """The (source, kind) of a finding numbered in SQL (``source * 8 + kind``)."""
        return self._sources[fid // 8], KINDS[fid % 8]

    def _add_readiness(self, rows: Iterable[tuple[int, int]]) -> None:
        """Readiness totals from the messages per verdict facts, as
        :meth:`ReadinessCounts.add_messages` files them (its days come per column)."""
        ready = self._readiness
        for g, messages in rows:
            group = self._facts[g]
            verdict = group.verdict
            if not verdict.passed:
                ready.affected[group.owner][verdict.cause or "outside_spoofing"] += messages
            if group.enforcing:
                ready.enforced[group.owner] += messages

    def _add_findings(self, rows: Iterable[tuple[int, ...]]) -> None:
        """Finding totals from rows per finding, From domain, override reasons and label."""
        accs, hfroms, reason_sets, labels = (
            self._accs,
            self._hfroms,
            self._reason_sets,
            self._labels,
        )
        sources = self._sources
        for fid, hfrom, reasons, label, messages, first, last in rows:
            key = (sources[fid // 8], KINDS[fid % 8])  # as _finding_key, inline: a row each
            acc = accs.get(key)
            if acc is None:
                acc = accs[key] = _new_counts()
                acc.first, acc.last = first, last
            else:
                acc.first = first if acc.first is None else min(acc.first, first)
                acc.last = last if acc.last is None else max(acc.last, last)
            acc.messages += messages
            counts = acc.header_from  # plain dict access: Counter's += calls __missing__
            name = hfroms[hfrom]
            counts[name] = counts.get(name, 0) + messages
            if label is not None:
                counts = acc.labels
                name = labels[label]
                counts[name] = counts.get(name, 0) + messages
            counts = acc.reasons
            for reason in reason_sets[reasons]:
                counts[reason] = counts.get(reason, 0) + messages

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
        shared = self.shared
        self._prepare(config)
        self.shared = shared
        tables = _Tables()
        try:
            if not self._classify_combos(tables, after=delta.after):
                return False
            self._finding_counts()
            self._failing_counts()
            self._ranked = None
            self._findings = None
            self.updated = True
            self._count(tables, progress, cancelled, after=delta.after)
        finally:
            self._drop(tables)
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
        return {
            name: json.dumps(data, separators=(",", ":"))
            for name, data in (
                ("summary", summary), ("findings", findings), ("failing", self._failing),
            )
        }  # fmt: skip

    def _restore(self, config: Config, parts: dict[str, str]) -> None:
        """The state :meth:`_count` leaves, from the :meth:`_parts` of a stored result; the
        findings and failing days are parsed when first asked for."""
        data = json.loads(parts["summary"])
        self.policy_domains = data["policy_domains"]
        self.config = config.with_default_domains(self.policy_domains)
        self.warning = own_domains_mismatch(config, self.policy_domains)
        self.shared = frozenset(data["shared"])
        self.classified = data["classified"]
        self.complete = True
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
            self._rows = None
        return self._accs

    def _stored_rows(self) -> list[list[Any]] | None:
        """The stored findings' rows, parsed once (the TUI builds findings again for each
        round of PTR names); None once they were turned into counts. Under ``_parsing``."""
        text = self._unparsed.get("findings")
        if text is None:
            return None
        if self._rows is None or self._rows[0] is not text:
            self._rows = (text, json.loads(text))
        return self._rows[1]

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

    # ------------------------------------------------------------------ answers

    def findings(self) -> list[Finding]:
        """Every finding, ranked, without evidence rows (see :meth:`evidence`)."""
        key = tuple(sorted((ip, n) for ip, n in self.ptrs.items() if n))
        if self._findings is None or self._findings[0] != key:
            cfg, ptrs = self.config, self.ptrs
            with self._parsing:
                rows = self._stored_rows()
            if rows is not None:  # as stored: built from the parsed rows, no counts copied
                found = rank(
                    finding_of(ip, kind, n, first, last, hfrom, who, days, labels, reasons, cfg,
                               ptrs.get(ip))
                    for ip, kind, n, first, last, hfrom, who, days, labels, reasons in rows
                )  # fmt: skip
            else:
                found = rank(
                    build_finding(ip, kind, acc, cfg, ptrs.get(ip))
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
        """The combinations of ours behind a finding (any period: evidence filters by it)."""
        return list(self._source_combos(source_ip).get(kind, ()))

    def _source_combos(self, ip: str) -> dict[FindingKind, list[int]]:
        """The combinations of one source per finding kind, read by ``combos_ip_key`` and
        classified with the verdicts of the count."""
        found = self._by_source.get(ip)
        if found is not None:
            return found
        sql = f"SELECT id, {', '.join(_PATTERN)} FROM combos WHERE {SOURCE_COMBOS.format(alias='')}"
        params: tuple[Any, ...] = (ip_key(ip), ip)
        if self._max_combo is not None:
            sql += " AND id <= ?"
            params = (*params, self._max_combo)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        cls = self._source_class(ip)
        found = defaultdict(list)
        for cid, *pattern in rows:
            if self._owner(pattern[0]) is not None:
                for kind in verdict_kinds(self._verdict(ip, cls, tuple(pattern))):  # type: ignore[arg-type]
                    found[kind].append(cid)
        if len(self._by_source) >= 256:  # a TUI session browsing sources: keep it small
            self._by_source.clear()
        self._by_source[ip] = found
        return found

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
            f"SELECT {_REPORTER}, r.report_id, r.begin, r.end, x.count, c.header_from,"
            " c.disposition, c.dkim, c.spf, c.auth_dkim, c.auth_spf, c.reasons"
            " FROM records x CROSS JOIN combos c ON c.id = x.combo_id"
            " JOIN reports r ON r.pk = x.report_pk"
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


def _new_counts() -> FindingCounts:
    """Empty counts whose Counters skip ``Counter.__init__`` (a Python call each, and a
    count makes tens of thousands of findings)."""
    return FindingCounts(
        header_from=_NEW_COUNTER(Counter), per_day=_NEW_COUNTER(Counter),
        labels=_NEW_COUNTER(Counter), reasons=_NEW_COUNTER(Counter),
    )  # fmt: skip


def _column(verdict: Verdict) -> str:
    """The readiness column of a verdict (as :meth:`ReadinessCounts.add_messages` files it)."""
    if verdict.passed:
        return "passed"
    return "failed_outside" if verdict.cause == "outside_spoofing" else "failed_legit"


def _days(rows: Iterable[tuple[int, int, int]]) -> dict[int, Counter[str]]:
    """Messages per group and UTC day from rows of (group, day number, messages), ordered by
    group: a dict built per group (most groups have a handful of days, and there are tens of
    thousands of them)."""
    out: dict[int, Counter[str]] = {}
    text = _DAY_TEXTS
    for key, group in itertools.groupby(rows, key=itemgetter(0)):
        days = _counter({text[day]: n for _, day, n in group})
        if key in out:  # not ordered after all: add up
            days.update(out[key])
        out[key] = days
    return out


def _spread(out: dict[int, Counter[str]], rows: Iterable[tuple[int, ...]]) -> None:
    """Add the records of long reports, spread as the reference does (each of the ``k``
    records with ``count`` messages is spread on its own)."""
    for key, begin, end, count, k in rows:
        days = out.setdefault(key, Counter())
        for day, share in spread_over_days(begin, end, count):
            days[day] += share * k


@lru_cache(maxsize=1 << 16)
def _day_text(day: int) -> str:
    """A day number since 1970-01-01 as an ISO date (what :func:`utc_day` gives)."""
    return date.fromordinal(_EPOCH + day).isoformat()


_EPOCH = date(1970, 1, 1).toordinal()


class _DayTexts(dict[int, str]):
    """:func:`_day_text` by subscript: a dict lookup per row, not a call (a fifth of the
    Python time of a count at a million records went to calling the cached function)."""

    def __missing__(self, day: int) -> str:
        if len(self) >= 1 << 16:
            self.clear()
        text = self[day] = _day_text(day)
        return text


_DAY_TEXTS = _DayTexts()


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
