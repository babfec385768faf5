"""The report list at scale, Japanese alignment, the command palette and the entry point."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from dmarctui.cli.open import run_tui
from dmarctui.index import ReportRow
from dmarctui.tui.commands import palette_commands
from dmarctui.tui.report_cells import column_widths, layout_line, row_cells
from dmarctui.tui.widgets.report_list import ReportList

from .conftest import AppFactory, settle

ROW = ReportRow(
    pk=1,
    message="m1",
    part="1",
    filename=None,
    org_name="google.com",
    email="x@google.com",
    report_id="r1",
    begin=1734480000,
    end=1734566399,
    domain="example.ac.jp",
    p="none",
    records=3,
    messages=120,
    passed=90,
    failed=30,
    none=100,
    quarantine=20,
    reject=0,
    status="recovered",
    duplicates=1,
    collision=True,
    counted=False,
)


def test_japanese_reporter_keeps_the_columns_aligned() -> None:
    widths = column_widths(78)
    ascii_line = layout_line(row_cells(ROW), widths)
    japanese = layout_line(row_cells(replace(ROW, org_name="東京大学情報基盤センター報告")), widths)
    assert ascii_line.cell_len == japanese.cell_len == sum(widths) + len(widths) - 1
    # the columns after the reporter start at the same cell in both lines
    tail = "example.ac.jp"
    assert ascii_line.plain.index(tail) == _cell_index(japanese, tail)


def _cell_index(line: Text, needle: str) -> int:
    plain = line.plain
    return Text(plain[: plain.index(needle)]).cell_len


def test_row_shows_share_dispositions_and_badges() -> None:
    line = layout_line(row_cells(ROW), column_widths(78)).plain
    assert "2024-12-18 1d" in line
    assert "75%" in line
    assert "20/0" in line
    assert line.rstrip().endswith("RDC~")


class ListApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = rows
        self.fetched: list[tuple[int, int]] = []

    def compose(self) -> ComposeResult:
        yield ReportList()

    def on_mount(self) -> None:
        def fetch(offset: int, limit: int) -> list[ReportRow]:
            self.fetched.append((offset, limit))
            stop = min(offset + limit, self.rows)
            return [replace(ROW, pk=i, report_id=f"r{i}") for i in range(offset, stop)]

        self.query_one(ReportList).set_source(lambda: self.rows, fetch)
        self.query_one(ReportList).focus()


async def test_list_of_100000_reports_holds_only_visible_pages() -> None:
    app = ListApp(100_000)
    async with app.run_test(size=(80, 24)) as pilot:
        listed = app.query_one(ReportList)
        await pilot.press("G")
        assert listed.cursor == 99_999
        assert listed.current is not None and listed.current.report_id == "r99999"
        await pilot.press("pageup", "k", "g", "j", "j")
        assert listed.cursor == 2
        assert listed.cache.rows_held <= listed.cache.page_size * listed.cache.max_pages
        assert len(app.fetched) <= 4


async def test_enter_posts_the_row_under_the_cursor() -> None:
    opened: list[ReportRow] = []

    class Opening(ListApp):
        def on_report_list_opened(self, event: ReportList.Opened) -> None:
            opened.append(event.row)

    app = Opening(10)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j", "j", "enter")
        await pilot.pause()
    assert [r.report_id for r in opened] == ["r2"]


async def test_palette_offers_noun_verb_commands_that_apply(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {title: run for title, _, run in palette_commands(app, app.screen)}
        assert {
            "folder: rescan",
            "reports: show failing first",
            "problems: show",
            "report: extract",
        } <= set(titles)
        assert "reports: clear filter" not in titles
        titles["reports: show failing first"]()
        await pilot.pause()
        again = {title for title, _, _ in palette_commands(app, app.screen)}
        assert "reports: show in sort order" in again
        titles["problems: show"]()
        await pilot.pause()
        assert app.main_screen.active_pane is not None
        assert app.main_screen.active_pane.PANE_ID == "problems"


def test_missing_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_tui([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err == f"dmarctui: {tmp_path / 'nowhere'}: no such folder or file\n"


def test_no_folder_suggests_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_tui([]) == 2
    assert "dmarctui --demo" in capsys.readouterr().err


def test_unknown_theme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_tui([str(tmp_path), "--theme", "neon"])
    assert exit_.value.code == 2


def test_a_foreign_index_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    db = tmp_path / "not-an-index"
    db.write_bytes(b"this is not sqlite" * 100)
    assert run_tui([str(folder), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmarctui: ") and err.count("\n") == 1
