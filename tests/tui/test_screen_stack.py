"""Quick and repeated keys never crash the app, stack a screen twice or close the wrong one.

On the public corpus's MH folder with no config, so every notice asks for its recipient first.
Keys are sent two ways: ``pilot.press`` with several keys (each handled before the next), and
``type_ahead``, which hands all of them to the app at once as a terminal does with keys typed
while the app was busy.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.widgets import Input

from dmarctui.index import Index
from dmarctui.notice import letter_findings
from dmarctui.scan import drain
from dmarctui.tui.app import DmarcApp, make_app
from dmarctui.tui.screens.main import MainScreen
from dmarctui.tui.screens.notice import NoticeScreen
from dmarctui.tui.screens.prompt import PromptScreen
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import CORPUS

from .conftest import notices, settle
from .sources_support import SOURCES_KEY

ADDRESS = "admin@example.org"


@pytest.fixture(scope="module")
def mh_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MH folder's index, built once: each test opens a copy (its scan finds nothing new)."""
    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"public corpus not found at {CORPUS}")
    db = tmp_path_factory.mktemp("mh") / "index.sqlite"
    with Index.open(CORPUS / "mail" / "MH", db=db) as index:
        drain(index.update())
    return db


@pytest.fixture
def mh_app(mh_index: Path, tmp_path: Path) -> DmarcApp:
    db = tmp_path / "index.sqlite"
    shutil.copyfile(mh_index, db)
    return make_app(CORPUS / "mail" / "MH", db=db, poll_seconds=None, dns=False)


def stack(app: DmarcApp) -> list[str]:
    return [type(screen).__name__ for screen in app.screen_stack]


async def type_ahead(pilot: Pilot[Any], *keys: str) -> None:
    """Deliver ``keys`` all at once, with no pause between them, then let the app catch up."""
    app = pilot.app
    assert app._driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char: str | None = unicodedata.lookup(
                _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
            )
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
    await settle(pilot)
    await pilot.pause(0.2)
    await settle(pilot)


async def on_a_source_to_write_to(pilot: Pilot[Any]) -> None:
    """Sources shown, the cursor on the first source a notice can be written about."""
    await settle(pilot)
    await pilot.press(SOURCES_KEY)
    await settle(pilot)
    pane = pilot.app.screen.query_one(SourcesPane)
    assert pane.loaded
    row = next(i for i, f in enumerate(pane.shown) if letter_findings([f]))
    for _ in range(row - pane.table.cursor_row):
        await pilot.press("down")


async def open_notice_with_address(pilot: Pilot[Any]) -> None:
    await pilot.press("n")
    await settle(pilot)
    assert stack(pilot.app) == ["MainScreen", "NoticeScreen", "PromptScreen"]  # type: ignore[arg-type]
    await pilot.press(*ADDRESS, "enter")
    await settle(pilot)
    assert stack(pilot.app) == ["MainScreen", "NoticeScreen"]  # type: ignore[arg-type]


def still_running(app: DmarcApp) -> bool:
    return app.is_running and app._exception is None and app.return_code is None


async def test_enter_three_times_at_once_closes_only_the_prompt(mh_app: DmarcApp) -> None:
    app = mh_app
    async with app.run_test(size=(80, 24)) as pilot:
        await on_a_source_to_write_to(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*ADDRESS)
        await type_ahead(pilot, "enter", "enter", "enter")
        assert still_running(app)
        assert stack(app) == ["MainScreen", "NoticeScreen"]
        notice = app.screen
        assert isinstance(notice, NoticeScreen)
        assert notice.to == ADDRESS
        assert notice.body.text  # the letter was built, not left empty


async def test_n_twice_at_once_opens_one_notice(mh_app: DmarcApp) -> None:
    app = mh_app
    async with app.run_test(size=(80, 24)) as pilot:
        await on_a_source_to_write_to(pilot)
        await type_ahead(pilot, "n", "n")
        assert still_running(app)
        assert stack(app) == ["MainScreen", "NoticeScreen", "PromptScreen"]
        await pilot.press("escape")
        await settle(pilot)
        assert stack(app) == ["MainScreen"]


