"""``dmarctui decide``: record, list, undo and export the verdicts on sources."""

from __future__ import annotations

import argparse
import json

from dmarctui.cli.common import fail
from dmarctui.decisions import (
    VERDICTS,
    DecisionError,
    DecisionStore,
    senders_toml,
    state_of,
)


def _verdict(text: str) -> str:
    value = text.strip().lower().replace("-", "_")
    if value not in VERDICTS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a verdict: {', '.join(v.replace('_', '-') for v in VERDICTS)}"
        )
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "decide",
        help="record a verdict on a source or network (kept beside the notice history)",
        description="Remember what a source is, so triage and the digest treat it accordingly."
        " Verdicts: third-party, mailing-list, forwarder (applied like [[senders]] roles;"
        " the config wins where both speak), own-server (counted as an internal network),"
        " ignore --until DATE and accepted-risk (left out of the digest until the date passes"
        " or the source gets worse).",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="record a decision")
    add.add_argument("match", metavar="IP|CIDR", help="a source IP address or a network")
    add.add_argument("verdict", type=_verdict, metavar="VERDICT")
    add.add_argument("--note", default="", help="free text: why")
    add.add_argument("--until", metavar="YYYY-MM-DD", help="last day of an ignore")
    add.set_defaults(func=run_add)

    listing = verbs.add_parser("list", help="list the decisions in force")
    listing.add_argument("--all", action="store_true", help="also undone, expired, superseded")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)

    undo = verbs.add_parser("undo", help="undo a decision (by number, or the one for a network)")
    undo.add_argument("target", metavar="ID|IP|CIDR")
    undo.set_defaults(func=run_undo)

    export = verbs.add_parser("export", help="print the decisions in force as [[senders]] TOML")
    export.set_defaults(func=run_export)


def run_add(args: argparse.Namespace) -> int:
    try:
        with DecisionStore.open() as store:
            decision = store.add(args.match, args.verdict, args.note, until=args.until)
    except DecisionError as exc:
        return fail(str(exc))
    print(f"decision {decision.id}: {decision.match} {decision.summary()}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        with DecisionStore.open() as store:
            every = store.all()
    except DecisionError as exc:
        return fail(str(exc))
    rows = [(d, state_of(d, every)) for d in every]
    if not args.all:
        rows = [(d, s) for d, s in rows if s == "active"]
    if args.json:
        print(
            json.dumps([{**d.to_dict(), "state": s} for d, s in rows], indent=2, ensure_ascii=False)
        )
        return 0
    if not rows:
        print("no decisions" + ("" if args.all else " in force"))
        return 0
    for d, state in rows:
        shown = "" if state == "active" else f"  [{state}]"
        print(f"{d.id:>4}  {d.match:<20} {d.summary()}{shown}")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    try:
        with DecisionStore.open() as store:
            decision = store.undo(args.target)
    except DecisionError as exc:
        return fail(str(exc))
    print(f"undone decision {decision.id}: {decision.match} {decision.text()}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        with DecisionStore.open() as store:
            active = store.effective()
    except DecisionError as exc:
        return fail(str(exc))
    print(senders_toml(active), end="")
    return 0
