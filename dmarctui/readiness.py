"""Policy readiness per own domain: is it safe to move from p=none to quarantine or reject?

Counts per day the messages that pass DMARC, that fail from legitimate sources (ours, lists,
forwarders, known services: mail a stricter policy would lose) and that fail from outsiders (mail
a stricter policy is meant to stop); what ``p=quarantine`` / ``p=reject`` at pct=100 would have
done over the period, split by finding kind; and whether receivers saw one published policy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dmarctui.config import Config
from dmarctui.model import AggregateReport, FindingKind, PolicyPublished
from dmarctui.triage import Verdict, classify, in_period, spread_over_days, triage_context

VariantKey = tuple[str, str, str | None, str, str, int]
"""(domain, p, sp, adkim, aspf, pct) of one published policy."""


@dataclass(frozen=True, slots=True)
class DayCounts:
    day: str
    passed: int = 0
    failed_legit: int = 0
    failed_outside: int = 0


@dataclass(frozen=True, slots=True)
class PolicyVariant:
    """One published policy as receivers reported it, and who reported it."""

    domain: str
    p: str
    sp: str | None
    adkim: str
    aspf: str
    pct: int
    reporters: tuple[str, ...]
    reports: int

    def text(self) -> str:
        sp = f"; sp={self.sp}" if self.sp else ""
        return f"p={self.p}{sp}; adkim={self.adkim}; aspf={self.aspf}; pct={self.pct}"


@dataclass(frozen=True, slots=True)
class Readiness:
    domain: str
    days: tuple[DayCounts, ...]
    affected: tuple[tuple[FindingKind, int], ...]
    """Messages failing DMARC by finding kind: what quarantine/reject would have hit."""
    enforced: int
    """Messages receivers already quarantined or rejected."""
    variants: tuple[PolicyVariant, ...] = field(default=())

    @property
    def passed(self) -> int:
        return sum(d.passed for d in self.days)

    @property
    def failed_legit(self) -> int:
        return sum(d.failed_legit for d in self.days)

    @property
    def failed_outside(self) -> int:
        return sum(d.failed_outside for d in self.days)

    @property
    def would_quarantine(self) -> dict[FindingKind, int]:
        """Messages p=quarantine (pct=100) would have sent to spam, by kind."""
        return dict(self.affected)

    @property
    def would_reject(self) -> dict[FindingKind, int]:
        """Messages p=reject (pct=100) would have bounced, by kind: the same messages."""
        return dict(self.affected)

    @property
    def policy_consistent(self) -> bool:
        """Every receiver saw one published policy per policy domain. An own domain covers its
        subdomains, and a subdomain may publish its own policy (the seed's department domain,
        ``p=quarantine`` under the university's ``p=none``): different domains never disagree."""
        return not self.disagreeing()

    def disagreeing(self) -> dict[str, tuple[PolicyVariant, ...]]:
        """The policy domains that receivers saw more than one published policy for."""
        by_domain: dict[str, list[PolicyVariant]] = defaultdict(list)
        for v in self.variants:
            by_domain[v.domain].append(v)
        return {d: tuple(vs) for d, vs in sorted(by_domain.items()) if len(vs) > 1}

    def own_policy(self) -> PolicyVariant | None:
        """The policy most reports showed for the domain itself (else for any of its
        subdomains): what the domain publishes."""
        own = [v for v in self.variants if v.domain == self.domain] or list(self.variants)
        return max(own, key=lambda v: v.reports, default=None)

    @property
    def ready(self) -> bool:
        """No legitimate mail would be lost by a stricter policy over the period."""
        return self.failed_legit == 0


class ReadinessCounts:
    """The counts behind :class:`Readiness`, filled per record (:func:`readiness`) or per row of
    an index aggregate (:mod:`dmarctui.index_triage`), so both give the same answer."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.days: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.affected: dict[str, Counter[FindingKind]] = defaultdict(Counter)
        self.enforced: Counter[str] = Counter()
        self.variants: dict[str, dict[VariantKey, dict[str, None]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.reports_per_variant: Counter[VariantKey] = Counter()

    def add_policy(self, pp: PolicyPublished, reporter: str, reports: int = 1) -> None:
        owner = self.cfg.own_domain_for(pp.domain)
        if owner is None:
            return
        key: VariantKey = (
            pp.domain.lower(), pp.p, pp.sp, pp.adkim or "r", pp.aspf or "r", _pct(pp.pct)
        )  # fmt: skip
        self.variants[owner][key].setdefault(reporter, None)
        self.reports_per_variant[key] += reports

    def add_messages(
        self,
        owner: str,
        verdict: Verdict,
        disposition: str,
        count: int,
        per_day: Iterable[tuple[str, int]],
    ) -> None:
        """``count`` messages of one classification, attributed to days as ``per_day``."""
        if verdict.passed:
            column = "passed"
        elif verdict.cause == "outside_spoofing":
            column = "failed_outside"
        else:
            column = "failed_legit"
        if not verdict.passed:
            self.affected[owner][verdict.cause or "outside_spoofing"] += count
        if disposition.lower() in ("quarantine", "reject"):
            self.enforced[owner] += count
        for day, n in per_day:
            self.days[owner][day][column] += n

    def result(self) -> list[Readiness]:
        result = []
        for domain in sorted(set(self.days) | set(self.variants)):
            affected = sorted(self.affected[domain].items(), key=lambda kv: (-kv[1], kv[0]))
            variants = sorted(self.variants[domain].items(), key=lambda kv: str(kv[0]))
            result.append(
                Readiness(
                    domain=domain,
                    days=tuple(
                        DayCounts(day, **counts)
                        for day, counts in sorted(self.days[domain].items())
                    ),
                    affected=tuple(affected),
                    enforced=self.enforced[domain],
                    variants=tuple(
                        PolicyVariant(
                            *key,
                            reporters=tuple(sorted(who)),
                            reports=self.reports_per_variant[key],
                        )
                        for key, who in variants
                    ),
                )
            )
        return result


def readiness(
    reports: Iterable[AggregateReport],
    config: Config,
    ptrs: Mapping[str, str | None] | None = None,
    *,
    since: int | None = None,
    until: int | None = None,
) -> list[Readiness]:
    """Readiness of each own domain seen in the reports, sorted by domain.

    The reference computation over report objects; commands use the index
    (:meth:`dmarctui.index_triage.IndexTriage.readiness`), which must agree with it.
    """
    chosen = [r for r in reports if in_period(r, since, until)]
    cfg, shared = triage_context(config, chosen)
    names = ptrs or {}
    counts = ReadinessCounts(cfg)
    for report in chosen:
        dr = report.report_metadata.date_range
        counts.add_policy(
            report.policy_published, report.report_metadata.org_name or report.report_metadata.email
        )
        for record in report.records:
            owner = cfg.own_domain_for(record.identifiers.header_from)
            if owner is None:
                continue
            verdict = classify(record, cfg, names.get(record.source_ip), shared)
            counts.add_messages(
                owner,
                verdict,
                record.policy_evaluated.disposition,
                record.count,
                spread_over_days(dr.begin, dr.end, record.count),
            )
    return counts.result()


def _pct(pct: int | None) -> int:
    return 100 if pct is None else pct
