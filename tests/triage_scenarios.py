"""Labelled triage scenarios built in code: a campus like the seed's.

The department ``example.ac.jp`` signs with DKIM on its mail server. Around it: lab servers that
send with the department's From without going through it, a lab mailing list and an outside list
that add footers, an outside forwarder, a SaaS sending as us with its own DKIM, a newsletter
service that signs for us properly, and spoofers. Three receivers report, one of them with days
that start at JST midnight, so reports overlap in time.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from dmarctui.config import Config, parse_config
from dmarctui.model import (
    AggregateReport,
    DateRange,
    DkimAuthResult,
    FindingKind,
    Identifiers,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    ReportMetadata,
    SpfAuthResult,
)

DOMAIN = "example.ac.jp"
DAY = 86400
DAY0 = 1730419200  # 2024-11-01T00:00:00Z
JST = 9 * 3600

CAMPUS_TOML = """
[domains]
own = ["example.ac.jp"]
include_subdomains = true
[networks]
internal = ["192.0.2.0/24", "2001:db8::/32"]
[[senders]]
match = "*.lists.example.org"
label = "Society mailing list"
role = "mailing_list"
[[senders]]
match = "198.51.100.60/32"
label = "Newsletter service"
role = "third_party"
[[senders]]
match = "198.51.100.20"
label = "Alumni forwarder"
role = "forwarder"
[[contacts]]
match = "*.lab1.example.ac.jp"
name = "Lab 1 server admin"
email = "admin@lab1.example.ac.jp"
lang = "ja"
[[contacts]]
match = "2001:db8:2::/48"
name = "Lab 2 admin"
email = "root@lab2.example.ac.jp"
lang = "en"
"""

PTRS: dict[str, str | None] = {
    "192.0.2.1": "mail.example.ac.jp",
    "192.0.2.70": "mail.lab1.example.ac.jp.",
    "192.0.2.80": "ml.lab3.example.ac.jp",
    "203.0.113.10": "mx1.lists.example.org",
    "198.51.100.50": "o1.ptr.sendgrid.example",
    "203.0.113.66": None,
}


def campus_config() -> Config:
    config, problems = parse_config(tomllib.loads(CAMPUS_TOML))
    assert problems == []
    return config


def dkim(domain: str, result: str, selector: str = "s1") -> DkimAuthResult:
    return DkimAuthResult(domain=domain, result=result, selector=selector)


def spf(domain: str, result: str) -> SpfAuthResult:
    return SpfAuthResult(domain=domain, result=result, scope="mfrom")


def record(
    ip: str,
    count: int,
    *,
    pe: tuple[str, str],
    header_from: str = DOMAIN,
    dkims: tuple[DkimAuthResult, ...] = (),
    spfs: tuple[SpfAuthResult, ...] = (),
    disposition: str = "none",
    reasons: tuple[str, ...] = (),
) -> Record:
    return Record(
        source_ip=ip,
        count=count,
        policy_evaluated=PolicyEvaluated(
            disposition=disposition,
            dkim=pe[0],
            spf=pe[1],
            reason=tuple(PolicyOverrideReason(r) for r in reasons),
        ),
        identifiers=Identifiers(header_from=header_from),
        dkim=dkims,
        spf=spfs,
    )


def report(
    org: str,
    report_id: str,
    begin: int,
    end: int,
    records: tuple[Record, ...],
    *,
    policy: PolicyPublished | None = None,
) -> AggregateReport:
    return AggregateReport(
        report_metadata=ReportMetadata(
            org_name=org,
            email=f"noreply-dmarc@{org.lower()}",
            report_id=report_id,
            date_range=DateRange(begin, end),
        ),
        policy_published=policy
        or PolicyPublished(domain=DOMAIN, p="none", adkim="r", aspf="r", sp="none", pct=100),
        records=records,
    )


@dataclass(frozen=True)
class Source:
    """One seeded source and what triage must say about it."""

    ip: str
    story: str
    kinds: tuple[FindingKind, ...]
    """Expected finding kinds; empty means clean (no finding at all)."""


SOURCES: tuple[Source, ...] = (
    Source("192.0.2.1", "department server, signs aligned", ()),
    Source("192.0.2.70", "lab 1 server sends as the department", ("internal_no_dkim",)),
    Source("2001:db8:2::25", "lab 2 IPv6 server sends as the department", ("internal_no_dkim",)),
    Source("2001:db8:3::25", "lab 3 IPv6 server uses its own subdomain From", ()),
    Source("192.0.2.90", "lab 4 sends with its subdomain From, outside SPF", ("internal_no_dkim",)),
    Source("192.0.2.71", "lab server outside SPF, quarantined", ("internal_no_dkim", "enforced")),
    Source("192.0.2.80", "lab 3 mailing list adds a footer", ("dkim_broken",)),
    Source("203.0.113.10", "outside society list adds a tag", ("dkim_broken",)),
    Source("198.51.100.20", "configured alumni forwarder", ("forwarded",)),
    Source("203.0.113.30", "unknown outside forwarder", ("forwarded",)),
    Source("198.51.100.50", "SaaS signing only its own domain", ("unaligned_third_party",)),
    Source("198.51.100.60", "newsletter service signing for us", ()),
    Source("203.0.113.66", "spoofer", ("outside_spoofing",)),
    Source("3fff:0:1::666", "IPv6 spoofer, rejected by one receiver", ("outside_spoofing",)),
    Source("203.0.113.99", "sends with someone else's From", ()),
)

EXPECTED_MESSAGES: dict[tuple[str, FindingKind], int] = {
    ("192.0.2.70", "internal_no_dkim"): 12 + 7 + 5,
    ("2001:db8:2::25", "internal_no_dkim"): 4 + 2,
    ("192.0.2.71", "internal_no_dkim"): 3 + 1,
    ("192.0.2.90", "internal_no_dkim"): 3,
    ("192.0.2.71", "enforced"): 1,
    ("192.0.2.80", "dkim_broken"): 30 + 20,
    ("203.0.113.10", "dkim_broken"): 9,
    ("198.51.100.20", "forwarded"): 6 + 6,
    ("203.0.113.30", "forwarded"): 2,
    ("198.51.100.50", "unaligned_third_party"): 40 + 15,
    ("203.0.113.66", "outside_spoofing"): 3 + 8,
    ("3fff:0:1::666", "outside_spoofing"): 2 + 5,
}


def _google(day: int) -> tuple[Record, ...]:
    """Google's view of day ``day`` (0 or 1)."""
    return (
        record(
            "192.0.2.1",
            120,
            pe=("pass", "pass"),
            dkims=(dkim(DOMAIN, "pass"),),
            spfs=(spf(DOMAIN, "pass"),),
        ),
        record("192.0.2.70", (12, 7)[day], pe=("fail", "pass"), spfs=(spf(DOMAIN, "pass"),)),
        record(
            "192.0.2.80",
            (30, 20)[day],
            pe=("fail", "pass"),
            dkims=(dkim(DOMAIN, "fail"),),
            spfs=(spf("lab3.example.ac.jp", "pass"),),
        ),
        record(
            "198.51.100.20",
            6,
            pe=("pass", "fail"),
            dkims=(dkim(DOMAIN, "pass"),),
            spfs=(spf(DOMAIN, "fail"),),
        ),
        record(
            "198.51.100.50",
            (40, 15)[day],
            pe=("fail", "fail"),
            dkims=(dkim("sendgrid.example", "pass"),),
            spfs=(spf("em.sendgrid.example", "pass"),),
        ),
        record(
            "198.51.100.60",
            25,
            pe=("pass", "fail"),
            dkims=(dkim(DOMAIN, "pass"),),
            spfs=(spf("bounce.newsletter.example", "pass"),),
        ),
        record("203.0.113.66", (3, 8)[day], pe=("fail", "fail"), spfs=(spf(DOMAIN, "softfail"),)),
        record(
            "203.0.113.99",
            50,
            pe=("fail", "fail"),
            header_from="other.example",
            spfs=(spf("other.example", "fail"),),
        ),
    )


