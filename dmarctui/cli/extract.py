"""``dmarctui extract``: save every distinct report's XML under its conventional name."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmarctui.cli.common import add_folder_arguments, fail
from dmarctui.extract import ExtractAction, extract_folder
from dmarctui.mailstore import MailStoreError, open_store


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "extract",
        help="write every report's XML to a directory",
        description=(
            "Write each distinct aggregate report's decompressed XML to DIR as"
            " receiver!domain!begin!end.xml. Identical files are skipped, different files are"
            " never overwritten (a ~N suffix is added), nothing is written outside DIR."
        ),
    )
    add_folder_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        store = open_store(args.path, args.format)
    except MailStoreError as exc:
        return fail(str(exc))
    out: Path = args.out
    if out.exists() and not out.is_dir():
        return fail(f"{out}: not a directory")

    def show(action: ExtractAction) -> None:
        print(f"{action.action:<7} {action.path.name}  ({action.why})")

    try:
        result, actions = extract_folder(store, out, on_action=show)
    except OSError as exc:
        return fail(f"{out}: {exc.strerror or exc}")
    wrote = sum(1 for a in actions if a.action == "wrote")
    skipped = len(actions) - wrote
    print(
        f"{wrote} written, {skipped} skipped as identical, {len(result.duplicates)} duplicate"
        f" messages not written again, {len(result.errors)} messages with errors"
        f" (see `dmarctui scan {args.path}`)"
    )
    return 0
