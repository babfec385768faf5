"""Pilot tests of the main flows on the demo folder, asserting what the screen shows."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import DataTable, Input

from dmarctui.demo import DemoFolder
from dmarctui.extract import conventional_name
from dmarctui.index import Index, ReportFilter
from dmarctui.model import FoundReport
from dmarctui.scan import drain
from dmarctui.tui.app import DmarcApp, make_app
from dmarctui.tui.screens.help import HelpScreen
from dmarctui.tui.screens.report_detail import ReportScreen
from dmarctui.tui.widgets.pane_tabs import PaneTabs
from dmarctui.tui.widgets.report_list import ReportList
from dmarctui.tui.widgets.scan_progress import ScanProgressBar

from .conftest import AppFactory, GatedIndex, folder_state, notices, screen_text, settle

DEMO_REPORTS = 168
DEMO_MESSAGES = 173


def report_list(app: DmarcApp) -> ReportList:
    return app.screen.query_one(ReportList)


async def test_open_lists_every_report(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert f"{DEMO_REPORTS} reports · all reports · by period start ↓" in text
        assert f"{DEMO_MESSAGES} messages" in text
        assert report_list(app).row_count == DEMO_REPORTS
        assert "2024-12-18 1d google.com" in text


async def test_reopened_index_shows_the_list_before_the_scan_ends(demo_app: AppFactory) -> None:
    app = demo_app()
    gated = GatedIndex(app.index)
    app.index = gated  # type: ignore[assignment]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert report_list(app).row_count == DEMO_REPORTS
        bar = app.screen.query_one(ScanProgressBar)
        assert bar.display
        assert "0/173 messages" in screen_text(app)
        assert "Esc to cancel" in screen_text(app)
        gated.gate.set()
        await settle(pilot)
        assert not bar.display
        assert app.last_stats.unchanged == DEMO_MESSAGES
        assert app.last_stats.bodies_read == 0


async def test_first_scan_fills_an_empty_index(
    demo_folder: DemoFolder, tmp_path: Path, demo_app: AppFactory
) -> None:
    app = demo_app(db=tmp_path / "fresh.sqlite")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert report_list(app).row_count == DEMO_REPORTS
        assert app.last_stats.new == DEMO_MESSAGES
        assert "173 new messages" in notices(app)


async def test_escape_cancels_a_scan(demo_app: AppFactory, tmp_path: Path) -> None:
    app = demo_app(db=tmp_path / "fresh.sqlite")
    gated = GatedIndex(app.index)
    app.index = gated  # type: ignore[assignment]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.scanning
        await pilot.press("escape")
        gated.gate.set()
        await settle(pilot)
        assert not app.scanning
        assert app.last_stats.cancelled
        assert "Scan cancelled" in notices(app)
        assert not app.screen.query_one(ScanProgressBar).display


async def test_enter_opens_the_report_with_records_xml_and_headers(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        row = report_list(app).current
        assert row is not None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert f"Report ID    {row.report_id}" in screen_text(app)
        await pilot.press("2")
        assert app.screen.query_one("#records-table", DataTable).row_count == row.records
        assert "192.0.2.10" in screen_text(app)
        await pilot.press("3")
        await pilot.pause()
        text = screen_text(app)
        assert "<feedback" in text or "<?xml" in text
        assert "<report_metadata>" in text
        await pilot.press("4")
        await pilot.pause()
        assert "Subject: Report Domain: cs.univ.example" in screen_text(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, ReportScreen)
        assert report_list(app).current == row


async def test_number_keys_and_tab_switch_panes(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        tabs = app.screen.query_one(PaneTabs)
        assert tabs.labels == [
            "1 Reports",
            "2 Sources",
            "3 Readiness",
            "4 Failures",
            "5 TLS",
            "6 Problems",
        ]
        assert screen_text(app).splitlines()[1].startswith(" 1 Reports  2 Sources  3 Readiness")

        def shown() -> str:
            pane = app.main_screen.active_pane
            assert pane is not None and pane.display
            assert tabs.active == pane.PANE_ID
            return pane.PANE_ID

        await pilot.press("6")
        assert shown() == "problems"
        text = screen_text(app)
        assert "173 messages = 168 aggregate + 1 failure + 1 TLS + 1 duplicate" in text
        assert "collision" in text and "not a report" in text and "error" in text
        await pilot.press("4")
        assert shown() == "failures"
        assert "1 failure report ·" in screen_text(app)
        await pilot.press("tab")
        assert shown() == "tls"
        assert "1 TLS report ·" in screen_text(app)
        await pilot.press("shift+tab", "shift+tab")
        assert shown() == "readiness"
        await pilot.press("shift+tab")
        assert shown() == "sources"
        await pilot.press("shift+tab")
        assert shown() == "reports"
        await pilot.press("shift+tab")
        assert shown() == "problems"
        assert [p.PANE_ID for p in app.main_screen.panes if p.display] == ["problems"]


async def test_filter_by_reporter_and_result(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        expected = app.index.count_reports(ReportFilter(reporter="google.com", result="fail"))
        assert 0 < expected < DEMO_REPORTS
        await pilot.press("f")
        await pilot.click("#f-reporter")
        await pilot.press(*"google.com")
        app.screen.query_one("#f-result").value = "fail"
        await pilot.press("ctrl+s")
        await pilot.pause()
        listed = report_list(app)
        assert listed.row_count == expected
        assert f"{expected} reports · reporter=google.com, failing" in screen_text(app)
        rows = [listed.cache.get(i) for i in range(listed.row_count)]
        assert all(r is not None and r.org_name == "google.com" and r.failed for r in rows)


async def test_filter_rejects_a_bad_date(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        app.screen.query_one("#f-since", Input).value = "2024-13-45"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "'2024-13-45' is not a date like 2024-11-03" in screen_text(app)


async def test_search_then_clear(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        expected = app.index.count_reports(ReportFilter(text="Yahoo"))
        await pilot.press("slash", *"Yahoo", "enter")
        assert report_list(app).row_count == expected
        assert f"{expected} reports · “Yahoo”" in screen_text(app)
        await pilot.press("slash", "ctrl+u", "enter")
        assert report_list(app).row_count == DEMO_REPORTS


async def test_sort_by_messages_then_reverse(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        most = app.index.reports_page(ReportFilter(), sort="messages", limit=1)[0]
        least = app.index.reports_page(ReportFilter(), sort="messages", descending=False, limit=1)[
            0
        ]
        await pilot.press("s", "down", "down", "down", "down", "down", "enter")
        assert "by messages ↓" in screen_text(app)  # counts start with the largest
        assert report_list(app).current == most
        await pilot.press("s", "enter")
        assert "by messages ↑" in screen_text(app)
        assert report_list(app).current == least
        await pilot.press("G")
        assert report_list(app).cursor == DEMO_REPORTS - 1


async def test_extract_one_and_all_listed(
    demo_app: AppFactory, demo_folder: DemoFolder, tmp_path: Path
) -> None:
    before = folder_state(demo_folder.maildir)
    out = tmp_path / "out"
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        row = report_list(app).current
        assert row is not None
        await pilot.press("e")
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.index.report(row.pk)
        name = conventional_name(
            FoundReport(row.message, row.part, row.filename, detail.report, "")
        )
        assert [p.name for p in out.iterdir()] == [name]
        assert (out / name).read_bytes() == app.index.report_xml(row.pk)
        await pilot.press("slash", *"Yahoo", "enter", "E")
        await pilot.press("enter")
        await settle(pilot)
        yahoo = app.index.count_reports(ReportFilter(text="Yahoo"))
        assert len(list(out.iterdir())) == 1 + yahoo - (1 if "Yahoo" in row.org_name else 0)
        assert "written" in notices(app)
    assert folder_state(demo_folder.maildir) == before


async def test_help_opens_and_closes(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "dmarctui keys" in screen_text(app)
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_quits_and_the_folder_is_unchanged(
    demo_app: AppFactory, demo_folder: DemoFolder
) -> None:
    before = folder_state(demo_folder.maildir)
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "3", "escape", "6", "enter", "escape", "r")
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0
    assert folder_state(demo_folder.maildir) == before


async def test_theme_toggles_light_and_dark(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.current_theme.dark
        await pilot.press("ctrl+t")
        assert not app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark


async def test_new_mail_is_noticed_by_the_poll(
    demo_folder: DemoFolder, tmp_path: Path, demo_app: AppFactory
) -> None:
    folder = tmp_path / "Maildir"
    shutil.copytree(demo_folder.maildir, folder)
    with Index.open(folder, db=tmp_path / "copy.sqlite") as index:
        drain(index.update(workers=1))
    app = make_app(folder, db=tmp_path / "copy.sqlite", clock=lambda: 0.0, poll_seconds=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert report_list(app).row_count == DEMO_REPORTS
        (folder / "new" / "1734700000.M1P1.test").write_bytes(new_report_mail())
        app._poll()
        await settle(pilot)
        assert report_list(app).row_count == DEMO_REPORTS + 1
        assert "1 new message" in notices(app)


def new_report_mail() -> bytes:
    xml = (
        '<?xml version="1.0"?><feedback><report_metadata><org_name>new.example</org_name>'
        "<email>dmarc@new.example</email><report_id>fresh-1</report_id><date_range>"
        "<begin>1734652800</begin><end>1734739199</end></date_range></report_metadata>"
        "<policy_published><domain>example.ac.jp</domain><p>none</p></policy_published>"
        "<record><row><source_ip>192.0.2.10</source_ip><count>3</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        "</row><identifiers><header_from>example.ac.jp</header_from></identifiers>"
        "<auth_results><dkim><domain>example.ac.jp</domain><result>pass</result></dkim>"
        "<spf><domain>example.ac.jp</domain><result>pass</result></spf></auth_results>"
        "</record></feedback>"
    )
    return (
        "From: dmarc@new.example\r\nTo: dmarc@example.ac.jp\r\nSubject: Report Domain:"
        " example.ac.jp Submitter: new.example Report-ID: fresh-1\r\nMessage-ID: <fresh-1@new>"
        "\r\nDate: Fri, 20 Dec 2024 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type:"
        ' text/xml; name="new.example!example.ac.jp!1734652800!1734739199.xml"\r\n'
        "Content-Disposition: attachment\r\n\r\n" + xml + "\r\n"
    ).encode()