def campus_reports() -> list[AggregateReport]:
    """Five reports from three receivers over two days; the Yahoo day is JST, so it overlaps."""
    lab2 = "2001:db8:2::25"
    spoofer6 = "3fff:0:1::666"
    return [
        report("google.com", "g-1", DAY0, DAY0 + DAY - 1, _google(0)),
        report("google.com", "g-2", DAY0 + DAY, DAY0 + 2 * DAY - 1, _google(1)),
        report(
            "Outlook.com",
            "o-1",
            DAY0,
            DAY0 + DAY,
            (
                record(
                    "192.0.2.70",
                    5,
                    pe=("fail", "pass"),
                    dkims=(dkim(DOMAIN, "none"),),
                    spfs=(spf(DOMAIN, "pass"),),
                ),
                record(
                    lab2,
                    4,
                    pe=("fail", "pass"),
                    spfs=(spf("lab2.example.ac.jp", "pass"),),
                ),
                record("192.0.2.71", 3, pe=("fail", "fail"), spfs=(spf(DOMAIN, "fail"),)),
                record(
                    "2001:db8:3::25",
                    8,
                    pe=("fail", "pass"),
                    header_from="lab3.example.ac.jp",
                    spfs=(spf("lab3.example.ac.jp", "pass"),),
                ),
                record(
                    "192.0.2.90",
                    3,
                    pe=("fail", "fail"),
                    header_from="lab4.example.ac.jp",
                    spfs=(spf("lab4.example.ac.jp", "fail"),),
                ),
                record(
                    "203.0.113.10",
                    9,
                    pe=("fail", "fail"),
                    reasons=("mailing_list",),
                    dkims=(dkim(DOMAIN, "fail"), dkim("lists.example.org", "pass")),
                    spfs=(spf("lists.example.org", "pass"),),
                ),
                record(spoofer6, 2, pe=("fail", "fail"), spfs=(spf(DOMAIN, "fail"),)),
            ),
        ),
        report(
            "Yahoo",
            "y-1",
            DAY0 + DAY - JST,
            DAY0 + 2 * DAY - JST - 1,
            (
                record(
                    lab2,
                    2,
                    pe=("fail", "pass"),
                    spfs=(spf("lab2.example.ac.jp", "pass"),),
                ),
                record(
                    "192.0.2.71",
                    1,
                    pe=("fail", "fail"),
                    disposition="quarantine",
                    spfs=(spf(DOMAIN, "fail"),),
                ),
                record(
                    "203.0.113.30",
                    2,
                    pe=("pass", "fail"),
                    dkims=(dkim(DOMAIN, "pass"),),
                    spfs=(spf("forwarder.example", "pass"),),
                ),
                record(
                    spoofer6,
                    5,
                    pe=("fail", "fail"),
                    disposition="reject",
                    spfs=(spf(DOMAIN, "fail"),),
                ),
            ),
            policy=PolicyPublished(domain=DOMAIN, p="none", adkim="r", aspf="r", sp="none", pct=50),
        ),
    ]
