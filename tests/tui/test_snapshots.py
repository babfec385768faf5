"""Snapshots of every screen on the demo folder at 60×20, 80×24 and 160×48, with a fixed clock.

Re-record with ``make snapshots`` only after reading the report of what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from .conftest import MAIN_SIZES, AppFactory, settle

SIZES = MAIN_SIZES
VIEWS: dict[str, tuple[str, ...]] = {
    "reports": (),
    "report_summary": ("enter",),
    "report_records": ("enter", "2"),
    "report_xml": ("enter", "3"),
    "report_headers": ("enter", "4"),
    "failures": ("4",),
    "tls": ("5",),
    "problems": ("6",),
    "filter": ("f",),
    "sort": ("s",),
    "help": ("question_mark",),
}


def keys_then_settle(keys: tuple[str, ...]) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("view", list(VIEWS))
def test_screen(view: str, size: tuple[int, int], demo_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(demo_app(), terminal_size=size, run_before=keys_then_settle(VIEWS[view]))


def test_light_theme(demo_app: AppFactory, snap_compare: Any) -> None:
    assert snap_compare(
        demo_app(theme="textual-light"), terminal_size=(80, 24), run_before=keys_then_settle(())
    )
