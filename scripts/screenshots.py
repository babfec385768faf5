"""Drive the real app on the demo folder and save an SVG of every screen into screenshots/.

Run with ``make screenshots``. The demo is built in a temporary directory with its fixed date,
the notice history and caches live there too (``XDG_*_HOME``), PTR names are not looked up and
the drafts folder has a fixed label, so the pictures only change when the app does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from dmarctui.config import load_config
from dmarctui.demo import DEMO_NOW, build_demo
from dmarctui.index import Index
from dmarctui.scan import drain
from dmarctui.tui.app import DmarcApp, make_app
from dmarctui.tui.panes import PANES

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZE = (100, 30)

SOURCES_KEY = str(1 + [pane.PANE_ID for pane in PANES].index("sources"))
# (file name, keys pressed from the Reports pane)
SHOTS: list[tuple[str, tuple[str, ...]]] = [
    ("report-summary", ("enter",)),
    ("report-records", ("enter", "2")),
    ("report-xml", ("enter", "3")),
    ("filter", ("f",)),
    ("help", ("question_mark",)),
    ("source-records", (SOURCES_KEY, "enter")),
    # The fifth source of the demo is a lab server with a configured contact.
    ("notice", (SOURCES_KEY, "down", "down", "down", "down", "n")),
] + [(pane.PANE_ID, (str(n),)) for n, pane in enumerate(PANES, start=1)]


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        with suppress(WorkerCancelled):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def shoot(app_factory: object, name: str, keys: tuple[str, ...]) -> Path:
    assert callable(app_factory)
    app: DmarcApp = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in keys:  # one at a time: a pane shown computes in a worker first
            await pilot.press(key)
            await settle(pilot)
        path = OUT / f"{name}.svg"
        app.save_screenshot(path.name, path=str(OUT))
    return path


def main() -> int:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
            os.environ[name] = str(Path(tmp) / name.lower())
        demo = build_demo(Path(tmp), now=DEMO_NOW)
        config, _ = load_config(demo.config_path)
        config = replace(config, notice=replace(config.notice, drafts="~/Mail/drafts"))
        db = Path(tmp) / "index.sqlite"
        with Index.open(demo.maildir, db=db) as index:  # indexed first: no "new mail" toasts
            drain(index.update(workers=1))

        def factory() -> DmarcApp:
            return make_app(
                demo.maildir,
                db=db,
                config=config,
                clock=lambda: float(DEMO_NOW),
                poll_seconds=None,
                dns=False,
            )

        for name, keys in SHOTS:
            path = asyncio.run(shoot(factory, name, keys))
            print(f"wrote {path.relative_to(OUT.parent)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
