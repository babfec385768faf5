"""The domain model: messages, payloads, reports and findings as typed, frozen dataclasses.

Field names follow the XML of RFC 7489 / RFC 9990 (``report_metadata``, ``policy_published``,
``policy_evaluated`` ...) so that a reader who knows the reports recognises them. Every module of
the core speaks in these types; the TUI only renders them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Bucket = Literal["aggregate", "failure", "tls", "duplicate", "not_report", "error"]
BUCKETS: tuple[Bucket, ...] = ("aggregate", "failure", "tls", "duplicate", "not_report", "error")

FolderFormat = Literal["maildir", "mh", "mbox", "imap"]


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where one message lives in the folder, and the facts that tell whether it changed.

    ``key`` is stable across runs: the Maildir unique name without its ``:2,`` info part, the MH
    number plus size and mtime, or the mbox byte offset plus a hash of the message bytes.
    """

    key: str
    location: str
    """Path relative to the folder (Maildir, MH) or ``offset:length`` (mbox)."""
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """The headers a person uses to recognise a message in a list."""

    subject: str = ""
    sender: str = ""
    date: str = ""
    message_id: str = ""


# --------------------------------------------------------------------------- aggregate reports


@dataclass(frozen=True, slots=True)
class DateRange:
    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    org_name: str
    email: str
    report_id: str
    date_range: DateRange
    extra_contact_info: str | None = None
    error: tuple[str, ...] = ()
    generator: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    domain: str
    p: str
    adkim: str | None = None
    aspf: str | None = None
    sp: str | None = None
    np: str | None = None
    pct: int | None = None
    fo: str | None = None
    testing: str | None = None
    discovery_method: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyOverrideReason:
    type: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyEvaluated:
    disposition: str
    dkim: str
    spf: str
    reason: tuple[PolicyOverrideReason, ...] = ()


@dataclass(frozen=True, slots=True)
class Identifiers:
    header_from: str
    envelope_from: str | None = None
    envelope_to: str | None = None


@dataclass(frozen=True, slots=True)
class DkimAuthResult:
    domain: str
    result: str
    selector: str | None = None
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class SpfAuthResult:
    domain: str
    result: str
    scope: str | None = None
    human_result: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One ``<record>``: a source IP and what the receiver saw from it."""

    source_ip: str
    count: int
    policy_evaluated: PolicyEvaluated
    identifiers: Identifiers
    dkim: tuple[DkimAuthResult, ...] = ()
    spf: tuple[SpfAuthResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Normalisation:
    """A value we changed to its canonical spelling, kept so the original stays visible."""

    where: str
    """A path such as ``record[3]/auth_results/spf[0]/result``."""
    original: str
    value: str


@dataclass(frozen=True, slots=True)
class Repair:
    """A byte-level repair that let a strictly invalid document parse."""

    kind: str
    """``reencoded`` (bytes outside the declared encoding) or ``control_chars`` (stray C0)."""
    line: int
    column: int
    detail: str


@dataclass(frozen=True, slots=True)
class AggregateReport:
    report_metadata: ReportMetadata
    policy_published: PolicyPublished
    records: tuple[Record, ...]
    version: str | None = None
    namespace: str | None = None
    normalised: tuple[Normalisation, ...] = ()
    repairs: tuple[Repair, ...] = ()

    @property
    def status(self) -> Literal["ok", "recovered"]:
        return "recovered" if self.repairs else "ok"

    @property
    def messages_total(self) -> int:
        return sum(r.count for r in self.records)


# --------------------------------------------------------------------------- failure and TLS


@dataclass(frozen=True, slots=True)
class FailureReport:
    """A DMARC failure (ruf) report: ARF (RFC 5965/6591/9991) or the plain-text variant."""

    format: Literal["arf", "text"]
    feedback_type: str | None = None
    auth_failure: tuple[str, ...] = ()
    source_ip: str | None = None
    reported_domain: tuple[str, ...] = ()
    original_mail_from: str | None = None
    original_rcpt_to: tuple[str, ...] = ()
    arrival_date: str | None = None
    arrival_epoch: int | None = None
    delivery_result: str | None = None
    dkim_domain: str | None = None
    dkim_selector: str | None = None
    identity_alignment: str | None = None
    authentication_results: str | None = None
    reporting_mta: str | None = None
    user_agent: str | None = None
    original_from: str | None = None
    original_to: str | None = None
    original_subject: str | None = None
    original_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class TlsFailureDetail:
    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    policy_type: str
    policy_domain: str
    successful: int
    failed: int
    mx_hosts: tuple[str, ...] = ()
    failure_details: tuple[TlsFailureDetail, ...] = ()


@dataclass(frozen=True, slots=True)
class TlsReport:
    """An SMTP TLS report (RFC 8460), summarised."""

    organization_name: str
    report_id: str
    begin: int
    end: int
    contact_info: str | None = None
    policies: tuple[TlsPolicy, ...] = ()

    @property
    def successful(self) -> int:
        return sum(p.successful for p in self.policies)

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.policies)


# --------------------------------------------------------------------------- scan results


@dataclass(frozen=True, slots=True)
class FoundReport:
    """An aggregate report and where it came from."""

    message: str
    """The key of the message (``MessageRef.key``)."""
    part: str
    """The MIME part path, with ``/member`` appended for a zip member, e.g. ``2`` or ``2/a.xml``."""
    filename: str | None
    report: AggregateReport
    content_key: str
    """Hash of the normalised report content: equal keys are the same report."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message, or one payload in it, did not yield a report."""

    message: str
    reason: str
    part: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class Duplicate:
    message: str
    duplicate_of: str
    why: str
    report_id: str = ""


CollisionReason = Literal["different_email", "date_range_only", "other"]


@dataclass(frozen=True, slots=True)
class Collision:
    """Reports that share a ``report_id`` but not their content; both stay listed."""

    report_id: str
    first: str
    """``message#part`` of the report seen first."""
    second: str
    reason: CollisionReason
    detail: str
    counted_once: bool
    """True when only ``date_range`` differs and every record is identical."""


# --------------------------------------------------------------------------- triage

FindingKind = Literal[
    "internal_no_dkim",
    "dkim_broken",
    "unaligned_third_party",
    "forwarded",
    "outside_spoofing",
    "enforced",
]
Severity = Literal["urgent", "high", "medium", "low", "info"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record behind a finding."""

    reporter: str
    report_id: str
    begin: int
    end: int
    count: int
    header_from: str
    disposition: str
    dkim: str
    spf: str
    auth: str
    """Auth results in one line, e.g. ``dkim=example.ac.jp:fail spf=lab.example.ac.jp:pass``."""


@dataclass(frozen=True, slots=True)
class Finding:
    source_ip: str
    kind: FindingKind
    severity: Severity
    messages: int
    header_from: str
    first_seen: int
    last_seen: int
    advice: str
    ptr: str | None = None
    contact: str | None = None
    contact_email: str | None = None
    network: str | None = None
    reporters: tuple[str, ...] = ()
    per_day: tuple[tuple[str, int], ...] = ()
    """(ISO date, messages) pairs, oldest first."""
    ptr_unconfirmed: str | None = None
    """A PTR name that does not resolve back to the address: shown as such, never matched
    (``ptr`` holds only forward-confirmed names)."""
    evidence: tuple[Evidence, ...] = field(default=(), compare=False)
