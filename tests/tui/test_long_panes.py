"""Panes that list one row per message stay quick to open however long they are.

Every pane is filled when the app opens; a folder with thousands of messages that are not
reports (10,000 in the corpus repeated) put every one of them into the Problems table before
the first frame (3–4 s). The tables now take a page of rows at a time: the rest come as the
cursor nears them, and all of them on End.
"""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from dmarctui.scan import PARALLEL_FROM
from dmarctui.tui.app import make_app
from dmarctui.tui.widgets.pane_table import ROWS_PAGE, PaneTable

from .conftest import screen_text, settle

MESSAGES = 450
"""Plain messages, none of them a report: more than two pages, and enough for the worker pool."""


@pytest.fixture(scope="module")
def not_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notreports") / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    for n in range(MESSAGES):
        msg = EmailMessage()
        msg["From"] = "someone@example.org"
        msg["Subject"] = f"lunch {n}"
        msg.set_content("not a report")
        box.add(msg)
    box.close()
    return folder


def test_the_folder_is_long_enough() -> None:
    assert MESSAGES > 2 * ROWS_PAGE and MESSAGES >= PARALLEL_FROM


async def test_problems_lists_a_page_then_more_as_the_cursor_goes(
    not_reports: Path, tmp_path: Path
) -> None:
    app = make_app(not_reports, db=tmp_path / "index.sqlite", poll_seconds=None, dns=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        table = app.screen.query_one("#problems-table", PaneTable)
        buckets = str(app.screen.query_one("#buckets-line").render())
        assert buckets.startswith(f"{MESSAGES:,} messages = 0 aggregate")
        assert f" + {MESSAGES:,} not a report + 0 error" in buckets  # every message counted
        assert table.row_count == ROWS_PAGE
        table.move_cursor(row=ROWS_PAGE - 10)
        await settle(pilot)
        assert table.row_count == 2 * ROWS_PAGE  # the next page, before the cursor gets there
        await pilot.press("end")
        await settle(pilot)
        assert table.row_count == MESSAGES
        assert table.cursor_row == MESSAGES - 1
        await pilot.press("home")
        await settle(pilot)
        assert table.cursor_row == 0 and table.row_count == MESSAGES


async def test_a_rescan_starts_the_pages_again(not_reports: Path, tmp_path: Path) -> None:
    app = make_app(not_reports, db=tmp_path / "index.sqlite", poll_seconds=None, dns=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6", "end")
        await settle(pilot)
        table = app.screen.query_one("#problems-table", PaneTable)
        assert table.row_count == MESSAGES
        table.screen.query_one("ProblemsPane").reload()  # type: ignore[attr-defined]
        await settle(pilot)
        assert table.row_count == ROWS_PAGE
        assert "not a report" in screen_text(app)
