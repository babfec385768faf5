"""``dmarctui config``: write the commented example, or check a configuration and show it."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmarctui.cli.common import fail
from dmarctui.config import (
    EXAMPLE_CONFIG,
    Config,
    ConfigError,
    default_config_path,
    load_config,
    notice_problems,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "config",
        help="write an example configuration, or check one",
        description="Without options, or with --check: validate the configuration and show the "
        "settings in effect. --init writes a commented example.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="configuration file (default: ~/.config/dmarctui/config.toml)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--init", action="store_true", help="write a commented example (never overwrites)"
    )
    action.add_argument(
        "--check", action="store_true", help="validate; exit status 1 when there are problems"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.init:
        return init(args.config or default_config_path())
    return check(args.config)


def init(path: Path) -> int:
    if path.exists():
        return fail(f"{path} already exists; not overwriting it", 1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:
            out.write(EXAMPLE_CONFIG)
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}", 1)
    print(f"Wrote an example configuration to {path}; edit it, then run `dmarctui config --check`.")
    return 0


def check(path: Path | None) -> int:
    try:
        config, problems = load_config(path)
    except ConfigError as exc:
        return fail(str(exc), 1)
    problems = [*problems, *notice_problems(config)]
    if config.path is None:
        print(f"No configuration file at {default_config_path()}: using the defaults.")
    else:
        print(f"Configuration: {config.path}")
    for problem in problems:
        print(f"problem: {problem}")
    print()
    for line in describe(config):
        print(line)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"\n{len(problems)} {noun}: the defaults are used for those settings.")
        return 1
    return 0


def _plan(config: Config) -> str:
    plan = config.notice.planned_policy
    if plan is None:
        return "(none: letters claim no planned change)"
    when = config.notice.planned_date
    return f"p={plan}" + (f" on {when.isoformat()}" if when else " (no date)")


def describe(config: Config) -> list[str]:
    """The settings in effect, one line each."""
    own = ", ".join(config.own_domains) or "(the policy domains seen in the reports)"
    subs = "with" if config.include_subdomains else "without"
    lines = [
        f"own domains: {own} ({subs} subdomains)",
        f"internal networks: {', '.join(map(str, config.internal)) or '(none)'}",
        f"known senders: {len(config.senders) or '(none)'}",
    ]
    lines += [f"  {s.match}  {s.role}  {s.label}" for s in config.senders]
    if config.decided_senders or config.decided_internal:
        lines.append(
            f"decided (dmarctui decide list): {len(config.decided_senders)} senders,"
            f" {len(config.decided_internal)} own networks"
        )
    lines.append(f"contacts: {len(config.contacts) or '(none)'}")
    lines += [f"  {c.match}  {c.name} <{c.email}> [{c.lang}]" for c in config.contacts]
    notice = config.notice
    how = (
        notice.sendmail
        if notice.send == "sendmail"
        else (
            f"smtp {notice.smtp.host}:{notice.smtp.port}"
            + (" starttls" if notice.smtp.starttls else "")
            + (f" as {notice.smtp.user}" if notice.smtp.user else "")
        )
    )
    lines += [
        f"notice from: {notice.from_addr or '(missing: see the problem above)'}",
        f"planned policy: {_plan(config)}",
        f"drafts: {notice.drafts or '(not set)'}",
        f"send with: {how}",
        f"follow up after: {notice.follow_up_days} days",
        f"templates: {config.templates_dir or '(built in)'}",
        f"digest: {', '.join(config.digest.to) or '(no recipients)'} [{config.digest.lang}]",
    ]
    return lines
