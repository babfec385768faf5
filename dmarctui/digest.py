"""The digest: what changed in a report folder since the last look, for cron.

A digest compares the folder now with a :class:`Snapshot` of what the previous digest knew (or,
with ``--since DATE``, of what the reports before that day showed) and lists only the news:

* new sources that need action (a kind not seen before for that source), with their count;
* sources that got worse: failing messages per day on the days reported since the last digest
  at least ``WORSE_FACTOR`` times and ``WORSE_MIN`` more than the busiest day of the
  ``WINDOW_DAYS`` before (so a weekly newsletter is not "worse" every week);
* sources now fixed: improved since their notice (notice history), or no failing mail over the
  last ``FIXED_DAYS`` observed days;
* new enforced losses (more quarantined or rejected messages of a legitimate source);
* new reporters, and receivers newly disagreeing on the published policy;
* intake problems not said before: unreadable messages, report_id collisions, recovered XML;
* notices due for a follow-up (the source still fails after the grace period);
* readiness for the next policy step, when it changed.

Decisions "ignore until" and "accepted risk" keep a source out until the decision ends or the
source gets worse (or loses mail). Days are UTC days as triage counts them; "the days reported
since the last digest" are the observed days later than the last day the previous digest saw, so
a folder replayed day by day behaves like one growing in real time.
"""

from __future__ import annotations

import calendar
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dmarctui.config import Config
from dmarctui.decisions import QUIET_VERDICTS, Decision, decision_for
from dmarctui.digest_inputs import DigestInputs, IntakeProblem
from dmarctui.history import SourceProgress
from dmarctui.model import Finding
from dmarctui.readiness import Readiness
from dmarctui.triage import SEVERITY, SEVERITY_ORDER

ACTION_KINDS = frozenset({"internal_no_dkim", "dkim_broken", "unaligned_third_party"})
"""Kinds an admin can act on (outside spoofing is summed up, forwarding is harmless)."""
WINDOW_DAYS = 14
"""Observed days over which the busiest day of a source is remembered."""
WORSE_FACTOR = 2.0
WORSE_MIN = 10.0
"""A source got worse when its failing messages per day reach ``WORSE_FACTOR`` times its busiest
day the last digest saw, and at least ``WORSE_MIN`` more."""
FIXED_DAYS = 7
"""Observed days without failing mail after which a source counts as fixed."""
READINESS_DAYS = 30
"""Readiness is judged over this many days up to the latest."""
POLICY_DAYS = 2
"""Published policies are compared over this many days up to the latest."""
NEXT_STEP = {"none": "quarantine", "quarantine": "reject"}


# --------------------------------------------------------------------------- remembered state


@dataclass(frozen=True)
class SourceState:
    """What a digest knew of one source that needs action."""

    kinds: tuple[str, ...]
    rate: float
    """Failing messages on its busiest of the last ``WINDOW_DAYS`` observed days."""
    enforced: int
    said: bool = True
    """Its kinds were reported (False while a decision kept it quiet)."""
    fixed: bool = False


