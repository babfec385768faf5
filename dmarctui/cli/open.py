"""``dmarctui [PATH]``: check the folder, the index and the config, then start the TUI.

Everything that can be wrong with the arguments is reported as one line on stderr with exit code
2 before the terminal is taken over; Textual is imported only once the UI is really needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmarctui import __version__
from dmarctui.cli.common import FORMATS, add_insecure_argument, fail
from dmarctui.imap_settings import is_imap_url

THEMES = (
    "textual-dark",
    "textual-light",
    "nord",
    "gruvbox",
    "monokai",
    "solarized-light",
    "dracula",
    "tokyo-night",
    "catppuccin-mocha",
    "catppuccin-latte",
    "flexoki",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmarctui",
        description="Open a Maildir, MH folder or mbox of DMARC reports in the terminal UI"
        " (read-only). Subcommands: dmarctui scan|extract|... --help.",
    )
    parser.add_argument("--version", action="version", version=f"dmarctui {__version__}")
    parser.add_argument(
        "path", nargs="?", metavar="PATH",
        help="Maildir, MH folder or mbox file, or imaps://user@host/Folder (imap:// for STARTTLS)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FORMATS, default=None, help="folder format (default: detect)"
    )
    add_insecure_argument(parser)
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="index file (default: one per folder under ~/.cache/dmarctui)",
    )
    parser.add_argument(
        "--no-index",
        action="store_true",
        help="keep the index in memory only (the folder is read in full)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="configuration file (default: ~/.config/dmarctui/config.toml)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="build a demo folder of realistic reports and open it"
    )
    parser.add_argument(
        "--no-dns",
        action="store_true",
        help="do not look up PTR names of flagged sources (cached names only)",
    )
    parser.add_argument(
        "--theme",
        choices=THEMES,
        default=None,
        help="colour theme (ctrl+t toggles light/dark in the app)",
    )
    return parser


def run_tui(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.path is None and not args.demo:
        return fail("give a folder to open (dmarctui PATH), or try dmarctui --demo")
    if args.path is not None and args.demo:
        return fail("--demo opens its own folder; leave out PATH")
    if args.path is not None and not is_imap_url(args.path) and not Path(args.path).exists():
        return fail(f"{args.path}: no such folder or file")

    from dmarctui.config import ConfigError, load_config

    notes: list[str] = []
    config = None
    if args.config is not None or not args.demo:
        try:
            config, problems = load_config(args.config)
        except ConfigError as exc:
            return fail(str(exc))
        notes.extend(str(p) for p in problems)

    from dmarctui.demo import DemoError
    from dmarctui.index_schema import IndexStoreError
    from dmarctui.mailstore import MailStoreError
    from dmarctui.tui.app import make_app

    try:
        app = make_app(
            args.path,
            fmt=args.format,
            db=args.db,
            config=config,
            demo=args.demo,
            in_memory=args.no_index,
            theme=args.theme,
            notes=notes,
            dns=not args.no_dns,
            insecure_tls=args.insecure_tls,
        )
    except (MailStoreError, IndexStoreError, DemoError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"{exc.filename or args.path}: {exc.strerror or exc}")
    app.run()
    if app.return_code:
        print("dmarctui: the UI stopped with an error (see above)", file=sys.stderr)
    return app.return_code or 0
