"""Command line: ``dmarctui PATH`` opens the TUI; subcommands run the same core headless."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from dmarctui import __version__
from dmarctui.display_text import VisibleWriter
from dmarctui.index_schema import IndexStoreError
from dmarctui.mailstore import MailStoreError

COMMANDS: dict[str, str] = {
    "scan": "scan",
    "extract": "extract",
    "flagged": "flagged",
    "readiness": "readiness",
    "notice": "notice",
    "notices": "notice",
    "followup": "notice",
    "export": "export",
    "digest": "digest",
    "decide": "decide",
    "config": "config_cmd",
}
"""Each subcommand and the module of ``dmarctui.cli`` that registers it: a command imports
only its own module (importing them all took a third of a warm ``flagged``)."""


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, set[str]]:
    """The headless commands' parser and the names of its subcommands; with ``command``, a
    parser that knows only that one (and those its module registers)."""
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
    modules = dict.fromkeys(COMMANDS.values()) if command is None else [COMMANDS[command]]
    for name in modules:
        module = importlib.import_module(f"dmarctui.cli.{name}")
        module.add_parser(sub)
    return parser, set(sub.choices)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    if first is None or first not in COMMANDS:
        if any(a in ("-h", "--help", "--version") for a in args_list) and first is None:
            build_parser()[0].parse_args(args_list)
        from dmarctui.cli.open import run_tui

        return run_tui(args_list)
    args = build_parser(first)[0].parse_args(args_list)
    real_stdout = sys.stdout
    sys.stdout = VisibleWriter(real_stdout)  # type: ignore[assignment]
    try:
        with _stopped_by_signals():
            return int(args.func(args))
    except Stopped as stop:
        print(f"dmarctui: stopped by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except (IndexStoreError, MailStoreError) as exc:  # met after opening: still one line
        print(f"dmarctui: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dmarctui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `dmarctui flagged … | head`: the reader left; stop quietly like other Unix tools.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        sys.stdout = real_stdout


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like ctrl+c, so worker pools are shut down on the way."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Stopped` while a headless command runs.

    Their default action ended the process on the spot and left its worker processes and
    multiprocessing's resource tracker behind. A second signal while the first unwinds is
    ignored, so the pool's shutdown is not cut short.
    """
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise Stopped(signum)

    try:
        previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
