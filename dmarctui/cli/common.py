"""Options and output shared by the headless commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dmarctui.mailstore import MailStore
from dmarctui.model import AggregateReport
from dmarctui.scan import Progress
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.index import Index, UpdateStats

FORMATS = ("maildir", "mh", "mbox")


def add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", metavar="PATH",
        help="Maildir, MH folder or mbox file, or imaps://user@host/Folder (imap:// for STARTTLS)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FORMATS, default=None, help="folder format (default: detect)"
    )
    add_insecure_argument(parser)


def add_insecure_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure-tls",
        action="store_true",
        help="IMAP: do not verify the server's TLS certificate (warns; use only to test)",
    )


def folder_of(args: argparse.Namespace) -> str | Path | MailStore:
    """What ``Index.open`` opens: the path, or an IMAP store when ``--insecure-tls`` asks for
    one without certificate checks.

    Raises:
        MailStoreError: ``--insecure-tls`` for a local folder.
    """
    if not getattr(args, "insecure_tls", False):
        return args.path  # type: ignore[no-any-return]
    from dmarctui.imap_settings import is_imap_url
    from dmarctui.imap_store import ImapError, open_imap

    if not is_imap_url(args.path):
        raise ImapError("--insecure-tls applies to imap:// and imaps:// folders only")
    return open_imap(args.path, insecure_tls=True)


def fail(message: str, code: int = 2) -> int:
    """Print a one-line error in the usual ``program: message`` shape."""
    print(f"dmarctui: {message}", file=sys.stderr)
    return code


class ProgressLine:
    """A single self-overwriting progress line on a terminal; silent when piped."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False

    def update(self, progress: Progress) -> None:
        self.show(
            f"scanning {progress.done}/{count(progress.total, 'message')},"
            f" {count(progress.reports, 'report')}, {count(progress.errors, 'error')}"
        )

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    """``--db``, ``--no-index`` and ``--workers``: where a command keeps what it learnt."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        type=Path,
        default=None,
        metavar="FILE",
        help="index file (default: one per folder under ~/.cache/dmarctui/)",
    )
    where.add_argument(
        "--no-index",
        action="store_true",
        help="scan in memory; read and write no index file",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="parser processes (default: all cores)",
    )


def open_index(args: argparse.Namespace) -> tuple[Index, UpdateStats]:
    """Open the folder's index and bring it up to date, with a progress line on a terminal.

    Raises:
        MailStoreError: the folder cannot be opened.
        IndexStoreError: the index file cannot be used.
    """
    from dmarctui.index import Index

    index = Index.open(
        folder_of(args),
        args.format,
        db=getattr(args, "db", None),
        in_memory=getattr(args, "no_index", False),
    )
    line = ProgressLine()
    # A command trusts a Maildir's unchanged directories (no stat of 100,000 files to find
    # the new mail); the TUI lists in full whenever its own stamps say something changed.
    gen = index.update(workers=getattr(args, "workers", None), trust_stamps=True)
    try:
        while True:
            line.update(next(gen))
    except StopIteration as stop:
        return index, stop.value
    except BaseException:
        index.close()
        raise
    finally:
        line.close()


def load_reports(
    args: argparse.Namespace, since: int | None = None, until: int | None = None
) -> list[AggregateReport]:
    """The folder's distinct, counted reports overlapping the period, from its updated index."""
    index, _ = open_index(args)
    with index:
        return list(index.counted_reports(since, until))
