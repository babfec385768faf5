"""The Sources pane on the demo folder: the seeded problem sources, records, marks, PTR names."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.tui.screens.report_detail import ReportScreen
from dmarctui.tui.screens.source_records import SourceRecordsScreen

from .conftest import MAIN_SIZES, AppFactory, screen_text, settle
from .sources_support import (
    LAB1,
    LAB2,
    SourcesApp,
    demo_config_in,
    go_to,
    open_sources,
    sources_factory,
)

FORWARDER = "198.51.100.200"


@pytest.fixture
def demo_config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_config: Config) -> SourcesApp:
    return sources_factory(demo_app, demo_config)


def seeded(demo_folder: DemoFolder, *, informational: bool) -> set[tuple[str, str]]:
    return {
        (s.ip, kind)
        for s in demo_folder.facts.sources
        for kind in s.kinds
        if informational or kind != "forwarded"
    }


async def test_sources_show_exactly_the_seeded_problems(
    sources_app: SourcesApp, demo_folder: DemoFolder
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        assert {(f.source_ip, f.kind) for f in sources.shown} == seeded(
            demo_folder, informational=False
        )
        benign = {s.ip for s in demo_folder.facts.sources if not s.kinds}
        assert benign and not benign & {f.source_ip for f in sources.findings}
        assert FORWARDER not in screen_text(app)
        assert [f.severity for f in sources.shown][:2] == ["urgent", "urgent"]
        text = screen_text(app)
        assert "7 sources need action · 9 findings · 1 informational hidden (a)" in text
        assert "internal, no DKIM  192.0.2.71" in text
        assert "⏎ Records" in text

        await pilot.press("a")
        assert {(f.source_ip, f.kind) for f in sources.shown} == seeded(
            demo_folder, informational=True
        )
        await go_to(pilot, sources, FORWARDER, "forwarded")
        text = screen_text(app)
        assert f"forwarded (info)  {FORWARDER}" in text
        assert "No action needed." in text


async def test_detail_line_names_contact_and_advice(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        text = screen_text(app)
        assert "Contact: 山田 太郎 <yamada@lab1.cs.univ.example> · network 192.0.2.0/24" in text
        assert "Submit mail through the department mail server" in text
        assert "2024-11-08 – 2024-11-17 · 90 messages as cs.univ.example" in text


async def test_enter_lists_every_record_of_the_source(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(120, 40)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SourceRecordsScreen)
        records = app.index.records_for_source(LAB1)
        assert len(screen.rows) == len(records) > 0
        messages = sum(record.count for _, record in records)
        text = screen_text(app)
        reports = len({row.pk for row, _ in records})
        assert f"{len(records)} records in {reports} reports, {messages} messages" in text
        assert (
            "google.com          2024-11-08 1d      5  none         fail  pass  cs.univ.example"
            "  spf=mfrom:cs.univ.example:pass" in text
        )
        assert "⏎ Report" in text
        newest = max(records, key=lambda pair: pair[0].begin)[0]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        assert app.screen.row.pk == newest.pk
        await pilot.press("escape", "escape")
        assert app.screen is app.main_screen


async def test_marked_sources_of_different_admins_get_no_single_notice(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB2, "internal_no_dkim")
        await pilot.press("space")
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        await pilot.press("space")
        assert sources.marked == {LAB1, LAB2}
        assert "2 marked" in screen_text(app)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is app.main_screen
        assert "different contacts" in " ".join(str(n.message) for n in app._notifications)


async def test_spoofing_gets_no_notice(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, "203.0.113.66", "outside_spoofing")
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is app.main_screen
        assert "not something a server admin" in " ".join(
            str(n.message) for n in app._notifications
        )


def fake_resolver(calls: list[str]) -> Callable[[str], tuple[str, list[str], list[str]]]:
    def resolve(ip: str) -> tuple[str, list[str], list[str]]:
        calls.append(ip)
        return f"host-{ip.replace('.', '-').replace(':', '-')}.example.net", [], [ip]

    return resolve


def fake_forward(name: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
    """host-192-0-2-71.example.net resolves back to 192.0.2.71 (names are forward-confirmed)."""
    address = name.removeprefix("host-").removesuffix(".example.net")
    address = address.replace("-", ":" if address.count("-") > 3 else ".")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]


async def test_ptr_names_arrive_in_the_background(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "gethostbyaddr", fake_resolver(calls))
    monkeypatch.setattr(socket, "getaddrinfo", fake_forward)
    app = sources_app(dns=True)
    async with app.run_test(size=(160, 30)) as pilot:
        sources = await open_sources(pilot)
        await settle(pilot)
        assert set(calls) == {f.source_ip for f in sources.shown}
        assert "host-192-0-2-71.example.net" in screen_text(app)
        assert {f.source_ip: f.ptr for f in sources.shown}[LAB1] == "host-192-0-2-71.example.net"
        assert app.index.get(LAB1) is not None  # kept in the index for the next start


async def test_unconfirmed_ptr_names_are_shown_as_such_and_never_matched(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "gethostbyaddr", fake_resolver(calls))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [])  # names resolve to nothing
    app = sources_app(dns=True)
    async with app.run_test(size=(160, 30)) as pilot:
        sources = await open_sources(pilot)
        await settle(pilot)
        assert "host-192-0-2-71.example.net (PTR unconfirmed)" in screen_text(app)
        lab1 = {f.source_ip: f for f in sources.shown}[LAB1]
        assert (lab1.ptr, lab1.ptr_unconfirmed) == (None, "host-192-0-2-71.example.net")
        assert app.index.get(LAB1) == (lab1.ptr_unconfirmed, pytest.approx(time.time(), abs=60),
                                       False)  # fmt: skip


async def test_no_dns_uses_only_cached_names(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(socket, "gethostbyaddr", fake_resolver(calls))
    app = sources_app(dns=False)
    app.index.put(LAB2, "srv.lab2.cs.univ.example", 0.0, confirmed=True)
    async with app.run_test(size=(160, 30)) as pilot:
        await open_sources(pilot)
        assert calls == []
        text = screen_text(app)
        assert "srv.lab2.cs.univ.example" in text
        assert "host-" not in text


SIZES = MAIN_SIZES


@pytest.mark.parametrize("size", SIZES)
def test_sources_snapshot(
    size: tuple[int, int], sources_app: SourcesApp, snap_compare: Any
) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")

    assert snap_compare(sources_app(), terminal_size=size, run_before=run_before)


async def test_palette_offers_the_sources_commands(sources_app: SourcesApp) -> None:
    from dmarctui.tui.commands import palette_commands

    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        titles = {title: run for title, _, run in palette_commands(app, app.main_screen)}
        assert {"sources: compose notice", "sources: show informational"} <= set(titles)
        titles["sources: show informational"]()
        assert sources.show_all
        titles = {title for title, _, _ in palette_commands(app, app.main_screen)}
        assert "sources: hide informational" in titles


async def test_a_long_ranking_counts_its_seconds_and_keys_still_work(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from dmarctui.tui.screens import sources as sources_module

    gate = threading.Event()
    real = sources_module.triage

    def slow(*args: Any, **kwargs: Any) -> Any:
        gate.wait(timeout=10)
        return real(*args, **kwargs)

    monkeypatch.setattr(sources_module, "triage", slow)
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause(2.2)
        assert re.search(r"Ranking the sources… [12] s", screen_text(app))
        await pilot.press("1")  # the UI answers while the ranking runs
        await pilot.pause()
        assert app.main_screen.active_pane is not None
        assert app.main_screen.active_pane.PANE_ID == "reports"
        await pilot.press("2")
        gate.set()
        await settle(pilot)
        assert "sources need action" in screen_text(app)


async def test_records_of_a_source_are_read_a_page_at_a_time(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmarctui.tui.screens import source_records

    monkeypatch.setattr(source_records, "PAGE", 4)
    app = sources_app()
    async with app.run_test(size=(120, 40)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SourceRecordsScreen)
        every = app.index.records_for_source(LAB1)
        assert len(every) > 8
        assert len(screen.rows) == 4  # one page, not every record
        for _ in range(len(every)):
            await pilot.press("down")
        await settle(pilot)
        newest_first = sorted(every, key=lambda pair: pair[0].begin, reverse=True)
        assert [row.pk for row in screen.rows] == [row.pk for row, _ in newest_first]


async def test_own_domains_matching_no_report_are_warned_not_all_clear(
    demo_app: AppFactory,
) -> None:
    app = demo_app(config=Config(own_domains=("other.example",)), dns=False)
    async with app.run_test(size=(120, 40)) as pilot:
        sources = await open_sources(pilot)
        assert sources.shown == []
        text = screen_text(app)
        assert "Nothing to act on" not in text
        assert "Warning: the configured own domains (other.example) match none of" in text
