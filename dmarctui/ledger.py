"""Accounting across messages: one bucket per message, duplicates and report_id collisions.

Per-message analysis is independent and can run in any process; deciding that a report is a
duplicate, or that two reports collide on their ``report_id``, needs everything seen before it.
That order-dependent part runs on light per-message *facts* (content keys, report ids, emails,
records keys), so the index can replay it over stored facts without reading a message again.
:class:`Accounts` is that light ledger; :class:`Ledger` adds the full report objects for an
in-memory scan.

The ``resume_*`` methods let the ledger go on after messages it did not see itself: told what an
index holds about the earlier messages that the next ones can meet (first copies, reports with
the same id), it decides the next messages as if it had seen them all.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dmarctui.model import (
    BUCKETS,
    Bucket,
    Collision,
    CollisionReason,
    Duplicate,
    FailureReport,
    FoundReport,
    Problem,
    TlsReport,
)

if TYPE_CHECKING:  # outcomes come from the parser; the ledger is read without it (warm commands)
    from dmarctui.analysis import MessageOutcome


def report_ref(found: FoundReport | ReportFacts) -> str:
    """``message#part``: how a report is named in collisions and the UI."""
    return f"{found.message}#{found.part}"


LEDGER_RULES = "1"
"""Changes whenever the rules below decide differently: verdicts stored under other rules are
replayed, not continued."""


@dataclass(frozen=True, slots=True)
class FoundFailure:
    message: str
    report: FailureReport


@dataclass(frozen=True, slots=True)
class FoundTls:
    message: str
    report: TlsReport


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What the ledger needs to know about one aggregate report: no records, no XML."""

    message: str
    part: str
    filename: str | None
    content_key: str
    report_id: str
    email: str
    org_name: str
    begin: int
    end: int
    records_key: str
    policy_key: str
    """A canonical spelling of ``policy_published``: equal keys, equal policies."""
    pk: int | None = None
    """The report's row in an index, when the facts come from one."""


@dataclass(frozen=True, slots=True)
class OtherFacts:
    """A failure or TLS report, known by a digest of its parsed content."""

    digest: str
    report_id: str = ""


@dataclass(frozen=True, slots=True)
class MessageFacts:
    key: str
    reports: tuple[ReportFacts, ...] = ()
    failures: tuple[OtherFacts, ...] = ()
    tls: tuple[OtherFacts, ...] = ()
    problems: tuple[Problem, ...] = ()
    not_report_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a message landed, and which of its reports are first copies (by position)."""

    bucket: Bucket
    reports: tuple[int, ...] = ()
    failures: tuple[int, ...] = ()
    tls: tuple[int, ...] = ()


def stored_facts(row: Sequence[Any], pk: int) -> ReportFacts:
    """The facts of a report from an index: (message key, part, filename, content key, report
    id, email, org name, begin, end, records key, policy key) and the row's key."""
    message, part, filename, content, report_id, email, org, begin, end, records, policy = row
    return ReportFacts(
        message, part, filename, content, report_id, email, org, begin, end, records, policy, pk
    )


def report_facts(found: FoundReport) -> ReportFacts:
    from dmarctui.aggregate import records_key

    meta = found.report.report_metadata
    return ReportFacts(
        message=found.message,
        part=found.part,
        filename=found.filename,
        content_key=found.content_key,
        report_id=meta.report_id,
        email=meta.email,
        org_name=meta.org_name,
        begin=meta.date_range.begin,
        end=meta.date_range.end,
        records_key=records_key(found.report),
        policy_key=repr(found.report.policy_published),
    )


def other_digest(report: FailureReport | TlsReport) -> str:
    """Equal digests: the same failure or TLS report delivered twice."""
    return hashlib.sha256(repr(report).encode()).hexdigest()


def facts_of(outcome: MessageOutcome) -> MessageFacts:
    return MessageFacts(
        key=outcome.ref.key,
        reports=tuple(report_facts(f) for f in outcome.reports),
        failures=tuple(OtherFacts(other_digest(f)) for f in outcome.failures),
        tls=tuple(OtherFacts(other_digest(t), t.report_id) for t in outcome.tls),
        problems=outcome.problems,
        not_report_reason=outcome.not_report_reason,
    )


