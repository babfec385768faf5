"""The Readiness pane on the demo folder: the per-domain table of ``dmarctui.readiness``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.readiness import readiness
from dmarctui.tui.screens.readiness import ReadinessPane

from .conftest import MAIN_SIZES, AppFactory, screen_text, settle
from .sources_support import READINESS_KEY, SourcesApp, demo_config_in, sources_factory


@pytest.fixture
def demo_config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_config: Config) -> SourcesApp:
    return sources_factory(demo_app, demo_config)


async def open_readiness(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press(READINESS_KEY)
    await settle(pilot)


async def test_readiness_shows_the_demo_domain(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await open_readiness(pilot)
        [expected] = readiness(list(app.index.counted_reports()), demo_config)
        assert expected.domain == "cs.univ.example" and not expected.ready
        text = screen_text(app)
        assert "1 domain · 0 ready for a stricter policy" in text
        assert (
            f"cs.univ.example  not ready: {expected.failed_legit:,} messages from legitimate"
            " sources fail DMARC"
        ) in text
        assert (
            f"total     {expected.passed:,}       {expected.failed_legit:,}"
            f"           {expected.failed_outside:,}       {expected.enforced:,}"
        ) in text
        hit = {str(kind): n for kind, n in expected.would_quarantine.items()}
        for label, kind in (
            ("third party", "unaligned_third_party"),
            ("DKIM broken", "dkim_broken"),
            ("spoofing", "outside_spoofing"),
        ):
            count = hit[kind]
            assert any(
                line.strip().startswith(label) and line.strip().endswith(f"{count:,}")
                for line in text.splitlines()
            )
        assert "Receivers saw 2 different published policies" in text
        assert "p=none; sp=none; adkim=r; aspf=r; pct=100" in text
        assert "p=quarantine; sp=none; adkim=r; aspf=r; pct=100" in text

        await pilot.press("G")
        await pilot.pause()
        bottom = screen_text(app)
        last = expected.days[-1]
        assert (
            f"{last.day}  {last.passed:>5,}  {last.failed_legit:>10,}  {last.failed_outside:>12,}"
        ) in bottom


async def test_readiness_runs_only_once_shown(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Counting" in str(app.main_screen.query_one("#readiness-status").render())
        await open_readiness(pilot)
        assert "1 domain ·" in screen_text(app)
        assert app.main_screen.query_one(ReadinessPane).display


SIZES = MAIN_SIZES


@pytest.mark.parametrize("size", SIZES)
def test_readiness_snapshot(
    size: tuple[int, int], sources_app: SourcesApp, snap_compare: Any
) -> None:
    assert snap_compare(sources_app(), terminal_size=size, run_before=open_readiness)
