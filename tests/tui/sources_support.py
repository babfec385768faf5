"""What the Sources, Notice and Readiness tests share: the demo's config and key paths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from dmarctui.config import Config, load_config
from dmarctui.demo import DemoFolder
from dmarctui.tui.app import DmarcApp
from dmarctui.tui.screens.sources import SourcesPane

from .conftest import AppFactory, settle

SOURCES_KEY = "2"
READINESS_KEY = "3"
LAB1 = "192.0.2.71"
LAB2 = "192.0.2.88"
SourcesApp = Callable[..., DmarcApp]


def demo_config_in(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    """The demo's own config (contacts, senders, networks), drafting into ``tmp_path``."""
    config, problems = load_config(demo_folder.config_path)
    assert not problems
    return replace(config, notice=replace(config.notice, drafts=str(tmp_path / "Drafts")))


def sources_factory(demo_app: AppFactory, config: Config) -> SourcesApp:
    """``demo_app`` with the demo config and no DNS unless a test asks for it."""

    def factory(**options: Any) -> DmarcApp:
        options.setdefault("config", config)
        options.setdefault("dns", False)
        return demo_app(**options)

    return factory


async def open_sources(pilot: Pilot[Any]) -> SourcesPane:
    await settle(pilot)
    await pilot.press(SOURCES_KEY)
    await settle(pilot)
    pane = pilot.app.screen.query_one(SourcesPane)
    assert pane.loaded
    return pane


async def go_to(pilot: Pilot[Any], sources: SourcesPane, ip: str, kind: str) -> None:
    """Arrow down to the row of (ip, kind), as a user would."""
    rows: list[tuple[str, str]] = [(f.source_ip, f.kind) for f in sources.shown]
    for _ in range(rows.index((ip, kind)) - sources.table.cursor_row):
        await pilot.press("down")
    assert sources.current is not None
    assert (sources.current.source_ip, sources.current.kind) == (ip, kind)
