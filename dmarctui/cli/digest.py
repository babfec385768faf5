"""``dmarctui digest``: what is new in the folder since the last digest, for cron.

Exit status: 0 nothing new (and nothing printed or mailed unless ``--always``), 1 something new
was found (printed, and mailed with ``--mail``), 2 the digest could not run (the message is on
stderr and the remembered state is left as it was).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from dmarctui.cli.common import fail, open_index
from dmarctui.cli.flagged import PTR_LOOKUPS
from dmarctui.cli.triage_input import InputError, add_triage_arguments, config_from_args
from dmarctui.decisions import DecisionError, DecisionStore, default_decisions_path
from dmarctui.digest import Snapshot, build_digest, snapshot_before
from dmarctui.digest_inputs import DigestInputs, problem_sources
from dmarctui.digest_mail import build_mail, send_mail
from dmarctui.digest_state import DigestState, DigestStateError
from dmarctui.digest_text import render, subject
from dmarctui.history import HistoryError
from dmarctui.index import IndexStoreError
from dmarctui.mailstore import MailStoreError
from dmarctui.outbox import SendError

NOTHING_NEW = 0
NEWS = 1
FAILED = 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "digest",
        help="say what is new since the last digest (for cron; silent when nothing is)",
        description="Update the index, then list only what is new since the last digest of "
        "this folder: new problem sources, sources that got worse or are fixed, new enforced "
        "losses, new reporters, policy disagreements, intake problems, notices due for a "
        "follow-up and readiness. Exit status: 0 nothing new (no output), 1 news, 2 failed.",
    )
    add_triage_arguments(parser, period=False)
    parser.add_argument(
        "--since",
        type=_since,
        default=None,
        metavar="DATE",
        help="compare with the reports before this day (YYYY-MM-DD) instead of the last digest",
    )
    parser.add_argument("--dry-run", action="store_true", help="do not remember this digest")
    parser.add_argument(
        "--always", action="store_true", help="print (and mail) the digest even when nothing is new"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--mail", action="store_true", help="also mail it to [digest] to (only when there is news)"
    )
    parser.add_argument("--lang", choices=("ja", "en"), help="default: [digest] lang")
    parser.add_argument("--history", type=Path, metavar="FILE", help="notice history file")
    parser.set_defaults(func=run)


def _since(text: str) -> str:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _epoch(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def run(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        config = config_from_args(args)
        if args.mail and not config.digest.to:
            return fail("--mail: no recipients; set [digest] to in the configuration", FAILED)
        decisions = []
        if default_decisions_path().exists():
            with DecisionStore.open() as store:
                decisions = store.effective(now)
        index, _ = open_index(args)
    except (InputError, DecisionError, MailStoreError, IndexStoreError) as exc:
        return fail(str(exc), FAILED)
    with index:
        try:
            inputs = DigestInputs(index, config)
            if not args.no_dns:
                ips = problem_sources(inputs.findings())[:PTR_LOOKUPS]
                confirmed, _ = index.ptr_names(ips)  # the PTR cache, forward-confirmed only
                inputs = DigestInputs(index, config, confirmed)
            days = config.notice.follow_up_days
            with DigestState.open() as state:
                last = None if args.since else state.last(index.folder)
                if args.since:
                    baseline = snapshot_before(
                        inputs, _epoch(args.since), decisions,
                        follow_up_days=days, history=args.history, now=now,
                    )  # fmt: skip
                    since = args.since
                elif last is not None:
                    baseline = last.snapshot
                    since = datetime.fromtimestamp(last.ran_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
                else:
                    baseline, since = Snapshot(first=True), None
                digest, snapshot = build_digest(
                    inputs, baseline, decisions,
                    since=since, follow_up_days=days, history=args.history, now=now,
                )  # fmt: skip
                lang = args.lang or config.digest.lang
                speak = digest.has_news or args.always
                if speak:
                    text = render(digest, lang, config.own_domains)
                    if args.json:
                        print(json.dumps(digest.to_dict(), indent=2, ensure_ascii=False))
                    else:
                        print(text, end="")
                    if args.mail:
                        msg = build_mail(
                            text,
                            subject(digest, lang, config.own_domains),
                            config,
                            config.digest.to,
                            lang,
                        )
                        if args.dry_run:
                            print(
                                f"dmarctui: dry run: not mailed to {', '.join(config.digest.to)}"
                                f" ({msg['Subject']})",
                                file=sys.stderr,
                            )
                        else:
                            send_mail(msg, config, config.digest.to)
                if not args.dry_run:
                    state.save(index.folder, int(now), snapshot)
        except (DigestStateError, HistoryError, SendError) as exc:
            return fail(str(exc), FAILED)
    return NEWS if digest.has_news else NOTHING_NEW
