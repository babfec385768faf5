"""``dmarctui readiness``: could each of our domains move to p=quarantine or p=reject?"""

from __future__ import annotations

import argparse
import json

import humanize

from dmarctui.cli.common import fail
from dmarctui.cli.triage_input import InputError, add_triage_arguments, open_triage, triage
from dmarctui.display_text import visible
from dmarctui.readiness import Readiness
from dmarctui.wording import KIND_LABELS, count


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "readiness",
        help="show whether a stricter DMARC policy would lose legitimate mail",
        description="Per own domain: what passes, what fails from whom, and what p=quarantine "
        "or p=reject would have done over the period.",
    )
    add_triage_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list, one per domain")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        index, config = open_triage(args)
    except InputError as exc:
        return fail(str(exc))
    with index:
        # PTR names matter where a PTR-pattern sender may turn a failure into a legitimate one.
        run, _ = triage(args, index, config, since=args.since, until=args.until)
        result = run.readiness()
        reports = index.counted_count()
    if args.json:
        print(json.dumps([readiness_to_dict(r) for r in result], indent=2, ensure_ascii=False))
    elif not result:
        print(f"No reports for our domains in {count(reports, 'report')}.")
        if run.warning:
            print(f"Warning: {run.warning}.")
    else:
        for n, item in enumerate(result):
            if n:
                print()
            print_text(item)
    return 0


def readiness_to_dict(item: Readiness) -> dict[str, object]:
    return {
        "domain": item.domain,
        "ready": item.ready,
        "passed": item.passed,
        "failed_legit": item.failed_legit,
        "failed_outside": item.failed_outside,
        "enforced": item.enforced,
        "days": [
            {
                "day": d.day,
                "passed": d.passed,
                "failed_legit": d.failed_legit,
                "failed_outside": d.failed_outside,
            }
            for d in item.days
        ],
        "would_quarantine": item.would_quarantine,
        "would_reject": item.would_reject,
        "policy_consistent": item.policy_consistent,
        "policies": [
            {
                "domain": v.domain,
                "p": v.p,
                "sp": v.sp,
                "adkim": v.adkim,
                "aspf": v.aspf,
                "pct": v.pct,
                "reporters": list(v.reporters),
                "reports": v.reports,
            }
            for v in item.variants
        ],
    }


def _n(value: int) -> str:
    return humanize.intcomma(value)


def print_text(item: Readiness) -> None:
    if item.ready:
        verdict = "ready: no mail from legitimate sources fails DMARC"
    else:
        verdict = (
            f"not ready: {count(item.failed_legit, 'message')} from legitimate sources"
            f" {'fails' if item.failed_legit == 1 else 'fail'} DMARC"
        )
    print(f"{item.domain}: {verdict}")
    print(f"  {'day':<10} {'pass':>9} {'fail legit':>11} {'fail outside':>13}")
    for d in item.days:
        print(
            f"  {d.day:<10} {_n(d.passed):>9} {_n(d.failed_legit):>11} {_n(d.failed_outside):>13}"
        )
    print(
        f"  {'total':<10} {_n(item.passed):>9} {_n(item.failed_legit):>11} "
        f"{_n(item.failed_outside):>13}"
    )
    hit = (
        ", ".join(f"{KIND_LABELS[kind]} {_n(n)}" for kind, n in item.would_quarantine.items())
        or "nothing"
    )
    print(f"  p=quarantine would have sent to spam: {hit}")
    print(f"  p=reject would have bounced:          {hit}")
    if item.enforced:
        print(f"  already quarantined or rejected by receivers: {_n(item.enforced)}")
    split = item.disagreeing()
    for v in item.variants:
        if v.domain not in split:
            n = len(v.reporters)
            agree = "1 receiver" if n == 1 else f"all {n} receivers agree"
            print(f"  published policy{_of(v.domain, item)}: {v.text()} ({agree})")
    for domain, variants in split.items():
        print(
            f"  published policy{_of(domain, item)} differs between receivers"
            f" ({len(variants)} variants):"
        )
        for v in variants:
            print(f"    {v.text()}: {', '.join(v.reporters)} ({count(v.reports, 'report')})")


def _of(domain: str, item: Readiness) -> str:
    """Names a policy domain other than the own domain itself (a subdomain with its own)."""
    return "" if domain == item.domain else f" of {visible(domain)}"
