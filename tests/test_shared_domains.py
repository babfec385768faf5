"""The seed's department-domain layout: a shared From domain of ours vs a lab's own subdomain.

The university is ``example.ac.jp``; the department domain ``sub.example.ac.jp`` is a subdomain
of it, publishes its own DMARC policy (``p=quarantine; sp=none``) and is signed by the department
server. Lab servers sending with the department address, SPF passing and no DKIM, are what the
seed had to find; a lab using its own subdomain From (``lab1.sub.example.ac.jp``) has followed the
advice and is clean.
"""

from __future__ import annotations

import tomllib

import pytest
from triage_scenarios import DAY, DAY0, dkim, record, report, spf

from dmarctui.cli import readiness as readiness_cmd
from dmarctui.config import Config, parse_config
from dmarctui.digest import _readiness_line
from dmarctui.model import AggregateReport, PolicyPublished, Record
from dmarctui.readiness import readiness
from dmarctui.triage import find_findings, problems, shared_domains, triage_context

ORG = "example.ac.jp"
DEPT = "sub.example.ac.jp"
LAB1 = "lab1.sub.example.ac.jp"


def config(own: list[str], internal: bool = True) -> Config:
    networks = '[networks]\ninternal = ["192.0.2.0/24", "2001:db8::/32"]\n' if internal else ""
    text = f"[domains]\nown = {own!r}\ninclude_subdomains = true\n{networks}".replace("'", '"')
    cfg, problems_ = parse_config(tomllib.loads(text))
    assert problems_ == []
    return cfg


def policy(domain: str, p: str = "none", sp: str | None = "none") -> PolicyPublished:
    return PolicyPublished(domain=domain, p=p, adkim="r", aspf="r", sp=sp, pct=100)


def lab_records(from_domain: str) -> tuple[Record, ...]:
    """Two lab servers (IPv4 and IPv6) sending as ``from_domain``: SPF passes, no DKIM."""
    return (
        record("192.0.2.70", 12, pe=("fail", "pass"), header_from=from_domain,
               spfs=(spf(from_domain, "pass"),)),
        record("2001:db8:2::25", 4, pe=("fail", "pass"), header_from=from_domain,
               spfs=(spf(from_domain, "pass"),)),
    )  # fmt: skip


def own_from_labs() -> tuple[Record, ...]:
    """Labs that use their own subdomain From, authenticated by its SPF (IPv4 and IPv6)."""
    return (
        record("192.0.2.90", 7, pe=("fail", "pass"), header_from=LAB1,
               spfs=(spf(LAB1, "pass"),)),
        record("2001:db8:3::25", 3, pe=("fail", "pass"), header_from="lab3.sub.example.ac.jp",
               spfs=(spf("lab3.sub.example.ac.jp", "pass"),)),
    )  # fmt: skip


def dept_server(count: int = 50) -> Record:
    return record(
        "192.0.2.1",
        count,
        pe=("pass", "pass"),
        header_from=DEPT,
        dkims=(dkim(DEPT, "pass"),),
        spfs=(spf(DEPT, "pass"),),
    )


def counts(reports: list[AggregateReport], cfg: Config) -> dict[tuple[str, str], int]:
    return {(f.source_ip, f.kind): f.messages for f in problems(find_findings(reports, cfg))}


LAB_FLAGGED = {("192.0.2.70", "internal_no_dkim"): 12, ("2001:db8:2::25", "internal_no_dkim"): 4}


def test_org_domain_only_lab_servers_using_it_are_flagged() -> None:
    reports = [report("google.com", "g", DAY0, DAY0 + DAY, (*lab_records(ORG), *own_from_labs()),
                      policy=policy(ORG))]  # fmt: skip
    assert counts(reports, config([ORG])) == LAB_FLAGGED


def test_department_domain_listed_is_shared() -> None:
    reports = [report("google.com", "g", DAY0, DAY0 + DAY, (*lab_records(DEPT), *own_from_labs()),
                      policy=policy(ORG))]  # fmt: skip
    assert counts(reports, config([ORG, DEPT])) == LAB_FLAGGED
    # The natural config alone (the department neither listed, publishing, nor signing) cannot
    # tell the department domain from a lab's own: both are subdomains passing aligned SPF.
    assert counts(reports, config([ORG])) == {}


