"""The DMARC policy the receivers saw, for the letter's policy sentence.

A letter says what our policy is only as the reports show it: for each policy domain that the
letter's sources sent as, the ``p=`` of the latest report (by its period) of that domain. The
facts come from parsed reports, or from the index's report rows (without loading every
report).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from dmarctui.index_queries import ReportFilter
from dmarctui.model import AggregateReport

if TYPE_CHECKING:
    from dmarctui.index import Index


def _latest(seen: Iterable[tuple[str, str, int]]) -> dict[str, str]:
    latest: dict[str, tuple[int, str]] = {}
    for domain, p, end in seen:
        name = domain.strip().rstrip(".").lower()
        if name and (name not in latest or end >= latest[name][0]):
            latest[name] = (end, p.strip().lower())
    return {domain: p for domain, (_, p) in latest.items()}


def policies_in_reports(reports: Iterable[AggregateReport], ips: Iterable[str]) -> dict[str, str]:
    """Policy domain -> ``p=`` of its latest report, for the domains the ``ips`` sent as."""
    chosen = list(reports)
    wanted = set(ips)
    domains = {
        r.policy_published.domain.strip().rstrip(".").lower()
        for r in chosen
        if any(rec.source_ip in wanted for rec in r.records)
    }
    latest = _latest(
        (r.policy_published.domain, r.policy_published.p, r.report_metadata.date_range.end)
        for r in chosen
    )
    return {d: p for d, p in latest.items() if d in domains}


def policies_in_rows(rows: Iterable[tuple[str, str, int]]) -> dict[str, str]:
    """The same from ``(domain, p, end)`` of the latest report of each domain (the index)."""
    return _latest(rows)


def policies_in_index(index: Index, ips: Iterable[str]) -> dict[str, str]:
    """The same read from the index: the domains ``ips`` sent as, each with its latest report's
    ``p=`` (one row per domain, so a source with a year of records costs no more)."""
    domains = {row.domain for ip in dict.fromkeys(ips) for row, _ in index.records_for_source(ip)}
    rows = [
        (row.domain, row.p, row.end)
        for domain in sorted(domains)
        for row in index.reports_page(
            ReportFilter(domain=domain), sort="end", descending=True, limit=1
        )
    ]
    return policies_in_rows(rows)
