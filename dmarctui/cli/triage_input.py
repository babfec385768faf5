"""Options and data access shared by ``flagged`` and ``readiness``: config, period, PTR names.

:func:`load_reports` is the one place these commands get reports from, so an index-backed
source can replace the scan without touching the commands.
"""

from __future__ import annotations

import argparse
import calendar
import sys
import time
from pathlib import Path

from dmarctui.cli.common import add_folder_arguments, add_index_arguments
from dmarctui.config import Config, ConfigError, load_config
from dmarctui.model import AggregateReport
from dmarctui.rdns import ReverseDns


class InputError(Exception):
    """A problem that ends the command with a one-line message."""


def add_triage_arguments(parser: argparse.ArgumentParser, *, period: bool = True) -> None:
    add_folder_arguments(parser)
    add_index_arguments(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="configuration file (default: ~/.config/dmarctui/config.toml)",
    )
    if period:
        parser.add_argument(
            "--since",
            type=parse_since,
            default=None,
            metavar="DATE",
            help="only reports from this day on (YYYY-MM-DD or epoch)",
        )
        parser.add_argument(
            "--until",
            type=parse_until,
            default=None,
            metavar="DATE",
            help="only reports up to this day, inclusive (YYYY-MM-DD or epoch)",
        )
    parser.add_argument("--no-dns", action="store_true", help="do not look up PTR names")


def _parse_date(text: str, *, end_of_day: bool) -> int:
    if text.isdigit():
        return int(text)
    try:
        day = time.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD or seconds since the epoch"
        ) from None
    start = calendar.timegm(day)
    return start + 86400 if end_of_day else start


def parse_since(text: str) -> int:
    """``YYYY-MM-DD`` (00:00 UTC) or epoch seconds."""
    return _parse_date(text, end_of_day=False)


def parse_until(text: str) -> int:
    """``YYYY-MM-DD`` includes that whole UTC day; epoch seconds are taken as given."""
    return _parse_date(text, end_of_day=True)


def config_from_args(args: argparse.Namespace) -> Config:
    """Load the configuration; problems are warnings, the rest of the config still applies."""
    try:
        config, problems = load_config(args.config)
    except ConfigError as exc:
        raise InputError(str(exc)) from exc
    for problem in problems:
        print(f"dmarctui: warning: {problem}", file=sys.stderr)
    return config


def load_reports(args: argparse.Namespace) -> list[AggregateReport]:
    """The distinct, counted aggregate reports of the folder, from its updated index."""
    from dmarctui.cli import common
    from dmarctui.index import IndexStoreError
    from dmarctui.mailstore import MailStoreError

    try:
        return common.load_reports(args)
    except (MailStoreError, IndexStoreError) as exc:
        raise InputError(str(exc)) from exc


def ptr_names(args: argparse.Namespace, ips: list[str]) -> dict[str, str | None]:
    """PTR names for ``ips``, unless ``--no-dns``; waits a few seconds at most."""
    if args.no_dns or not ips:
        return {}
    dns = ReverseDns()
    try:
        return dns.lookup(ips)
    finally:
        dns.close()
