"""``dmarctui notice``, ``notices`` and ``followup``: draft letters, list them, chase them up."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dmarctui.cli.common import fail
from dmarctui.cli.triage_input import (
    InputError,
    add_triage_arguments,
    open_triage,
    triage,
    warn,
)
from dmarctui.config import Config
from dmarctui.history import (
    HistoryError,
    NoticeHistory,
    NoticeRecord,
    SourceProgress,
    latest_progress,
)
from dmarctui.index import Index
from dmarctui.letter_policy import policies_in_index
from dmarctui.model import Finding
from dmarctui.notice import (
    NoticeError,
    build_notice,
    letter_findings,
    recipients,
    sender_warning,
)
from dmarctui.notice_templates import TemplateError
from dmarctui.outbox import OutboxError, draft_notice, drafts_target
from dmarctui.source_address import canonical_address
from dmarctui.wording import count

OUT_HELP = (
    "an existing Maildir or MH folder gets the draft added; another existing folder gets an"
    " .eml file; a path ending in .eml is written as that one file; any other new path becomes"
    " a Maildir (default: [notice] drafts of the config)"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    notice = sub.add_parser(
        "notice",
        help="draft the notice to the admin of one or more sources",
        description="Write the notice for the given sources as a draft (nothing is sent).",
    )
    add_triage_arguments(notice)
    notice.add_argument(
        "--source", action="append", required=True, metavar="IP", help="source IP (repeatable)"
    )
    notice.add_argument("--lang", choices=("ja", "en"), help="default: the contact's language")
    notice.add_argument(
        "--to",
        metavar="ADDRS",
        help="recipients, comma separated ('Name <a@x>, b@y'; default: from [[contacts]])",
    )
    notice.add_argument(
        "--cc", metavar="ADDRS", help="copies, comma separated (default: the contact's cc)"
    )
    notice.add_argument("--out", type=Path, metavar="FILE.eml|FOLDER", help=OUT_HELP)
    notice.add_argument("--history", type=Path, metavar="FILE", help="notice history file")
    notice.set_defaults(func=run_notice)

    notices = sub.add_parser("notices", help="list the notices drafted or sent")
    notices.add_argument("--history", type=Path, metavar="FILE", help="notice history file")
    notices.add_argument("--json", action="store_true", help="print JSON")
    notices.set_defaults(func=run_notices)

    followup = sub.add_parser(
        "followup",
        help="list (and draft) re-notices for sources still failing after their notice",
        description="Sources still failing DAYS after their notice; --out drafts the letters.",
    )
    add_triage_arguments(followup, period=False)
    followup.add_argument(
        "--days", type=int, default=None, help="grace period (default: [notice] follow_up_days)"
    )
    followup.add_argument(
        "--out",
        type=Path,
        metavar="FOLDER",
        help="draft the follow-ups here, one message each: " + OUT_HELP,
    )
    followup.add_argument("--json", action="store_true", help="print JSON")
    followup.add_argument("--history", type=Path, metavar="FILE", help="notice history file")
    followup.set_defaults(func=run_followup)


def history_for(args: argparse.Namespace, config: Config) -> Path | None:
    """``--history``, else the demo's own history for the demo's config, else the user's."""
    if args.history is not None:
        return args.history
    if config.demo and config.path is not None:
        return config.path.parent / "notices.sqlite3"
    return None


def _normalise_ip(text: str) -> str:
    """The address as sources are spelt (``::ffff:192.0.2.1`` is ``192.0.2.1``)."""
    address = canonical_address(text.strip())
    if address is None:
        raise ValueError(f"--source {text!r} is not an IP address")
    return address


def _pick(findings: Sequence[Finding], sources: Sequence[str]) -> list[Finding]:
    """The letter findings of the wanted sources; each source must have one."""
    chosen = []
    for ip in sources:
        mine = [f for f in findings if f.source_ip == ip]
        if not mine:
            raise NoticeError(f"{ip}: no finding in the reports, so there is nothing to report")
        usable = letter_findings(mine)
        if not usable:
            kinds = ", ".join(sorted({f.kind for f in mine}))
            raise NoticeError(f"{ip}: only {kinds}, which is not something its admin can fix")
        chosen += usable
    return chosen


