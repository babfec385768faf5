"""Options and data access shared by the triage commands: config, period, PTR names.

:func:`open_triage` and :func:`triage` are how ``flagged``, ``readiness``, ``notice`` and
``followup`` get their answers: from the folder's updated index, computed there
(:mod:`dmarctui.index_triage`), with PTR names from the index's cache (no DNS unless ``--dns``).
"""

from __future__ import annotations

import argparse
import calendar
import gc
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dmarctui.cli.common import add_folder_arguments, add_index_arguments
from dmarctui.config import Config, ConfigError, load_config
from dmarctui.rdns import ReverseDns

if TYPE_CHECKING:
    from dmarctui.index import Index
    from dmarctui.index_triage import IndexTriage


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
    dns = parser.add_mutually_exclusive_group()
    dns.add_argument(
        "--dns",
        action="store_true",
        help="look up PTR names not yet cached (waits a few seconds at most)",
    )
    dns.add_argument(
        "--no-dns",
        action="store_true",
        help="use only cached PTR names (the default; kept for scripts)",
    )


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


PTR_LOOKUPS = 256
"""Most-ranked sources whose PTR is looked up: a spam run must not mean thousands of lookups."""


def open_triage(args: argparse.Namespace) -> tuple[Index, Config]:
    """The folder's updated index and the configuration; the caller closes the index."""
    from dmarctui.cli import common
    from dmarctui.index import IndexStoreError
    from dmarctui.mailstore import MailStoreError

    config = config_from_args(args)
    try:
        index, _ = common.open_index(args)
    except (MailStoreError, IndexStoreError) as exc:
        raise InputError(str(exc)) from exc
    for notice in index.notices:
        print(f"dmarctui: {notice}", file=sys.stderr)
    return index, config


def warn(run: IndexTriage) -> IndexTriage:
    """Print the triage's plain warning (own domains matching no policy domain) to stderr."""
    if run.warning:
        print(f"dmarctui: warning: {run.warning}", file=sys.stderr)
    return run


def triage(
    args: argparse.Namespace,
    index: Index,
    config: Config,
    *,
    since: int | None = None,
    until: int | None = None,
    sources: Iterable[str] = (),
) -> tuple[IndexTriage, dict[str, str]]:
    """The index triage with the PTR names of the top-ranked sources (and ``sources``).

    Returns the triage (classified with forward-confirmed names only) and the names that are not
    confirmed, to show as such. The own-domains warning goes to stderr.
    """
    # Triage builds many small objects that all live until the answer is printed: collecting
    # rarely spares the collector rescanning them (a headless command runs nothing else).
    gc.set_threshold(50_000, 50, 100)
    run = warn(index.triage(config, since=since, until=until))
    wanted = [*dict.fromkeys(sources), *run.ranked_sources()[:PTR_LOOKUPS]]
    if getattr(args, "dns", False) and wanted:
        dns = ReverseDns(store=index)
        try:
            dns.lookup(wanted)
        finally:
            dns.close()
    confirmed, unconfirmed = index.ptr_names(wanted)
    if confirmed and config.senders_by_name:
        run = index.triage(config, confirmed, since=since, until=until)
    else:
        run.ptrs.update(confirmed)  # shown, and matched by PTR-pattern contacts
    return run, unconfirmed
