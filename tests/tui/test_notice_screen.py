"""The notice screen on the demo folder: preview, language, edits, drafts, confirmed sending."""

from __future__ import annotations

import contextlib
import mailbox
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.history import NoticeHistory
from dmarctui.letter_text import width
from dmarctui.tui.app import DmarcApp
from dmarctui.tui.screens.notice import NoticeScreen
from dmarctui.tui.screens.prompt import PromptScreen
from dmarctui.tui.widgets.confirm import ConfirmScreen

from .conftest import AppFactory, screen_text, settle
from .sources_support import (
    LAB1,
    SourcesApp,
    demo_config_in,
    go_to,
    open_sources,
    sources_factory,
)

SAAS = "203.0.113.20"
SUBJECT_JA = "【DMARC】送信ドメイン認証の不備について (192.0.2.71)"


@pytest.fixture
def demo_config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_config: Config) -> SourcesApp:
    return sources_factory(demo_app, demo_config)


async def compose(pilot: Pilot[Any], ip: str = LAB1, kind: str = "internal_no_dkim") -> None:
    sources = await open_sources(pilot)
    await go_to(pilot, sources, ip, kind)
    await pilot.press("n")
    await settle(pilot)


def notice_screen(app: DmarcApp) -> NoticeScreen:
    assert isinstance(app.screen, NoticeScreen)
    return app.screen


def drafts(config: Config) -> list[EmailMessage]:
    assert config.notice.drafts is not None
    box = mailbox.Maildir(config.notice.drafts, create=False)
    return [
        message_from_bytes(box.get_bytes(key), policy=default_policy)  # type: ignore[misc]
        for key in box.iterkeys()
    ]


def messages(app: DmarcApp) -> str:
    return " ".join(str(n.message) for n in app._notifications)


