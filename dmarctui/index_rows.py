"""Model objects to index rows and back.

Rows are plain tuples of str/int/float, so a worker process can build them and hand them to the
single writer cheaply (pickling tuples is much faster than pickling dataclasses).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache
from json.encoder import encode_basestring as _encode_str  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, NamedTuple

from dmarctui.index_schema import ip_key
from dmarctui.model import (
    AggregateReport,
    DateRange,
    DkimAuthResult,
    FailureReport,
    FoundReport,
    Identifiers,
    Normalisation,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    Repair,
    ReportMetadata,
    SpfAuthResult,
    TlsFailureDetail,
    TlsPolicy,
    TlsReport,
)

if TYPE_CHECKING:  # rows are made in the parser's processes: a warm command needs neither
    from dmarctui.analysis import MessageOutcome

REPORT_COLUMNS = (
    "part", "filename", "content_key", "records_key", "policy_key", "org_name", "email",
    "report_id", "begin", "end", "extra_contact_info", "errors", "generator", "domain", "p",
    "adkim", "aspf", "sp", "np", "pct", "fo", "testing", "discovery_method", "version",
    "namespace", "normalised", "repairs", "status", "record_count", "messages_total", "passed",
    "failed", "d_none", "d_quarantine", "d_reject",
)  # fmt: skip
RECORD_COLUMNS = (
    "idx", "source_ip", "count", "disposition", "dkim", "spf", "reasons", "header_from",
    "envelope_from", "envelope_to", "auth_dkim", "auth_spf", "ip_key",
)  # fmt: skip
FAILURE_COLUMNS = ("idx", "digest", "source_ip", "arrival_epoch", "data")
TLS_COLUMNS = ("idx", "digest", "organization_name", "report_id", "begin", "end", "data")


class MessageRows(NamedTuple):
    """Everything the index stores about one message, built where the message was parsed."""

    key: str
    location: str
    size: int
    mtime: float
    sha256: str | None
    summary: tuple[str, str, str, str]
    not_report_reason: str | None
    reports: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]
    failures: list[tuple[Any, ...]]
    tls: list[tuple[Any, ...]]
    problems: list[tuple[str | None, str | None, str]]


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON; one encoder for every row (``json.dumps`` with options builds one per call)."""


def _json_rows(rows: list[list[str | None]]) -> str:
    """``_dumps(rows)`` for lists of strings and nulls, without the encoder's per-call set-up.

    Three of these per record, 25 records per report: the generic encoder cost 0.15 ms/message.
    """
    try:
        inner = (",".join("null" if v is None else _encode_str(v) for v in row) for row in rows)
        return "[" + ",".join(f"[{items}]" for items in inner) + "]"
    except TypeError:  # not a string after all: let the encoder say how it is spelt
        return _dumps(rows)


_ip_key = lru_cache(maxsize=1 << 16)(ip_key)
"""The same source addresses recur in report after report."""


def message_rows(outcome: MessageOutcome, sha256: str | None) -> MessageRows:
    from dmarctui.ledger import other_digest

    ref, summary = outcome.ref, outcome.summary
    return MessageRows(
        key=ref.key,
        location=ref.location,
        size=ref.size,
        mtime=ref.mtime,
        sha256=sha256,
        summary=(summary.subject, summary.sender, summary.date, summary.message_id),
        not_report_reason=outcome.not_report_reason,
        reports=[(report_row(found), record_rows(found.report)) for found in outcome.reports],
        failures=[
            (i, other_digest(f), f.source_ip, f.arrival_epoch, _dumps(asdict(f)))
            for i, f in enumerate(outcome.failures)
        ],
        tls=[
            (
                i,
                other_digest(t),
                t.organization_name,
                t.report_id,
                t.begin,
                t.end,
                _dumps(asdict(t)),
            )
            for i, t in enumerate(outcome.tls)
        ],
        problems=[(p.part, p.filename, p.reason) for p in outcome.problems],
    )


def report_row(found: FoundReport) -> tuple[Any, ...]:
    from dmarctui.ledger import report_facts

    report = found.report
    meta, policy = report.report_metadata, report.policy_published
    facts = report_facts(found)
    passed = disposition_none = quarantine = reject = 0
    for record in report.records:
        evaluated = record.policy_evaluated
        if evaluated.dkim == "pass" or evaluated.spf == "pass":
            passed += record.count
        if evaluated.disposition == "quarantine":
            quarantine += record.count
        elif evaluated.disposition == "reject":
            reject += record.count
        elif evaluated.disposition == "none":
            disposition_none += record.count
    total = report.messages_total
    return (
        found.part, found.filename, found.content_key, facts.records_key, facts.policy_key,
        meta.org_name, meta.email, meta.report_id, meta.date_range.begin, meta.date_range.end,
        meta.extra_contact_info, _dumps(list(meta.error)), meta.generator, policy.domain,
        policy.p, policy.adkim, policy.aspf, policy.sp, policy.np, policy.pct, policy.fo,
        policy.testing, policy.discovery_method, report.version, report.namespace,
        _dumps([asdict(n) for n in report.normalised]),
        _dumps([asdict(r) for r in report.repairs]), report.status, len(report.records), total,
        passed, total - passed, disposition_none, quarantine, reject,
    )  # fmt: skip


