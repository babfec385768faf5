"""Command line: ``dmarctui PATH`` opens the TUI; subcommands run the same core headless."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from dmarctui import __version__

COMMANDS: tuple[str, ...] = (
    "scan",
    "extract",
    "flagged",
    "readiness",
    "notice",
    "digest",
    "decide",
    "config_cmd",
)
"""Modules of ``dmarctui.cli`` that each register one or more subcommands."""


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The headless commands' parser and the names of its subcommands."""
    parser = argparse.ArgumentParser(
        prog="dmarctui",
        description="Triage DMARC reports straight from a Maildir, mbox or MH folder.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Without a COMMAND, dmarctui opens the terminal UI:\n"
            "  dmarctui PATH [--format F] [--db FILE | --no-index] [--config FILE] [--no-dns]\n"
            "  dmarctui --demo            a demo folder built on this machine\n"
            "`dmarctui PATH --help` lists the UI's options, `dmarctui COMMAND --help` a command's."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dmarctui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"dmarctui.cli.{name}")
        module.add_parser(sub)
    return parser, set(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, subcommands = build_parser()
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first is None or first not in subcommands:
        if any(a in ("-h", "--help", "--version") for a in args_list) and first is None:
            parser.parse_args(args_list)
        from dmarctui.cli.open import run_tui

        return run_tui(args_list)
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("dmarctui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dmarctui flagged … | head`: the reader left; stop quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