async def test_esc_repeated_at_once_leaves_the_main_screen_up(mh_app: DmarcApp) -> None:
    app = mh_app
    async with app.run_test(size=(80, 24)) as pilot:
        await on_a_source_to_write_to(pilot)
        await type_ahead(pilot, "n", "escape", "escape", "escape", "n", "escape", "escape")
        assert still_running(app)
        assert stack(app) == ["MainScreen"]
        await pilot.press("n", "escape", "escape", "n")
        await settle(pilot)
        assert stack(app) == ["MainScreen", "NoticeScreen", "PromptScreen"]


@pytest.mark.parametrize("at_once", [False, True], ids=["pressed", "typed-ahead"])
async def test_the_reported_sequence_ends_on_the_main_screen(
    mh_app: DmarcApp, at_once: bool
) -> None:
    """↓ ↓ n, an address, Enter, S, n, Esc, 6, 6, 1, 2, n, Esc: it crashed in 2 runs of 3."""
    app = mh_app
    rest = ("S", "n", "escape", "6", "6", "1", "2", "n", "escape", "2", "n", "escape")
    async with app.run_test(size=(80, 24)) as pilot:
        await on_a_source_to_write_to(pilot)
        await open_notice_with_address(pilot)
        if at_once:
            await type_ahead(pilot, *rest)
        else:
            await pilot.press(*rest)
            await settle(pilot)
        assert still_running(app)
        assert stack(app) == ["MainScreen"]
        assert "Nothing was sent" in notices(app)


async def test_quit_keys_repeated_ask_once_about_an_edited_notice(mh_app: DmarcApp) -> None:
    app = mh_app
    async with app.run_test(size=(80, 24)) as pilot:
        await on_a_source_to_write_to(pilot)
        await open_notice_with_address(pilot)
        await pilot.press("e", "x", "escape")
        await settle(pilot)
        assert isinstance(app.screen, NoticeScreen) and app.screen.edited
        await type_ahead(pilot, "ctrl+c", "ctrl+q", "ctrl+q")
        assert still_running(app)
        assert stack(app) == ["MainScreen", "NoticeScreen", "ConfirmScreen"]
        await pilot.press("n")
        await settle(pilot)
        assert stack(app) == ["MainScreen", "NoticeScreen"]
        await pilot.press("ctrl+q", "ctrl+q")
        await settle(pilot)
        assert stack(app) == ["MainScreen", "NoticeScreen", "ConfirmScreen"]
        await pilot.press("y")
        await settle(pilot)
    assert app.return_code == 0


async def test_a_screen_is_never_stacked_on_one_of_its_kind(mh_app: DmarcApp) -> None:
    app = mh_app
    answers: list[bool | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(ConfirmScreen("Quit dmarctui", "first"), answers.append)
        app.push_screen(ConfirmScreen("Quit dmarctui", "second"), answers.append)
        await settle(pilot)
        assert stack(app) == ["MainScreen", "ConfirmScreen"]
        await pilot.press("n")
        await settle(pilot)
        assert answers == [False]
        assert stack(app) == ["MainScreen"]


async def test_a_dialog_dismissed_twice_closes_once(mh_app: DmarcApp) -> None:
    app = mh_app
    answers: list[str | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        prompt = PromptScreen("Search")
        app.push_screen(prompt, answers.append)
        await settle(pilot)
        prompt.dismiss("first")
        prompt.dismiss("second")  # a queued Enter that reached the prompt after it closed
        await settle(pilot)
        assert still_running(app)
        assert answers == ["first"]
        assert isinstance(app.screen, MainScreen)


async def test_a_dialog_under_another_screen_does_not_close_that_screen(
    mh_app: DmarcApp,
) -> None:
    app = mh_app
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        prompt = PromptScreen("Search")
        app.push_screen(prompt)
        app.push_screen(ConfirmScreen("Send notice", "?"))
        await settle(pilot)
        prompt.dismiss("late")
        await settle(pilot)
        assert stack(app) == ["MainScreen", "PromptScreen", "ConfirmScreen"]
        assert prompt.query_one(Input).value == ""