def record_rows(report: AggregateReport) -> list[tuple[Any, ...]]:
    rows = []
    for i, record in enumerate(report.records):
        evaluated, ids = record.policy_evaluated, record.identifiers
        reasons, dkim, spf = _auth_columns(evaluated.reason, record.dkim, record.spf)
        rows.append((
            i, record.source_ip, record.count, evaluated.disposition, evaluated.dkim,
            evaluated.spf, reasons, ids.header_from, ids.envelope_from, ids.envelope_to,
            dkim, spf, _ip_key(record.source_ip),
        ))  # fmt: skip
    return rows


_AUTH_MEMO_SIZE = 4096
_auth_memo: dict[tuple[object, ...], tuple[object, tuple[str, str, str]]] = {}
"""The reasons, auth_dkim and auth_spf columns by the values they encode: records repeat them.
Looked up by the values' identities first, as ``aggregate._digest_parts`` does (each entry
holds its key objects, so their ids stay theirs), then by value."""


def _auth_columns(
    reasons: tuple[PolicyOverrideReason, ...],
    dkim: tuple[DkimAuthResult, ...],
    spf: tuple[SpfAuthResult, ...],
) -> tuple[str, str, str]:
    same = (id(reasons), id(dkim), id(spf))
    hit = _auth_memo.get(same)
    if hit is not None:
        return hit[1]
    key = (reasons, dkim, spf)
    hit = _auth_memo.get(key)
    if hit is not None:
        columns = hit[1]
    else:
        columns = (
            _json_rows([[r.type, r.comment] for r in reasons]),
            _json_rows([[d.domain, d.result, d.selector, d.human_result] for d in dkim]),
            _json_rows([[s.domain, s.result, s.scope, s.human_result] for s in spf]),
        )
    if sum(map(len, columns)) <= 1024:
        if len(_auth_memo) >= 2 * _AUTH_MEMO_SIZE:
            _auth_memo.clear()
        _auth_memo[same] = _auth_memo[key] = (key, columns)
    return columns


# --------------------------------------------------------------------------- rows to objects

REPORT_SELECT = ", ".join(f"r.{c}" for c in REPORT_COLUMNS)
RECORD_OWN_COLUMNS = ("idx", "count", "envelope_from", "envelope_to")
"""What a ``records`` row stores of its own; the rest is its combination's (``combos``)."""
RECORD_X = ", ".join(f"x.{c}" if c in RECORD_OWN_COLUMNS else f"c.{c}" for c in RECORD_COLUMNS[:-1])
"""A record's columns for :func:`record_from_row`, read from :data:`RECORDS_X`."""
RECORDS_X = "records x CROSS JOIN combos c ON c.id = x.combo_id"
"""Records (``x``) with their combinations (``c``), each looked up by its id."""


def record_from_row(row: tuple[Any, ...]) -> Record:
    (_, source_ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,
     envelope_to, auth_dkim, auth_spf) = row  # fmt: skip
    return Record(
        source_ip=source_ip,
        count=count,
        policy_evaluated=PolicyEvaluated(
            disposition,
            dkim,
            spf,
            tuple(PolicyOverrideReason(t, c) for t, c in json.loads(reasons)),
        ),
        identifiers=Identifiers(header_from, envelope_from, envelope_to),
        dkim=tuple(DkimAuthResult(d, r, s, h) for d, r, s, h in json.loads(auth_dkim)),
        spf=tuple(SpfAuthResult(d, r, s, h) for d, r, s, h in json.loads(auth_spf)),
    )


def report_from_row(row: tuple[Any, ...], records: tuple[Record, ...]) -> AggregateReport:
    v = dict(zip(REPORT_COLUMNS, row, strict=True))
    return AggregateReport(
        report_metadata=ReportMetadata(
            org_name=v["org_name"],
            email=v["email"],
            report_id=v["report_id"],
            date_range=DateRange(v["begin"], v["end"]),
            extra_contact_info=v["extra_contact_info"],
            error=tuple(json.loads(v["errors"])),
            generator=v["generator"],
        ),
        policy_published=PolicyPublished(
            domain=v["domain"],
            p=v["p"],
            adkim=v["adkim"],
            aspf=v["aspf"],
            sp=v["sp"],
            np=v["np"],
            pct=v["pct"],
            fo=v["fo"],
            testing=v["testing"],
            discovery_method=v["discovery_method"],
        ),
        records=records,
        version=v["version"],
        namespace=v["namespace"],
        normalised=tuple(Normalisation(**n) for n in json.loads(v["normalised"])),
        repairs=tuple(Repair(**r) for r in json.loads(v["repairs"])),
    )


def failure_from_json(data: str) -> FailureReport:
    values: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in json.loads(data).items()
    }
    return FailureReport(**values)


def tls_from_json(data: str) -> TlsReport:
    values = json.loads(data)
    policies = tuple(
        TlsPolicy(
            **{
                **policy,
                "mx_hosts": tuple(policy["mx_hosts"]),
                "failure_details": tuple(TlsFailureDetail(**d) for d in policy["failure_details"]),
            }
        )
        for policy in values.pop("policies")
    )
    return TlsReport(**values, policies=policies)
