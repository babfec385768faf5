"""Scan results as plain data: the shape of ``dmarctui scan --json``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dmarctui.model import FoundReport, TlsReport
from dmarctui.scan import ScanResult


def found_report_to_dict(result: ScanResult, found: FoundReport) -> dict[str, Any]:
    report = found.report
    meta = report.report_metadata
    ref = result.refs.get(found.message)
    return {
        "message": found.message,
        "location": ref.location if ref else None,
        "part": found.part,
        "filename": found.filename,
        "org_name": meta.org_name,
        "email": meta.email,
        "report_id": meta.report_id,
        "begin": meta.date_range.begin,
        "end": meta.date_range.end,
        "domain": report.policy_published.domain,
        "p": report.policy_published.p,
        "records": len(report.records),
        "messages_total": report.messages_total,
        "status": report.status,
        "counted": result.is_counted(found),
        "repairs": [asdict(r) for r in report.repairs],
        "normalised": [asdict(n) for n in report.normalised],
    }


def scan_to_dict(result: ScanResult) -> dict[str, Any]:
    """Everything a scan learnt, JSON-ready; every message is in exactly one bucket."""
    return {
        "folder": str(result.folder),
        "format": result.format,
        "messages": result.messages,
        "cancelled": result.cancelled,
        "buckets": result.buckets,
        "reports": [found_report_to_dict(result, f) for f in result.reports],
        "failures": [{"message": f.message, **asdict(f.report)} for f in result.failures],
        "tls": [tls_to_dict(t.message, t.report) for t in result.tls],
        "duplicates": [asdict(d) for d in result.duplicates],
        "collisions": [asdict(c) for c in result.collisions],
        "errors": [
            {"message": e.message, "reason": e.reason, "part": e.part, "filename": e.filename}
            for e in result.errors
        ],
        "warnings": [
            {"message": w.message, "reason": w.reason, "part": w.part, "filename": w.filename}
            for w in result.warnings
        ],
        "not_reports": [
            {"message": n.message, "reason": n.reason} for n in result.ledger.not_reports
        ],
    }


def tls_to_dict(message: str, report: TlsReport) -> dict[str, Any]:
    """A TLS report as ``scan --json`` lists it (the in-memory scan and the index alike)."""
    return {
        "message": message,
        "organization_name": report.organization_name,
        "report_id": report.report_id,
        "begin": report.begin,
        "end": report.end,
        "policy_domains": sorted({p.policy_domain for p in report.policies}),
        "successful": report.successful,
        "failed": report.failed,
    }
