"""Triage: classify every record of our domains and aggregate them into ranked findings.

Pure functions, no I/O. The rules follow DESIGN.md §4 and the seed's campus story:

* A record whose DKIM passes aligned is clean, unless SPF failed at an outside source, which is a
  ``forwarded`` (informational) finding.
* A DKIM result for one of our domains with ``fail`` is ``dkim_broken`` (a list adding a tag or a
  footer), wherever the source is; a configured ``mailing_list`` sender is ``dkim_broken`` too.
* An internal source (configured networks, or authorised by our own SPF) with no DKIM for our
  domain is ``internal_no_dkim``: a lab server sending with the department address. SPF passing
  only because the campus is in the SPF record does not make it safe: it breaks when forwarded.
  A From domain is *shared* when it is listed in ``own``, publishes its own DMARC policy (it is a
  ``policy_published`` domain of the reports) or is signed by our DKIM from an internal source;
  a server using a shared domain without our DKIM is flagged even though SPF passes (the seed's
  department domain ``sub.example.ac.jp``). Only a subdomain From that is none of these
  (``lab1.sub.example.ac.jp``) and passes aligned SPF is the lab using its own From, which is the
  advice itself, so it is clean; failing DMARC, it is still flagged.
* Outside sources passing DKIM or SPF only for another domain (or configured ``third_party``
  senders) are ``unaligned_third_party``; outside sources failing both are ``outside_spoofing``.
* ``enforced`` (quarantine/reject) is reported *in addition to* the cause finding of the same
  source, with only the enforced messages, so the cause keeps its advice and the loss is urgent.
  Enforcement of outside spoofing is the policy working, so it stays ``outside_spoofing``.

Per-day counts attribute a report of up to 36 hours to the UTC day of its midpoint (reporters
whose day starts at local midnight still land on the right day) and spread a longer report evenly
over the days it covers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from dmarctui.config import Config
from dmarctui.model import (
    AggregateReport,
    Evidence,
    Finding,
    FindingKind,
    Record,
    Severity,
)

SEVERITY: dict[FindingKind, Severity] = {
    "enforced": "urgent",
    "internal_no_dkim": "high",
    "dkim_broken": "high",
    "unaligned_third_party": "medium",
    "outside_spoofing": "low",
    "forwarded": "info",
}
SEVERITY_ORDER: dict[Severity, int] = {"urgent": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
PROBLEM_KINDS: frozenset[FindingKind] = frozenset(
    {"enforced", "internal_no_dkim", "dkim_broken", "unaligned_third_party", "outside_spoofing"}
)
ENFORCING = frozenset({"quarantine", "reject"})
FORWARDING_REASONS = frozenset({"forwarded", "trusted_forwarder"})

ADVICE: dict[FindingKind, str] = {
    "internal_no_dkim": (
        "This server sends with our address in From but without our DKIM signature. Submit mail "
        "through the department mail server, or use the server's own domain in From."
    ),
    "dkim_broken": (
        "Our DKIM signature arrives broken, typically a mailing list adding a subject tag or "
        "footer. Stop modifying messages (a plain alias list), or rewrite From to the list "
        "address and sign as the list."
    ),
    "unaligned_third_party": (
        "This service sends as our domain but authenticates only its own domain. Set up DKIM "
        "for our domain at the service (or have it use its own From)."
    ),
    "forwarded": (
        "Forwarded mail: SPF fails but our DKIM signature survives, so DMARC still passes. "
        "No action needed."
    ),
    "outside_spoofing": (
        "An outside source uses our domain and fails both DKIM and SPF. Nobody to notify: "
        "this is evidence for moving the policy to quarantine or reject."
    ),
    "enforced": (
        "Receivers quarantined or rejected mail from this source: messages are being lost. "
        "Fix the cause listed for this source first."
    ),
}
SPF_AUTHORISED_ADVICE = (
    "Our SPF record authorises this server, but it sends with our address in From without our "
    "DKIM signature, so its mail fails DMARC once forwarded. Sign with DKIM for our domain there, "
    "or submit through the mail server that signs."
)


def is_problem(kind: FindingKind) -> bool:
    """Forwarded mail is informational and never counts as a problem."""
    return kind in PROBLEM_KINDS


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one record means: its cause kind (None when clean) and whether it was enforced."""

    cause: FindingKind | None
    enforced: bool
    passed: bool
    """DMARC passed (aligned DKIM or aligned SPF), as the receiver evaluated it."""
    label: str | None = None
    """The configured sender's label, when one matched."""