def digest_key(digest: str) -> str | bytes:
    """A SHA-256 hex digest as its 32 bytes (65 bytes of Python object instead of 113), any
    other text as itself: the ledger keeps one per report, a tenth of its memory at 100,000.
    Only lowercase hex of the right length is converted, so distinct texts stay distinct."""
    if len(digest) == 64 and _LOWER_HEX.fullmatch(digest):
        return bytes.fromhex(digest)
    return digest


_LOWER_HEX = re.compile(r"[0-9a-f]+")


@dataclass
class Accounts:
    """Feeds on message facts in folder order and keeps the folder's accounts.

    Per report it keeps only what later reports are compared with: its content key (as
    :func:`digest_key`) with the message of its first copy, and under its report id whatever
    :meth:`_keep` returns, from which :meth:`_recall` gives the facts back when another report
    has the same id (rare). Here that is the facts themselves; an index keeps the row's key and
    reads the rest back (:class:`dmarctui.index_replay.StoredAccounts`).
    """

    duplicates: list[Duplicate] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    not_reports: list[Problem] = field(default_factory=list)
    buckets: Counter[str] = field(default_factory=Counter)
    uncounted: set[str] = field(default_factory=set)
    """``message#part`` of reports merged into another (a date-range-only collision)."""
    _by_content: dict[str | bytes, str] = field(default_factory=dict)
    _by_report_id: dict[str, object] = field(default_factory=dict)
    """Report id -> what :meth:`_keep` returned for its first copies: one, or a list of them
    in folder order (a list costs 70 bytes, and most report ids are seen once)."""
    _other_seen: dict[str | bytes, str] = field(default_factory=dict)

    @property
    def messages(self) -> int:
        return sum(self.buckets.values())

    def bucket_counts(self) -> dict[str, int]:
        return {name: self.buckets.get(name, 0) for name in BUCKETS}

    def first_copy(self, content_key: str) -> str | None:
        """The key of the message holding the first copy of a report content."""
        return self._by_content.get(digest_key(content_key))

    def resume_content(self, content_key: str, first: str) -> None:
        """Know that message ``first`` holds the first copy of ``content_key``, seen earlier."""
        self._by_content[digest_key(content_key)] = first

    def resume_report_id(self, report_id: str, earlier: list[ReportFacts]) -> None:
        """Know the first copies with ``report_id`` seen earlier, in folder order."""
        for found in earlier:
            self._remember(report_id, found)

    def resume_other(self, digest: str, first: str) -> None:
        """Know that message ``first`` holds the first copy of a failure or TLS report."""
        self._other_seen[digest_key(digest)] = first

    def account(self, facts: MessageFacts) -> Verdict:
        """Account for one message; returns its bucket and which of its reports are new."""
        verdict = self._classify(facts)
        self.buckets[verdict.bucket] += 1
        return verdict

    def _keep(self, found: ReportFacts) -> object:
        """What is kept of a first copy under its report id (never a list)."""
        return found

    def _recall(self, kept: object) -> ReportFacts:
        """The facts of a first copy from what :meth:`_keep` returned."""
        assert isinstance(kept, ReportFacts)
        return kept

    def _collided(self, earlier: ReportFacts, later: ReportFacts) -> None:
        """Told of each collision as it is found (an index flags both rows)."""

    def _remember(self, report_id: str, found: ReportFacts) -> None:
        kept = self._keep(found)
        known = self._by_report_id.get(report_id)
        if known is None:
            self._by_report_id[report_id] = kept
        elif isinstance(known, list):
            known.append(kept)
        else:
            self._by_report_id[report_id] = [known, kept]

    def _earlier(self, report_id: str) -> list[ReportFacts]:
        known = self._by_report_id.get(report_id)
        if known is None:
            return []
        return [self._recall(k) for k in (known if isinstance(known, list) else [known])]

    def _classify(self, facts: MessageFacts) -> Verdict:
        key = facts.key
        if facts.failures:
            fresh = self._add_others(key, "failure", facts.failures)
            return Verdict("failure" if fresh else "duplicate", failures=fresh)
        if facts.reports:
            new = tuple(i for i, f in enumerate(facts.reports) if self._add_report(f))
            self.warnings.extend(facts.problems)
            return Verdict("aggregate" if new else "duplicate", reports=new)
        if facts.tls:
            self.warnings.extend(facts.problems)
            fresh = self._add_others(key, "tls", facts.tls)
            return Verdict("tls" if fresh else "duplicate", tls=fresh)
        if facts.problems:
            self.errors.append(_merge_problems(key, facts.problems))
            return Verdict("error")
        self.not_reports.append(Problem(key, facts.not_report_reason or "no report found"))
        return Verdict("not_report")

    def _add_others(self, key: str, kind: str, found: tuple[OtherFacts, ...]) -> tuple[int, ...]:
        fresh: list[int] = []
        for index, other in enumerate(found):
            digest = digest_key(other.digest)
            first = self._other_seen.get(digest)
            if first is not None:  # in an earlier message, or earlier in this one
                self.duplicates.append(
                    Duplicate(key, first, f"same {kind} report as in {first}", other.report_id)
                )
                continue
            self._other_seen[digest] = key
            fresh.append(index)
        return tuple(fresh)

    def _add_report(self, found: ReportFacts) -> bool:
        """Record a report; False when it is a duplicate of one seen before."""
        content_key = digest_key(found.content_key)
        first = self._by_content.get(content_key)
        if first is not None:
            why = "same report content"
            if found.filename:
                why += f" ({found.filename})"
            self.duplicates.append(Duplicate(found.message, first, why, found.report_id))
            return False
        self._by_content[content_key] = found.message
        for earlier in self._earlier(found.report_id):
            collision = _collision(earlier, found)
            self.collisions.append(collision)
            self._collided(earlier, found)
            if collision.counted_once:
                self.uncounted.add(report_ref(found))
        self._remember(found.report_id, found)
        return True