def run_notice(args: argparse.Namespace) -> int:
    try:
        sources = list(dict.fromkeys(_normalise_ip(s) for s in args.source))
        index, config = open_triage(args)
        with index:
            run, _ = triage(args, index, config, since=args.since, until=args.until,
                            sources=sources)  # fmt: skip
            chosen = run.with_evidence(_pick(run.findings(), sources))
            policies = policies_in_index(index, sources)
        msg = build_notice(
            chosen, config, lang=args.lang, to=args.to, cc=args.cc, policies=policies
        )
        path = draft_notice(
            msg, chosen, args.out or drafts_target(config), history=history_for(args, config)
        )
    except (InputError, HistoryError, OutboxError, ValueError) as exc:  # ValueError: NoticeError,
        return fail(str(exc))  # TemplateError and a --source that is not an IP
    warning = sender_warning(config, msg["From"])
    if warning:
        print(f"dmarctui: warning: {warning}", file=sys.stderr)
    print(f"draft written to {path}")
    for name in ("From", "To", "Cc", "Subject"):
        if msg[name] is not None:
            print(f"  {name}: {msg[name]}")
    print(f"  Recipients: {', '.join(recipients(msg))}")
    return 0


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def run_notices(args: argparse.Namespace) -> int:
    try:
        with NoticeHistory.open(args.history) as history:
            records = history.all()
    except HistoryError as exc:
        return fail(str(exc))
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return 0
    if not records:
        print("no notices yet")
        return 0
    for r in records:
        print(f"{_day(r.date)}  {r.status:<7}  {', '.join(r.recipients)}")
        print(f"    sources: {', '.join(r.sources)}  ({', '.join(r.kinds)})")
        print(f"    subject: {r.subject}")
        if r.draft_path:
            print(f"    draft:   {r.draft_path}")
    return 0


def _progress_dict(p: SourceProgress) -> dict[str, object]:
    return {
        "source_ip": p.source_ip,
        "state": p.state,
        "notice": p.notice.message_id,
        "notified": _day(p.notice.date),
        "due": _day(p.due),
        "before_per_day": round(p.before_per_day, 2),
        "after_per_day": round(p.after_per_day, 2),
        "since_notice": p.since_notice,
        "after_due": p.after_due,
    }


def _draft_follow_up(
    args: argparse.Namespace,
    notice: NoticeRecord,
    ips: Sequence[str],
    index: Index,
    config: Config,
) -> Path:
    run, _ = triage(args, index, config, since=notice.date, sources=ips)
    chosen = run.with_evidence(letter_findings([f for f in run.findings() if f.source_ip in ips]))
    to = ", ".join(notice.recipients) or None
    msg = build_notice(
        chosen, config, to=to, follow_up_of=notice, policies=policies_in_index(index, ips)
    )
    return draft_notice(msg, chosen, args.out, history=history_for(args, config))


def run_followup(args: argparse.Namespace) -> int:
    try:
        index, config = open_triage(args)
        with index:
            days = args.days if args.days is not None else config.notice.follow_up_days
            with NoticeHistory.open(history_for(args, config)) as history:
                notices = history.all()
            failing_days = warn(index.triage(config)).failing_days()
            progress = latest_progress(notices, failing_days, days, config=config)
            failing = [p for p in progress if p.state == "still_failing"]
            drafts: dict[str, str] = {}
            groups = len({p.notice.message_id for p in failing})
            if args.out is not None and args.out.suffix.lower() == ".eml" and groups > 1:
                raise OutboxError(
                    f"{args.out}: {groups} follow-ups would overwrite one .eml file;"
                    " give a folder instead"
                )
            if args.out is not None:
                for message_id in dict.fromkeys(p.notice.message_id for p in failing):
                    ps = [p for p in failing if p.notice.message_id == message_id]
                    path = _draft_follow_up(
                        args, ps[0].notice, [p.source_ip for p in ps], index, config
                    )
                    drafts[message_id] = str(path)
    except (InputError, HistoryError, OutboxError, NoticeError, TemplateError) as exc:
        return fail(str(exc))
    if args.json:
        print(
            json.dumps(
                {
                    "days": days,
                    "sources": [_progress_dict(p) for p in progress],
                    "still_failing": [p.source_ip for p in failing],
                    "drafts": drafts,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    _print_followup(progress, failing, drafts, days)
    return 0


def _print_followup(
    progress: Sequence[SourceProgress],
    failing: Sequence[SourceProgress],
    drafts: dict[str, str],
    days: int,
) -> None:
    if not progress:
        print("no notices yet: nothing to follow up")
        return
    counts = {
        s: sum(1 for p in progress if p.state == s)
        for s in ("still_failing", "improved", "waiting", "no_data")
    }
    print(
        f"{count(len(progress), 'notified source')}, {count(days, 'day')} after their notice:"
        f" {counts['still_failing']} still failing, {counts['improved']} improved,"
        f" {counts['waiting']} not due yet, {counts['no_data']} without newer reports"
    )
    for p in failing:
        print(
            f"  {p.source_ip}: notified {_day(p.notice.date)} ({', '.join(p.notice.recipients)});"
            f" {p.after_due} failing messages after {_day(p.due)}"
            f" ({p.before_per_day:.1f}/day before, {p.after_per_day:.1f}/day since)"
        )
        if p.notice.message_id in drafts:
            print(f"    follow-up draft: {drafts[p.notice.message_id]}")