def classify(
    record: Record,
    cfg: Config,
    ptr: str | None = None,
    shared: Collection[str] | None = None,
) -> Verdict:
    """Classify one record whose header_from is one of our domains (per ``cfg``).

    ``ptr`` is a forward-confirmed PTR name (an unconfirmed one must not be given: its sender
    chose it). ``shared`` are the shared From domains (:func:`shared_domains`); None means only
    the listed own domains.
    """
    pe = record.policy_evaluated
    ip = record.source_ip
    aligned_dkim = pe.dkim == "pass"
    aligned_spf = pe.spf == "pass"
    passed = aligned_dkim or aligned_spf
    sender = cfg.sender_for(ip, ptr)
    label = sender.label if sender else None
    internal = cfg.is_internal(ip)
    dkim_ours_fail = any(d.result == "fail" and cfg.is_own_domain(d.domain) for d in record.dkim)
    spf_ours_pass = _spf_ours_pass(record, cfg)
    other_pass = any(d.result == "pass" and not cfg.is_own_domain(d.domain) for d in record.dkim)
    other_pass = other_pass or any(
        s.result == "pass" and not cfg.is_own_domain(s.domain) for s in record.spf
    )
    reasons = {r.type.lower() for r in pe.reason}

    cause: FindingKind | None
    if aligned_dkim:
        outside = not internal and (sender is None or sender.role != "third_party")
        cause = "forwarded" if not aligned_spf and outside else None
    elif dkim_ours_fail or (sender is not None and sender.role == "mailing_list"):
        cause = "dkim_broken"
    elif sender is not None and sender.role == "forwarder":
        cause = "forwarded"
    elif sender is not None:
        cause = "unaligned_third_party"
    elif internal or spf_ours_pass:
        domains = cfg.own_domains if shared is None else shared
        shared_from = _clean(record.identifiers.header_from) in domains
        # A lab's own subdomain From, authenticated by its SPF, is the fix, not the problem.
        cause = "internal_no_dkim" if shared_from or not aligned_spf else None
    elif other_pass:
        cause = "unaligned_third_party"
    elif reasons & FORWARDING_REASONS:
        cause = "forwarded"
    else:
        cause = "outside_spoofing"
    enforced = pe.disposition.lower() in ENFORCING and not passed and cause != "outside_spoofing"
    return Verdict(cause, enforced, passed, label)