@dataclass(frozen=True)
class Snapshot:
    """What a digest knew; stored per folder (:mod:`dmarctui.digest_state`)."""

    last_day: str | None = None
    sources: dict[str, SourceState] = field(default_factory=dict)
    reporters: frozenset[str] = frozenset()
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    intake: frozenset[str] = frozenset()
    follow_ups: frozenset[str] = frozenset()
    ready: dict[str, bool] = field(default_factory=dict)
    first: bool = False
    """No digest ran before: reporters are not listed as new."""

    def to_json(self) -> dict[str, Any]:
        return {
            "last_day": self.last_day,
            "sources": {ip: asdict(s) for ip, s in sorted(self.sources.items())},
            "reporters": sorted(self.reporters),
            "variants": {d: list(v) for d, v in sorted(self.variants.items())},
            "intake": sorted(self.intake),
            "follow_ups": sorted(self.follow_ups),
            "ready": dict(sorted(self.ready.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            last_day=data.get("last_day"),
            sources={
                ip: SourceState(
                    kinds=tuple(s["kinds"]),
                    rate=float(s["rate"]),
                    enforced=int(s["enforced"]),
                    said=bool(s.get("said", True)),
                    fixed=bool(s.get("fixed", False)),
                )
                for ip, s in data.get("sources", {}).items()
            },
            reporters=frozenset(data.get("reporters", ())),
            variants={d: tuple(v) for d, v in data.get("variants", {}).items()},
            intake=frozenset(data.get("intake", ())),
            follow_ups=frozenset(data.get("follow_ups", ())),
            ready={d: bool(v) for d, v in data.get("ready", {}).items()},
        )


# --------------------------------------------------------------------------- what is said


@dataclass(frozen=True)
class NewSource:
    source_ip: str
    kind: str
    messages: int
    ptr: str | None = None
    contact: str | None = None
    label: str | None = None
    again: bool = False
    """It had been quiet (fixed, or kept out by a decision) and fails again."""


@dataclass(frozen=True)
class Worse:
    source_ip: str
    kinds: tuple[str, ...]
    before: float
    after: float
    decision: str | None = None


@dataclass(frozen=True)
class Fixed:
    source_ip: str
    since: str
    """The first day without failing mail, or the day of the notice."""
    notice: bool = False


@dataclass(frozen=True)
class Loss:
    source_ip: str
    kinds: tuple[str, ...]
    messages: int
    """Quarantined or rejected messages not counted by the last digest."""
    decision: str | None = None


@dataclass(frozen=True)
class Disagreement:
    domain: str
    variants: tuple[tuple[str, tuple[str, ...]], ...]
    """(policy text, reporters) pairs."""


@dataclass(frozen=True)
class FollowUpDue:
    source_ip: str
    notified: str
    recipients: tuple[str, ...]
    failing: int
    """Failing messages since the due day."""


@dataclass(frozen=True)
class ReadinessLine:
    domain: str
    policy: str
    """The policy most reports saw, ``p=none`` style."""
    next_step: str | None
    """``p=quarantine``, ``p=reject``, ``pct=100`` or None at p=reject."""
    ready: bool
    failed_legit: int
    changed: bool


@dataclass(frozen=True)
class Digest:
    since: str | None
    """The day of the last digest or ``--since`` (None: the first digest)."""
    last_day: str | None
    """The latest UTC day the reports cover."""
    reports: int
    reporters_total: int
    new_sources: tuple[NewSource, ...] = ()
    worse: tuple[Worse, ...] = ()
    fixed: tuple[Fixed, ...] = ()
    losses: tuple[Loss, ...] = ()
    new_reporters: tuple[str, ...] = ()
    disagreements: tuple[Disagreement, ...] = ()
    intake: tuple[IntakeProblem, ...] = ()
    follow_ups: tuple[FollowUpDue, ...] = ()
    readiness: tuple[ReadinessLine, ...] = ()
    spoofing_sources: int = 0
    spoofing_messages: int = 0
    """Outside spoofing on the new days: summed up, never a reason to speak."""

    @property
    def problems(self) -> int:
        """What the Subject counts: things that need someone to look."""
        return (
            len(self.new_sources)
            + len(self.worse)
            + len(self.losses)
            + len(self.disagreements)
            + len(self.intake)
            + len(self.follow_ups)
        )

    @property
    def has_news(self) -> bool:
        return bool(
            self.problems
            or self.fixed
            or self.new_reporters
            or any(r.changed for r in self.readiness)
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = self.problems
        data["has_news"] = self.has_news
        return data


# --------------------------------------------------------------------------- computing


def _peak(per_day: dict[str, int], days: Sequence[str]) -> float:
    return float(max((per_day.get(d, 0) for d in days), default=0))


def _day_start(day: str) -> int:
    return calendar.timegm(date.fromisoformat(day).timetuple())


def _quiet_since(per_day: dict[str, int], days: Sequence[str]) -> str | None:
    """The first observed day of a run of ``FIXED_DAYS`` or more without failing mail to the
    end; None when the source failed more recently."""
    failing = [d for d, n in per_day.items() if n > 0]
    last = max(failing) if failing else ""
    after = [d for d in days if d > last]
    return after[0] if len(after) >= FIXED_DAYS else None


def _action_sources(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    by_ip: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.kind in ACTION_KINDS or f.kind == "enforced":
            by_ip[f.source_ip].append(f)
    return by_ip


def _kinds(findings: Iterable[Finding]) -> tuple[str, ...]:
    kinds = {f.kind for f in findings if f.kind in ACTION_KINDS}
    return tuple(sorted(kinds, key=lambda k: (SEVERITY_ORDER[SEVERITY[k]], k)))  # type: ignore[index]


def _last_days(days: Sequence[str], n: int) -> int:
    """The start (epoch) of the ``n`` UTC days ending with the latest observed day."""
    first = date.fromisoformat(days[-1]) - timedelta(days=n - 1)
    return _day_start(first.isoformat())


def _policy_state(
    inputs: DigestInputs, days: Sequence[str], until: int | None = None
) -> tuple[list[Readiness], dict[str, Readiness]]:
    """Readiness over ``READINESS_DAYS``, and per domain the policies of the last
    ``POLICY_DAYS`` (a policy change is not a disagreement once receivers caught up)."""
    if not days:
        return [], {}
    long = inputs.readiness(_last_days(days, READINESS_DAYS), until=until)
    recent = inputs.readiness(_last_days(days, POLICY_DAYS), until=until)
    return long, {r.domain: r for r in recent}


def _variants(item: Readiness) -> tuple[str, ...]:
    return tuple(sorted(v.text() for v in item.variants))


def _readiness_line(
    item: Readiness, recent: Readiness | None, previous: bool | None
) -> ReadinessLine:
    main = (recent or item).own_policy()
    policy = f"p={main.p}" if main else "p=?"
    step: str | None = None
    if main is not None:
        if main.p in NEXT_STEP:
            step = f"p={NEXT_STEP[main.p]}"
        elif main.pct < 100:
            step = "pct=100"
    changed = previous is not None and previous != item.ready
    return ReadinessLine(item.domain, policy, step, item.ready, item.failed_legit, changed)


def snapshot_before(
    inputs: DigestInputs,
    since: int,
    decisions: Sequence[Decision],
    *,
    follow_up_days: int,
    history: Path | None = None,
    now: float | None = None,
) -> Snapshot:
    """What a digest run just before ``since`` would have remembered (for ``--since``)."""
    findings = inputs.findings(until=since)
    failing = inputs.failing_per_day(until=since)
    days = [d for d in inputs.observed_days(until=since) if _day_start(d) < since]
    window = days[-WINDOW_DAYS:]
    quiet = [d for d in decisions if d.verdict in QUIET_VERDICTS]
    sources = {}
    for ip, fs in _action_sources(findings).items():
        per_day = failing.get(ip, {})
        sources[ip] = SourceState(
            kinds=_kinds(fs),
            rate=_peak(per_day, window),
            enforced=sum(f.messages for f in fs if f.kind == "enforced"),
            said=decision_for(ip, quiet) is None,
            fixed=_quiet_since(per_day, days) is not None,
        )
    readiness, recent = _policy_state(inputs, days, until=since)
    due = [
        p
        for p in inputs.follow_ups(follow_up_days, history, now)
        if p.state == "still_failing" and p.due < since
    ]
    return Snapshot(
        last_day=days[-1] if days else None,
        sources=sources,
        reporters=frozenset(inputs.reporters(until=since)),
        variants={d: _variants(r) for d, r in recent.items()},
        intake=frozenset(p.key for p in inputs.intake() if p.date is not None and p.date < since),
        follow_ups=frozenset(_follow_up_key(p) for p in due),
        ready={r.domain: r.ready for r in readiness},
    )


def _follow_up_key(p: SourceProgress) -> str:
    return f"{p.notice.message_id} {p.source_ip}"


def build_digest(
    inputs: DigestInputs,
    baseline: Snapshot,
    decisions: Sequence[Decision],
    *,
    since: str | None,
    follow_up_days: int,
    history: Path | None = None,
    now: float | None = None,
) -> tuple[Digest, Snapshot]:
    """What is new against ``baseline``, and the snapshot to remember for the next digest.

    Args:
        inputs: the folder's current state.
        baseline: what the previous digest knew (:meth:`Snapshot` with ``first`` for none).
        decisions: the effective decisions (:func:`dmarctui.decisions.effective`).
        since: the day shown as "since" (the last digest's, or ``--since``).
        follow_up_days: the grace period of notices (``[notice] follow_up_days``).
        history: the notice history file (default location when None).
        now: the time the digest runs (epoch); decisions and follow-ups depend on it.
    """
    current = time.time() if now is None else now
    findings = inputs.findings()
    failing = inputs.failing_per_day()
    days = inputs.observed_days()
    new_days = [d for d in days if baseline.last_day is None or d > baseline.last_day]
    quiet = [d for d in decisions if d.verdict in QUIET_VERDICTS]

    new_sources: list[NewSource] = []
    worse: list[Worse] = []
    fixed: list[Fixed] = []
    losses: list[Loss] = []
    states: dict[str, SourceState] = {}
    progress = inputs.follow_ups(follow_up_days, history, current)
    improved = {p.source_ip: p for p in progress if p.state == "improved"}

    for ip, fs in _action_sources(findings).items():
        news = _judge(
            fs,
            baseline.sources.get(ip),
            decision_for(ip, quiet),
            failing.get(ip, {}),
            days,
            new_days,
            improved.get(ip),
            inputs.config,
        )
        new_sources += news.new
        worse += news.worse
        losses += news.losses
        fixed += news.fixed
        states[ip] = news.state

    new_set = set(new_days)
    spoof = [
        sum(n for d, n in f.per_day if d in new_set)
        for f in findings
        if f.kind == "outside_spoofing" and decision_for(f.source_ip, quiet) is None
    ]
    spoof = [n for n in spoof if n]

    dues = [
        p
        for p in progress
        if p.state == "still_failing"
        and _follow_up_key(p) not in baseline.follow_ups
        and decision_for(p.source_ip, quiet) is None
    ]

    readiness, policies = _policy_state(inputs, days)
    disagreements = [
        Disagreement(domain, tuple((v.text(), v.reporters) for v in variants))
        for r in policies.values()
        if not r.policy_consistent and _variants(r) != baseline.variants.get(r.domain)
        for domain, variants in r.disagreeing().items()
    ]
    reporters = inputs.reporters()
    intake = [p for p in inputs.intake() if p.key not in baseline.intake]

    digest = Digest(
        since=since,
        last_day=days[-1] if days else None,
        reports=inputs.report_count(),
        reporters_total=len(reporters),
        new_sources=tuple(
            sorted(
                new_sources,
                key=lambda n: (SEVERITY_ORDER[SEVERITY[n.kind]], -n.messages, n.source_ip),  # type: ignore[index]
            )
        ),
        worse=tuple(sorted(worse, key=lambda w: (-w.after, w.source_ip))),
        fixed=tuple(sorted(fixed, key=lambda f: f.source_ip)),
        losses=tuple(sorted(losses, key=lambda x: (-x.messages, x.source_ip))),
        new_reporters=() if baseline.first else tuple(sorted(reporters - baseline.reporters)),
        disagreements=tuple(disagreements),
        intake=tuple(intake),
        follow_ups=tuple(
            FollowUpDue(p.source_ip, p.notice.day, p.notice.recipients, p.after_due) for p in dues
        ),
        readiness=tuple(
            _readiness_line(r, policies.get(r.domain), baseline.ready.get(r.domain))
            for r in readiness
        ),
        spoofing_sources=len(spoof),
        spoofing_messages=sum(spoof),
    )
    snapshot = Snapshot(
        last_day=days[-1] if days else baseline.last_day,
        sources=states,
        reporters=frozenset(reporters),
        variants={d: _variants(r) for d, r in policies.items()},
        intake=baseline.intake | {p.key for p in intake},
        follow_ups=baseline.follow_ups | {_follow_up_key(p) for p in dues},
        ready={r.domain: r.ready for r in readiness},
    )
    return digest, snapshot


@dataclass
class _SourceNews:
    """What one source that needs action contributes to a digest, and what to remember of it."""

    state: SourceState
    new: list[NewSource] = field(default_factory=list)
    worse: list[Worse] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    fixed: list[Fixed] = field(default_factory=list)


def _judge(
    fs: Sequence[Finding],
    prev: SourceState | None,
    decision: Decision | None,
    per_day: dict[str, int],
    days: Sequence[str],
    new_days: Sequence[str],
    improved: SourceProgress | None,
    config: Config,
) -> _SourceNews:
    """The news about one source: ``fs`` are its findings, ``prev`` what the last digest knew,
    ``decision`` an ignore or accepted-risk decision in force, ``per_day`` its failing messages."""
    ip = fs[0].source_ip
    kinds = _kinds(fs)
    recent = sum(per_day.get(d, 0) for d in new_days)
    after = recent / len(new_days) if new_days else 0.0
    enforced = sum(f.messages for f in fs if f.kind == "enforced")
    quiet_since = _quiet_since(per_day, days)
    said = prev.said if prev else False
    is_fixed = prev.fixed if prev else quiet_since is not None
    news = _SourceNews(SourceState(kinds, _peak(per_day, days[-WINDOW_DAYS:]), enforced))

    if decision is not None:
        said = False  # kept quiet: said again once the decision ends and it still fails
    elif kinds and (prev is None or not prev.said or prev.fixed):
        # A source first seen long quiet is history, not news; a known one must fail again.
        if quiet_since is None if prev is None else recent > 0:
            news.new = [_new(f, prev is not None, config) for f in fs if f.kind in kinds]
            said, is_fixed = True, False
    elif kinds and prev is not None:
        news.new = [
            _new(f, False, config) for f in fs if f.kind in kinds and f.kind not in prev.kinds
        ]

    note = decision.text() if decision else None
    if (
        prev is not None
        and not news.new
        and new_days
        and after >= max(WORSE_FACTOR * prev.rate, prev.rate + WORSE_MIN)
    ):
        news.worse.append(Worse(ip, kinds, prev.rate, after, note))
    lost = enforced - (prev.enforced if prev else 0)
    if lost > 0 and not (prev is None and quiet_since is not None):
        news.losses.append(Loss(ip, kinds, lost, note))
    if decision is None and prev is not None and prev.said and not prev.fixed and not news.new:
        if improved is not None:
            news.fixed.append(Fixed(ip, improved.notice.day, notice=True))
            is_fixed = True
        elif quiet_since is not None:
            news.fixed.append(Fixed(ip, quiet_since))
            is_fixed = True
    news.state = SourceState(kinds, news.state.rate, enforced, said, is_fixed)
    return news


def _new(f: Finding, again: bool, config: Config) -> NewSource:
    sender = config.sender_for(f.source_ip, f.ptr)
    label = sender.label if sender else None
    return NewSource(f.source_ip, f.kind, f.messages, f.ptr, f.contact, label, again)