def test_department_subdomain_unlisted_but_publishing_a_policy_is_shared() -> None:
    reports = [
        report("google.com", "g", DAY0, DAY0 + DAY, (*lab_records(DEPT), *own_from_labs()),
               policy=policy(DEPT, "quarantine", "none")),
        report("Outlook.com", "o", DAY0, DAY0 + DAY, lab_records(DEPT)[:1], policy=policy(ORG)),
    ]  # fmt: skip
    cfg = config([ORG])
    assert counts(reports, cfg) == {
        ("192.0.2.70", "internal_no_dkim"): 12 + 12,
        ("2001:db8:2::25", "internal_no_dkim"): 4,
    }
    _, shared = triage_context(cfg, reports)
    assert shared == {ORG, DEPT}
    assert LAB1 not in shared
    # Readiness is unchanged: their mail passes DMARC today (it breaks once forwarded).
    by_domain = {r.domain: r for r in readiness(reports, cfg)}
    assert (by_domain[ORG].passed, by_domain[ORG].failed_legit) == (12 + 12 + 4 + 7 + 3, 0)


def test_domain_signed_by_our_dkim_at_an_internal_source_is_shared() -> None:
    # No report publishes the department's policy, but its server signs the department From.
    records = (dept_server(), *lab_records(DEPT), *own_from_labs())
    reports = [report("google.com", "g", DAY0, DAY0 + DAY, records, policy=policy(ORG))]
    assert counts(reports, config([ORG])) == LAB_FLAGGED
    # Without configured networks the department server is internal because our SPF lists it.
    assert counts(reports, config([ORG], internal=False)) == LAB_FLAGGED


def test_a_labs_own_subdomain_is_clean_in_every_layout() -> None:
    records = (dept_server(), *lab_records(DEPT), *own_from_labs())
    reports = [report("google.com", "g", DAY0, DAY0 + DAY, records,
                      policy=policy(DEPT, "quarantine", "none"))]  # fmt: skip
    for own in ([ORG], [ORG, DEPT], [DEPT], []):
        found = find_findings(reports, config(own))
        assert {f.source_ip for f in found} == {"192.0.2.70", "2001:db8:2::25"}, own
    # A lab's own From failing DMARC (SPF outside) is still flagged, under that subdomain.
    failing = record("192.0.2.91", 2, pe=("fail", "fail"), header_from=LAB1)
    found = find_findings([report("google.com", "h", DAY0, DAY0 + DAY, (failing,))], config([ORG]))
    assert [(f.source_ip, f.kind, f.header_from, f.messages) for f in found] == [
        ("192.0.2.91", "internal_no_dkim", LAB1, 2)
    ]


@pytest.mark.parametrize("signed", [(), (DEPT,)])
def test_shared_domains_are_ours_only(signed: tuple[str, ...]) -> None:
    cfg = config([ORG])
    shared = shared_domains(cfg, [DEPT.upper() + ".", "other.example"], signed)
    assert shared == {ORG, DEPT}


def test_a_department_publishing_its_own_policy_is_no_disagreement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The university (p=none) and its department (p=quarantine) are two policy domains under one
    own domain: every receiver agreeing on each is no "policy differs between receivers", and the
    university's policy is p=none, not the department's."""
    univ = record("192.0.2.10", 9, pe=("pass", "pass"), header_from=ORG,
                  dkims=(dkim(ORG, "pass"),), spfs=(spf(ORG, "pass"),))  # fmt: skip
    reports = [
        report(
            who, f"{who}-{domain}", DAY0, DAY0 + DAY, (records,), policy=policy(domain, p, sp=sp)
        )
        for who in ("google.com", "Outlook.com", "Yahoo")
        for domain, p, sp, records in (
            (ORG, "none", None, univ),
            (DEPT, "quarantine", "none", dept_server()),
        )
    ]
    [ready] = readiness(reports, config([ORG]))
    assert ready.policy_consistent and ready.disagreeing() == {}
    assert ready.own_policy() is not None and ready.own_policy().p == "none"  # type: ignore[union-attr]
    assert _readiness_line(ready, None, None).policy == "p=none"
    readiness_cmd.print_text(ready)
    text = capsys.readouterr().out
    assert "differs" not in text
    assert "published policy: p=none; adkim=r; aspf=r; pct=100 (all 3 receivers agree)" in text
    assert (
        "published policy of sub.example.ac.jp: p=quarantine; sp=none; adkim=r; aspf=r; pct=100"
        " (all 3 receivers agree)"
    ) in text

    stale = report("Mail.Ru", "m", DAY0, DAY0 + DAY, (dept_server(),), policy=policy(DEPT, "none"))
    [ready] = readiness([*reports, stale], config([ORG]))
    assert not ready.policy_consistent
    assert list(ready.disagreeing()) == [DEPT]
    readiness_cmd.print_text(ready)
    text = capsys.readouterr().out
    assert "published policy of sub.example.ac.jp differs between receivers (2 variants):" in text
    assert "published policy: p=none; adkim=r; aspf=r; pct=100 (all 3 receivers agree)" in text