def _clean(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def _spf_ours_pass(record: Record, cfg: Config) -> bool:
    return record.policy_evaluated.spf == "pass" or any(
        s.result == "pass" and cfg.is_own_domain(s.domain) for s in record.spf
    )


def signed_internally(record: Record, cfg: Config) -> str | None:
    """The record's From domain when our DKIM signed it at an internal source, else None.

    Internal means a configured network or a server our SPF authorises, as in :func:`classify`.
    """
    if not (cfg.is_internal(record.source_ip) or _spf_ours_pass(record, cfg)):
        return None
    if any(d.result == "pass" and cfg.is_own_domain(d.domain) for d in record.dkim):
        return _clean(record.identifiers.header_from)
    return None


def shared_domains(
    cfg: Config, policy_domains: Iterable[str], signed: Iterable[str] = ()
) -> frozenset[str]:
    """The shared From domains of ours: listed in ``own``, publishing their own DMARC policy, or
    signed by our DKIM from an internal source (``signed``, see :func:`signed_internally`)."""
    shared = set(cfg.own_domains)
    shared.update(d for d in map(_clean, policy_domains) if d and cfg.is_own_domain(d))
    shared.update(d for d in signed if d and cfg.is_own_domain(d))
    return frozenset(shared)


def triage_context(
    config: Config, reports: Iterable[AggregateReport]
) -> tuple[Config, frozenset[str]]:
    """The config with default own domains, and the shared domains, for these reports."""
    chosen = list(reports)
    cfg = our_domains(config, chosen)
    signed = {
        d
        for report in chosen
        for record in report.records
        if cfg.is_own_domain(record.identifiers.header_from)
        and (d := signed_internally(record, cfg)) is not None
    }
    return cfg, shared_domains(cfg, (r.policy_published.domain for r in chosen), signed)


# --------------------------------------------------------------------------- days


def utc_day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def spread_over_days(begin: int, end: int, count: int) -> list[tuple[str, int]]:
    """Attribute ``count`` messages of a report covering [begin, end] to UTC days."""
    span = max(0, end - begin)
    if span <= 36 * 3600:
        return [(utc_day(begin + span / 2), count)]
    days = max(1, round(span / 86400))
    first = datetime.fromtimestamp(begin + 3600, UTC).date().toordinal()
    share, extra = divmod(count, days)
    result = []
    for i in range(days):
        n = share + (1 if i < extra else 0)
        if n:
            day = datetime.fromordinal(first + i).date().isoformat()
            result.append((day, n))
    return result


def in_period(report: AggregateReport, since: int | None, until: int | None) -> bool:
    """A report belongs to the period when its date range overlaps [since, until)."""
    dr = report.report_metadata.date_range
    if since is not None and dr.end <= since:
        return False
    return not (until is not None and dr.begin >= until)


# --------------------------------------------------------------------------- findings


def our_domains(config: Config, reports: Iterable[AggregateReport]) -> Config:
    """The config with own domains defaulting to the policy domains of the reports."""
    return config.with_default_domains(r.policy_published.domain for r in reports)


def auth_line(record: Record) -> str:
    parts = [f"dkim={d.domain}:{d.result}" for d in record.dkim]
    parts += [f"spf={s.domain}:{s.result}" for s in record.spf]
    return " ".join(parts) or "no auth_results"


@dataclass
class FindingCounts:
    """What one finding counts, filled per record here or per SQL row by the index triage."""

    messages: int = 0
    first: int | None = None
    last: int | None = None
    header_from: Counter[str] = field(default_factory=Counter)
    reporters: dict[str, None] = field(default_factory=dict)
    per_day: Counter[str] = field(default_factory=Counter)
    evidence: list[Evidence] = field(default_factory=list)
    labels: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, report: AggregateReport, record: Record, label: str | None) -> None:
        meta = report.report_metadata
        dr = meta.date_range
        self.messages += record.count
        self.first = dr.begin if self.first is None else min(self.first, dr.begin)
        self.last = dr.end if self.last is None else max(self.last, dr.end)
        self.header_from[record.identifiers.header_from.lower()] += record.count
        reporter = meta.org_name or meta.email
        self.reporters.setdefault(reporter, None)
        for day, n in spread_over_days(dr.begin, dr.end, record.count):
            self.per_day[day] += n
        if label:
            self.labels[label] += record.count
        for reason in record.policy_evaluated.reason:
            self.reasons[reason.type] += record.count
        pe = record.policy_evaluated
        self.evidence.append(
            Evidence(
                reporter=reporter,
                report_id=meta.report_id,
                begin=dr.begin,
                end=dr.end,
                count=record.count,
                header_from=record.identifiers.header_from,
                disposition=pe.disposition,
                dkim=pe.dkim,
                spf=pe.spf,
                auth=auth_line(record),
            )
        )


def advice_for(
    kind: FindingKind, label: str | None, reasons: Iterable[str] = (), *, internal: bool = True
) -> str:
    """The one- or two-sentence advice, naming the configured sender and override hints.

    ``internal`` False means an ``internal_no_dkim`` source is outside the configured networks and
    counts as ours only because our SPF record authorises it.
    """
    text = ADVICE[kind] if internal or kind != "internal_no_dkim" else SPF_AUTHORISED_ADVICE
    if kind == "dkim_broken" and "mailing_list" in set(reasons):
        text += " Receivers marked this traffic as a mailing list."
    if label:
        text += f" Known sender: {label}."
    return text


def find_findings(
    reports: Iterable[AggregateReport],
    config: Config,
    ptrs: Mapping[str, str | None] | None = None,
    *,
    since: int | None = None,
    until: int | None = None,
) -> list[Finding]:
    """Every finding, per (source, kind), ranked (see :func:`rank`).

    Args:
        reports: distinct aggregate reports (``ScanResult.counted_reports()``).
        config: own domains, networks, senders and contacts. Own domains default to the policy
            domains of the reports.
        ptrs: known reverse-DNS names by IP, used for PTR-glob senders/contacts and shown.
        since, until: epoch bounds of the period; reports overlapping it count.
    """
    chosen = [r for r in reports if in_period(r, since, until)]
    cfg, shared = triage_context(config, chosen)
    names = ptrs or {}
    accs: dict[tuple[str, FindingKind], FindingCounts] = defaultdict(FindingCounts)
    for report in chosen:
        for record in report.records:
            if not cfg.is_own_domain(record.identifiers.header_from):
                continue
            ptr = names.get(record.source_ip)
            verdict = classify(record, cfg, ptr, shared)
            if verdict.cause is not None:
                accs[(record.source_ip, verdict.cause)].add(report, record, verdict.label)
            if verdict.enforced:
                accs[(record.source_ip, "enforced")].add(report, record, verdict.label)
    findings = [
        build_finding(ip, kind, acc, cfg, names.get(ip)) for (ip, kind), acc in accs.items()
    ]
    return rank(findings)