async def test_n_previews_the_japanese_notice_to_the_contact(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        screen = notice_screen(app)
        text = screen_text(app)
        assert "To       山田 太郎 <yamada@lab1.cs.univ.example>" in text
        assert f"Subject  {SUBJECT_JA}" in text
        assert "Language 日本語" in text
        body = screen.body.text
        assert body.startswith("山田 太郎 様\n")
        assert "合計 90 通" in body
        assert "  2024-11-08  google.com             5  fail  pass  none" in body
        assert "2. ヘッダ From に、そのサーバ自身（研究室など）のドメインのアドレス" in body
        assert max(width(line) for line in body.splitlines()) <= 72

        await pilot.press("l")
        await settle(pilot)
        assert "Language English" in screen_text(app)
        assert "Dear 山田 太郎," in screen.body.text
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_d_saves_a_draft_and_the_source_shows_it(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await compose(pilot)
        body = notice_screen(app).body.text
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is app.main_screen
        [draft] = drafts(demo_config)
        assert draft["Subject"] == SUBJECT_JA
        assert draft["To"].addresses[0].addr_spec == "yamada@lab1.cs.univ.example"
        assert draft.get_content().rstrip("\n") == body.rstrip("\n")
        with NoticeHistory.open() as history:
            [record] = history.all()
        assert (record.status, record.sources) == ("drafted", (LAB1,))
        await settle(pilot)
        text = screen_text(app)
        assert "draft 12-20" in text
        assert "Drafted 2024-12-20 to yamada@lab1.cs.univ.example" in text


async def test_edits_in_the_text_area_are_what_is_saved(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("e")
        assert "Editing the body: Esc when done" in screen_text(app)
        await pilot.press(*"PS: d and S are plain text here. ")
        await pilot.press("escape")
        assert isinstance(app.screen, NoticeScreen)
        assert "Edited" in screen_text(app)
        await pilot.press("d")
        await settle(pilot)
        [draft] = drafts(demo_config)
        assert draft.get_content().startswith("PS: d and S are plain text here. 山田 太郎 様")


async def test_external_editor_result_replaces_the_body(
    sources_app: SourcesApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "追記: 来週までにご対応ください。\\n" >> "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    app = sources_app()

    @contextlib.contextmanager
    def no_terminal_to_hand_over() -> Iterator[None]:
        yield

    monkeypatch.setattr(app, "suspend", no_terminal_to_hand_over)
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("E")
        await settle(pilot)
        body = notice_screen(app).body.text
        assert body.startswith("山田 太郎 様")
        assert body.endswith("追記: 来週までにご対応ください。\n")


def fake_sendmail(tmp_path: Path, *, fail: bool = False) -> tuple[str, Path]:
    """A sendmail that keeps what it was given, or refuses like a broken MTA."""
    out = tmp_path / "sent.eml"
    script = tmp_path / "sendmail"
    action = 'echo "relay down" >&2; exit 75' if fail else f'cat > "{out}"'
    script.write_text(f"#!/bin/sh\n{action}\n")
    script.chmod(0o755)
    return str(script), out


@pytest.fixture
def with_sendmail(demo_config: Config, tmp_path: Path) -> Callable[[bool], tuple[Config, Path]]:
    def make(fail: bool) -> tuple[Config, Path]:
        command, out = fake_sendmail(tmp_path, fail=fail)
        # the demo's own config never sends: these tests use its contacts as a real config
        config = replace(demo_config, demo=False)
        return replace(config, notice=replace(config.notice, sendmail=command)), out

    return make


async def test_send_only_after_confirmation(
    sources_app: SourcesApp, with_sendmail: Callable[[bool], tuple[Config, Path]]
) -> None:
    config, out = with_sendmail(False)
    app = sources_app(config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        text = screen_text(app)
        assert "Send this notice to yamada@lab1.cs.univ.example?" in text
        assert SUBJECT_JA in text
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NoticeScreen)
        assert not out.exists()
        assert not Path(str(config.notice.drafts)).exists()

        await pilot.press("S")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is app.main_screen
        sent = message_from_bytes(out.read_bytes(), policy=default_policy)
        assert sent["Subject"] == SUBJECT_JA
        assert "合計 90 通" in sent.get_content()  # type: ignore[attr-defined]
        with NoticeHistory.open() as history:
            [record] = history.all()
        assert record.status == "sent"
        assert "Sent to yamada@lab1.cs.univ.example" in messages(app)


async def test_failed_send_keeps_the_draft_and_says_why(
    sources_app: SourcesApp, with_sendmail: Callable[[bool], tuple[Config, Path]]
) -> None:
    config, _ = with_sendmail(True)
    app = sources_app(config=config)
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("S", "y")
        await settle(pilot)
        assert isinstance(app.screen, NoticeScreen)
        assert "exited with status 75: relay down" in messages(app)
        assert "the draft is kept in" in messages(app)
        [draft] = drafts(config)
        assert draft["Subject"] == SUBJECT_JA
        with NoticeHistory.open() as history:
            [record] = history.all()
        assert record.status == "drafted"


async def test_no_contact_asks_for_the_address(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot, SAAS, "unaligned_third_party")
        assert isinstance(app.screen, PromptScreen)
        assert "No contact is configured for this source" in screen_text(app)
        await pilot.press(*"news-admin@saas.example.net", "enter")
        await settle(pilot)
        screen = notice_screen(app)
        assert "To       news-admin@saas.example.net" in screen_text(app)
        assert "DKIM" in screen.body.text

        await pilot.press("escape")
        await compose(pilot, SAAS, "unaligned_third_party")
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.main_screen


async def test_an_invalid_address_is_asked_again_not_a_failed_notice(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot, SAAS, "unaligned_third_party")
        for typed in ("news-admin", "@saas.example.net"):  # the second once crashed
            await pilot.press(*typed, "enter")
            await settle(pilot)
            assert isinstance(app.screen, PromptScreen)
            assert app.screen.query_one(Input).value == typed  # selected: typing replaces it
            toast = list(app._notifications)[-1]
            assert toast.title == "Invalid To address"
            assert "Cannot write the notice" not in screen_text(app)
        await pilot.press(*"news-admin@saas.example.net", "enter")
        await settle(pilot)
        assert "To       news-admin@saas.example.net" in screen_text(app)


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_notice_snapshot(
    size: tuple[int, int],
    sources_app: SourcesApp,
    demo_config: Config,
    snap_compare: Any,
) -> None:
    # A fixed drafts label: the test's tmp path would change every run.
    config = replace(demo_config, notice=replace(demo_config.notice, drafts="~/Mail/drafts"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await compose(pilot)

    assert snap_compare(sources_app(config=config), terminal_size=size, run_before=run_before)


async def test_q_and_esc_ask_before_dropping_an_edited_letter(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("e", *"PS ", "escape")
        assert "Edited" in screen_text(app)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Your edits to the letter about 192.0.2.71 are not saved" in screen_text(app)
        await pilot.press("n")
        assert app.is_running
        assert notice_screen(app).body.text.startswith("PS 山田 太郎 様")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert notice_screen(app).edited
        await pilot.press("q", "y")
        await pilot.pause()
        assert not app.is_running


async def test_q_quits_at_once_from_an_unedited_letter(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_d_in_the_quit_question_saves_the_draft_then_quits(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("e", *"PS ", "escape", "q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "d saves them as a draft" in screen_text(app)
        await pilot.press("d")
        await pilot.pause()
        assert not app.is_running
    [draft] = drafts(demo_config)
    assert draft.get_content().startswith("PS 山田 太郎 様")


async def test_d_in_the_leave_question_saves_the_draft_then_goes_back(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(160, 30)) as pilot:
        await compose(pilot)
        await pilot.press("e", *"PS ", "escape", "escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("d")
        await settle(pilot)
        assert app.screen is app.main_screen
        assert "draft 12-20" in screen_text(app)
        assert "Drafted 2024-12-20 to yamada@lab1.cs.univ.example" in screen_text(app)
    assert len(drafts(demo_config)) == 1


def _cells(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


@pytest.mark.parametrize("size", [(66, 24), (60, 20)], ids=["66x24", "60x20"])
async def test_the_preview_wraps_long_lines_in_both_languages(
    sources_app: SourcesApp, size: tuple[int, int]
) -> None:
    """The end of every long line is on screen somewhere, CJK counted as two cells.

    At 80 columns nothing needs wrapping: the letter's lines are at most 72 columns
    (``test_no_body_line_is_wider_than_72_columns``); narrower windows still wrap.
    """
    app = sources_app()
    async with app.run_test(size=size) as pilot:
        await compose(pilot)
        for lang in ("ja", "en"):
            screen = notice_screen(app)
            assert screen.language == lang
            long_lines = [s for s in screen.body.text.splitlines() if _cells(s) > size[0] - 4]
            assert long_lines, "nothing to wrap at this width"
            seen = ""
            for _ in range(40):  # page through the letter, keeping what the screen showed
                seen += re.sub(r"[\s▁-█▏▕]", "", screen_text(app))  # no spaces, no scrollbar
                await pilot.press("pagedown")
            for line in long_lines:
                assert line.replace(" ", "")[-8:] in seen, line
            await pilot.press("l")
            await settle(pilot)


async def test_t_takes_several_recipients_and_names_a_wrong_one(
    sources_app: SourcesApp, with_sendmail: Callable[[bool], tuple[Config, Path]]
) -> None:
    config, _ = with_sendmail(False)
    app = sources_app(config=config)
    async with app.run_test(size=(120, 30)) as pilot:
        await compose(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, PromptScreen)
        await pilot.press("ctrl+a", "ctrl+k")  # clear the current value
        await pilot.press(*"Lab2 Admin <admin2@lab2.cs.univ.example>, second@lab2", "enter")
        await settle(pilot)
        assert "'second@lab2' is not an e-mail address" in messages(app)
        screen = notice_screen(app)
        assert screen.msg is not None
        assert str(screen.msg["To"]) == "山田 太郎 <yamada@lab1.cs.univ.example>"  # unchanged

        await pilot.press("t")
        await settle(pilot)
        await pilot.press("ctrl+a", "ctrl+k")
        await pilot.press(
            *"Lab2 Admin <admin2@lab2.cs.univ.example>, second@lab2.cs.univ.example", "enter"
        )
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press(*"head@cs.univ.example", "enter")
        await settle(pilot)
        text = screen_text(app)
        assert (
            "To       Lab2 Admin <admin2@lab2.cs.univ.example>, second@lab2.cs.univ.example" in text
        )
        assert "Cc       head@cs.univ.example" in text

        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        text = str(app.screen.question)  # what the dialog shows, before it wraps
        assert "From: postmaster@cs.univ.example" in text
        assert "To: Lab2 Admin <admin2@lab2.cs.univ.example>, second@lab2.cs.univ.example" in text
        assert "Cc: head@cs.univ.example" in text
        assert f"Subject: {SUBJECT_JA}" in text
        await pilot.press("n")
        await settle(pilot)


async def test_s_in_the_demo_explains_that_sending_is_off(sources_app: SourcesApp) -> None:
    app = sources_app()  # the demo's own config
    async with app.run_test(size=(80, 24)) as pilot:
        await compose(pilot)
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, NoticeScreen)
        assert "Sending is off in the demo" in messages(app)