@dataclass
class Ledger(Accounts):
    """:class:`Accounts` plus the parsed reports themselves, for a scan held in memory."""

    reports: list[FoundReport] = field(default_factory=list)
    failures: list[FoundFailure] = field(default_factory=list)
    tls: list[FoundTls] = field(default_factory=list)
    bucket_of: dict[str, Bucket] = field(default_factory=dict)

    def is_first(self, found: FoundReport) -> bool:
        """Whether ``found`` is the first copy of its report (not a duplicate)."""
        return self.first_copy(found.content_key) == found.message

    def add(self, outcome: MessageOutcome) -> Bucket:
        """Account for one message and return the bucket it landed in."""
        verdict = self.account(facts_of(outcome))
        key = outcome.ref.key
        self.bucket_of[key] = verdict.bucket
        self.reports.extend(outcome.reports[i] for i in verdict.reports)
        self.failures.extend(FoundFailure(key, outcome.failures[i]) for i in verdict.failures)
        self.tls.extend(FoundTls(key, outcome.tls[i]) for i in verdict.tls)
        return verdict.bucket


def _merge_problems(key: str, problems: tuple[Problem, ...]) -> Problem:
    if len(problems) == 1:
        return problems[0]
    reason = "; ".join(f"{p.filename or 'part ' + (p.part or '?')}: {p.reason}" for p in problems)
    return Problem(key, reason, problems[0].part, problems[0].filename)


def _collision(earlier: ReportFacts, later: ReportFacts) -> Collision:
    reason: CollisionReason
    if earlier.email.lower() != later.email.lower():
        reason = "different_email"
        detail = f"reported by {earlier.email or '(no email)'} and by {later.email or '(no email)'}"
        counted_once = False
    elif (
        (earlier.begin, earlier.end) != (later.begin, later.end)
        and earlier.records_key == later.records_key
        and earlier.policy_key == later.policy_key
        and earlier.org_name == later.org_name
    ):
        reason = "date_range_only"
        detail = (
            f"only date_range differs ({earlier.begin}–{earlier.end} vs "
            f"{later.begin}–{later.end}); records identical, counted once"
        )
        counted_once = True
    else:
        reason = "other"
        differing = [
            name
            for name, same in (
                ("org_name", earlier.org_name == later.org_name),
                ("date_range", (earlier.begin, earlier.end) == (later.begin, later.end)),
                ("policy_published", earlier.policy_key == later.policy_key),
                ("records", earlier.records_key == later.records_key),
            )
            if not same
        ]
        detail = "same report_id and reporter; differs in " + (
            ", ".join(differing) or "other metadata"
        )
        counted_once = False
    return Collision(
        report_id=earlier.report_id,
        first=report_ref(earlier),
        second=report_ref(later),
        reason=reason,
        detail=detail,
        counted_once=counted_once,
    )