def build_finding(
    ip: str, kind: FindingKind, acc: FindingCounts, cfg: Config, ptr: str | None
) -> Finding:
    """The finding of ``(ip, kind)`` from its counts; ``ptr`` is a forward-confirmed name."""
    evidence = sorted(acc.evidence, key=lambda e: (e.begin, e.reporter, e.report_id))
    return finding_of(
        ip, kind, acc.messages, acc.first, acc.last, acc.header_from, acc.reporters,
        acc.per_day, acc.labels, acc.reasons, cfg, ptr, tuple(evidence),
    )  # fmt: skip


def finding_of(
    ip: str,
    kind: FindingKind,
    messages: int,
    first: int | None,
    last: int | None,
    header_from: Mapping[str, int],
    reporters: Iterable[str],
    per_day: Mapping[str, int],
    labels: Mapping[str, int],
    reasons: Iterable[str],
    cfg: Config,
    ptr: str | None,
    evidence: tuple[Evidence, ...] = (),
) -> Finding:
    """A finding from what it counts, held in any mappings: a stored result's parsed JSON
    becomes findings without being copied into :class:`FindingCounts` first."""
    contact = cfg.contact_for(ip, ptr)
    network = cfg.internal_network(ip)
    label = top(labels) if labels else None
    return Finding(
        source_ip=ip,
        kind=kind,
        severity=SEVERITY[kind],
        messages=messages,
        header_from=top(header_from),
        first_seen=first or 0,
        last_seen=last or 0,
        advice=advice_for(kind, label, reasons, internal=network is not None),
        ptr=ptr,
        contact=contact.name if contact else None,
        contact_email=contact.email if contact else None,
        network=str(network) if network else None,
        reporters=tuple(sorted(reporters)),
        per_day=tuple(sorted(per_day.items())),
        evidence=evidence,
    )


def top(counter: Mapping[str, int]) -> str:
    """The most frequent key; ties go to the smallest, so every way of counting agrees."""
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def with_unconfirmed(findings: Iterable[Finding], names: Mapping[str, str]) -> list[Finding]:
    """Findings showing the PTR names that are not forward-confirmed, marked as such."""
    return [
        replace(f, ptr_unconfirmed=names[f.source_ip])
        if f.ptr is None and f.source_ip in names
        else f
        for f in findings
    ]


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; within a severity, the most messages first; then by source."""
    return sorted(
        findings,
        key=lambda f: (SEVERITY_ORDER[f.severity], -f.messages, f.source_ip, f.kind),
    )


def problems(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if is_problem(f.kind)]


def finding_to_dict(finding: Finding, *, evidence: bool = True) -> dict[str, object]:
    """A finding as plain JSON-ready data (``flagged --json``, exports)."""
    data: dict[str, object] = {
        "source_ip": finding.source_ip,
        "kind": finding.kind,
        "severity": finding.severity,
        "problem": is_problem(finding.kind),
        "messages": finding.messages,
        "header_from": finding.header_from,
        "first_seen": finding.first_seen,
        "last_seen": finding.last_seen,
        "ptr": finding.ptr,
        "ptr_unconfirmed": finding.ptr_unconfirmed,
        "contact": finding.contact,
        "contact_email": finding.contact_email,
        "network": finding.network,
        "reporters": list(finding.reporters),
        "per_day": dict(finding.per_day),
        "advice": finding.advice,
    }
    if evidence:
        data["evidence"] = [
            {
                "reporter": e.reporter,
                "report_id": e.report_id,
                "begin": e.begin,
                "end": e.end,
                "count": e.count,
                "header_from": e.header_from,
                "disposition": e.disposition,
                "dkim": e.dkim,
                "spf": e.spf,
                "auth": e.auth,
            }
            for e in finding.evidence
        ]
    return data
