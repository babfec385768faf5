"""Options and output shared by the headless commands."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from dmarctui.scan import Progress

FORMATS = ("maildir", "mh", "mbox")


def add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="Maildir, MH folder or mbox file")
    parser.add_argument(
        "--format", choices=FORMATS, default=None, help="folder format (default: detect)"
    )


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
        if not self.enabled:
            return
        self.stream.write(
            f"\r\x1b[Kscanning {progress.done}/{progress.total} messages,"
            f" {progress.reports} reports, {progress.errors} errors"
        )
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
