"""``dmarctui extract``: save every distinct report's XML under its conventional name."""

from __future__ import annotations

import argparse
from pathlib import Path

from dmarctui.cli.common import add_folder_arguments, add_index_arguments, fail, open_index
from dmarctui.extract import ExtractAction, extract_folder, extract_indexed
from dmarctui.index import Index, IndexStoreError
from dmarctui.mailstore import MailStoreError, open_store
from dmarctui.wording import count


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "extract",
        help="write every report's XML to a directory",
        description=(
            "Write each distinct aggregate report's decompressed XML to DIR as"
            " receiver!domain!begin!end.xml. Identical files are skipped, different files are"
            " never overwritten (~ and a hash of the content are added to the name), nothing is"
            " written outside DIR, and no partly written file is left behind."
        ),
    )
    add_folder_arguments(parser)
    add_index_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    parser.set_defaults(func=run)


def show(action: ExtractAction) -> None:
    why = f"  ({action.why})" if action.why else ""
    print(f"{action.action:<7} {action.path.name}{why}")


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        return fail(f"{out}: not a directory")
    try:
        if args.no_index:
            store = open_store(args.path, args.format)
            result, actions = extract_folder(store, out, on_action=show)
            duplicates, errors = len(result.duplicates), len(result.errors)
        else:
            index, _ = open_index(args)
            with index:
                actions, _failed = _extract_indexed(index, out)
                duplicates, errors = len(index.duplicates()), len(index.errors())
    except (MailStoreError, IndexStoreError, ValueError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{out}: {exc.strerror or exc}")
    wrote = sum(1 for a in actions if a.action == "wrote")
    skipped = len(actions) - wrote
    print(
        f"{wrote:,} written, {skipped:,} skipped as identical,"
        f" {count(duplicates, 'duplicate message')} not written again,"
        f" {count(errors, 'message')} with errors (see `dmarctui scan {args.path}`)"
    )
    return 0


def _extract_indexed(index: Index, out: Path) -> tuple[list[ExtractAction], list[str]]:
    """Write each distinct report, re-extracting its XML from its message."""
    rows = index.reports_page(sort="pk", descending=False, limit=index.count_reports())
    actions, failed = extract_indexed(index, out, rows, on_action=show)
    for line in failed:
        print(f"skipped {line}")
    return actions, failed
