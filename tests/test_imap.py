"""IMAP folders against a real Dovecot on loopback (``tests/dovecot.py``): the same accounting
as the local copy, flags untouched, incremental rescans, STARTTLS and IMAPS with a test CA, and
one-line errors for a bad password, a missing folder, an untrusted certificate and a connection
lost mid-scan (after which nothing fetched is lost and the next run resumes)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dmarctui import imap_store
from dmarctui.cli import main
from dmarctui.imap_store import ImapError, ImapStore
from dmarctui.index import Index
from dmarctui.scan import drain
from tests.dovecot import (
    PACKAGE,
    PASSWORD,
    UTF8_PASSWORD,
    UTF8_USER,
    Dovecot,
    DroppingProxy,
    dovecot_binary,
    running,
)
from tests.mailbuild import Rec, aggregate_xml, report_mail

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    if dovecot_binary() is None:
        if os.environ.get("DMARCTUI_REQUIRE_DOVECOT"):
            pytest.fail(f"dovecot is required here (.ci/run) but not installed ({PACKAGE})")
        pytest.skip(f"dovecot is not installed (Debian package {PACKAGE}; `make test` installs it)")
    pytest.importorskip("trustme", reason="trustme (test extra) makes the test CA")
    with running() as started:
        yield started


def _configure(server: Dovecot, password: str = PASSWORD, **extra: str) -> None:
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "dmarctui" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    lines = [f'ca_file = "{server.ca_file}"', *(f"{k} = {v}" for k, v in extra.items())]
    config.write_text("[imap]\n" + "\n".join(lines) + "\n")
    os.environ["DMARCTUI_IMAP_PASSWORD"] = password


@pytest.fixture
def imap(server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Dovecot:
    monkeypatch.setenv("DMARCTUI_IMAP_PASSWORD", PASSWORD)
    _configure(server)
    return server


def _mails(n: int, tag: str) -> list[bytes]:
    return [
        report_mail(
            aggregate_xml(Rec(f"192.0.2.{i + 1}", i + 1), report_id=f"{tag}-{i}"),
            message_id=f"<{tag}-{i}@test>",
        )
        for i in range(n)
    ]


def _visible(flags: dict[int, tuple[bytes, ...]]) -> dict[int, tuple[bytes, ...]]:
    """Flags a client stores (\\Recent is the server's per-session note, not a stored flag)."""
    return {uid: tuple(f for f in fl if f != b"\\Recent") for uid, fl in flags.items()}


def test_corpus_over_imaps_accounts_like_the_local_maildir_and_changes_no_flag(
    imap: Dovecot, corpus: Path, tmp_path: Path
) -> None:
    local = corpus / "mail" / "Maildir"
    files = sorted(
        (p for sub in ("new", "cur") for p in (local / sub).iterdir()),
        key=lambda p: p.name.split(":", 1)[0],
    )
    imap.append("Corpus", [p.read_bytes() for p in files])
    before = _visible(imap.flags("Corpus"))
    with Index.open(local, in_memory=True) as index:
        drain(index.update(workers=1))
        expected = (index.buckets(), index.count_reports(), len(index.failures()))
    with Index.open(imap.url("Corpus"), db=tmp_path / "i.db") as index:
        stats = drain(index.update())
        got = (index.buckets(), index.count_reports(), len(index.failures()))
        assert stats.bodies_read == len(files)
        assert index.raw_message(index.scan_result().reports[0].message).startswith(b"")
    assert got == expected
    after = _visible(imap.flags("Corpus"))
    assert after == before
    assert not any(b"\\Seen" in fl for fl in after.values())


def test_rescans_fetch_only_new_uids_and_notice_deletions_and_uidvalidity(
    imap: Dovecot, tmp_path: Path
) -> None:
    url, db = imap.url("Incr"), tmp_path / "i.db"
    imap.append("Incr", _mails(5, "a"))

    def update() -> tuple[int, int, int, int]:
        with Index.open(url, db=db) as index:
            s = drain(index.update())
            return s.new, s.gone, s.bodies_read, index.count_reports()

    assert update() == (5, 0, 5, 5)
    assert update() == (0, 0, 0, 5)
    imap.append("Incr", _mails(2, "b"))
    assert update() == (2, 0, 2, 7)
    uids = sorted(imap.flags("Incr"))
    imap.delete_uids("Incr", uids[:1])
    assert update() == (0, 1, 0, 6)
    imap.recreate("Incr", _mails(3, "c"))  # a new UIDVALIDITY: every old key is gone
    assert update() == (3, 6, 3, 3)


def test_starttls_scan_from_the_command_line(
    imap: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    imap.append("Tls", _mails(3, "t"))
    url = imap.url("Tls", starttls=True)
    assert url.startswith("imap://")
    assert main(["scan", url, "--db", str(tmp_path / "i.db")]) == 0
    out = capsys.readouterr().out
    assert "3 messages" in out and "3 new" in out


def _one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("dmarctui: ")
    return err


def test_bad_password_missing_folder_and_untrusted_certificate(
    imap: Dovecot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "i.db")]
    del os.environ["DMARCTUI_IMAP_PASSWORD"]  # and no terminal to prompt on
    assert "no password for reports@127.0.0.1" in _one_line_error(["scan", imap.url(), *db], capsys)
    os.environ["DMARCTUI_IMAP_PASSWORD"] = "wrong"
    assert "login refused" in _one_line_error(["scan", imap.url(), *db], capsys)
    os.environ["DMARCTUI_IMAP_PASSWORD"] = PASSWORD
    err = _one_line_error(
        ["scan", imap.url("No such folder"), "--db", str(tmp_path / "n.db")], capsys
    )
    assert "no folder 'No such folder'" in err
    (Path(os.environ["XDG_CONFIG_HOME"]) / "dmarctui" / "config.toml").unlink()
    err = _one_line_error(["scan", imap.url(), "--db", str(tmp_path / "j.db")], capsys)
    assert "certificate is not trusted" in err
    (tmp_path / "k").mkdir()
    assert main(["scan", imap.url(), "--insecure-tls", "--db", str(tmp_path / "k" / "i.db")]) == 0
    assert "NOT verified" in capsys.readouterr().err
    assert PASSWORD not in (tmp_path / "k" / "i.db").read_bytes().decode("latin-1")
    _configure(imap, insecure_tls="true")  # the same, asked for in the config
    assert main(["scan", imap.url(), "--db", str(tmp_path / "k" / "i.db")]) == 0
    assert "NOT verified" in capsys.readouterr().err
    err = _one_line_error(["scan", str(tmp_path), "--insecure-tls"], capsys)
    assert "applies to imap:// and imaps:// folders only" in err


def test_lost_connection_keeps_what_was_fetched_and_the_next_run_resumes(
    imap: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap.append("Drop", _mails(12, "d"))
    proxy = DroppingProxy(imap.imaps_port)
    monkeypatch.setattr(imap_store, "FETCH_BATCH", 4)
    real_fetch = ImapStore.fetch

    def fetch_then_cut(self: ImapStore, refs: list) -> Iterator:  # type: ignore[type-arg]
        for n, item in enumerate(real_fetch(self, refs)):
            if n == 5:
                proxy.cut()  # the network goes away in the middle of the second batch
            yield item

    url, db = imap.url("Drop", port=proxy.port), tmp_path / "i.db"
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ImapStore, "fetch", fetch_then_cut)
            with Index.open(url, db=db) as index, pytest.raises(ImapError, match="connection lost"):
                drain(index.update())
        with Index.open(url, db=db) as index:
            kept = index.message_count()
            assert 4 <= kept < 12
            stats = drain(index.update())
            assert (stats.bodies_read, stats.unchanged) == (12 - kept, kept)
            assert index.count_reports() == 12
    finally:
        proxy.close()


def test_the_connection_refuses_every_command_that_writes(imap: Dovecot) -> None:
    imap.append("Guard", _mails(1, "g"))
    store = ImapStore(imap_store.parse_imap_url(imap.url("Guard")), imap_store.load_imap_settings())
    try:
        store.listing()
        conn = store._connect()
        for attempt in (
            lambda: conn.store("1", "+FLAGS", "(\\Seen)"),
            lambda: conn.uid("STORE", "1", "+FLAGS", "(\\Seen)"),
            lambda: conn.expunge(),
            lambda: conn.append("Guard", None, None, b"x"),
            lambda: conn.copy("1", "INBOX"),
            lambda: conn.close(),
        ):
            with pytest.raises(imap_store.imaplib.IMAP4.error, match="read-only"):
                attempt()
    finally:
        store.close()
    assert not any(b"\\Seen" in fl for fl in imap.flags("Guard").values())


def test_cancelled_fetch_keeps_what_came_and_the_next_run_fetches_the_rest(
    imap: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imap.append("Cancel", _mails(10, "x"))
    monkeypatch.setattr(imap_store, "FETCH_BATCH", 3)
    cancel = threading.Event()
    real_fetch = ImapStore.fetch

    def fetch_then_cancel(self: ImapStore, refs: list) -> Iterator:  # type: ignore[type-arg]
        for n, item in enumerate(real_fetch(self, refs)):
            if n == 4:
                cancel.set()  # as Esc in the TUI or Ctrl-C in a command would
            yield item

    url, db = imap.url("Cancel"), tmp_path / "i.db"
    with monkeypatch.context() as patch:
        patch.setattr(ImapStore, "fetch", fetch_then_cancel)
        with Index.open(url, db=db) as index:
            stats = drain(index.update(cancel=cancel))
            assert stats.cancelled and 4 <= index.message_count() < 10
            kept = index.message_count()
    with Index.open(url, db=db) as index:
        stats = drain(index.update())
        assert (stats.bodies_read, stats.unchanged, index.count_reports()) == (10 - kept, kept, 10)


async def test_the_tui_opens_an_imap_folder(imap: Dovecot, tmp_path: Path) -> None:
    from dmarctui.tui.app import make_app
    from tests.tui.conftest import screen_text, settle

    imap.append("Tui", _mails(4, "u"))
    app = make_app(imap.url("Tui"), db=tmp_path / "i.db", poll_seconds=None, dns=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "4 messages" in text and "4 reports" in text
    assert not any(b"\\Seen" in fl for fl in imap.flags("Tui").values())


async def test_the_tui_shows_a_lost_connection_and_keeps_what_was_fetched(
    imap: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmarctui.tui.app import make_app
    from dmarctui.tui.widgets.report_list import ReportList
    from tests.tui.conftest import notices, screen_text, settle

    imap.append("TuiDrop", _mails(12, "v"))
    proxy = DroppingProxy(imap.imaps_port)
    monkeypatch.setattr(imap_store, "FETCH_BATCH", 4)
    real_fetch = ImapStore.fetch

    def fetch_then_cut(self: ImapStore, refs: list) -> Iterator:  # type: ignore[type-arg]
        for n, item in enumerate(real_fetch(self, refs)):
            if n == 5:
                proxy.cut()
            yield item

    monkeypatch.setattr(ImapStore, "fetch", fetch_then_cut)
    url = imap.url("TuiDrop", port=proxy.port)
    app = make_app(url, db=tmp_path / "i.db", poll_seconds=None, dns=False)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            error = notices(app)
            assert "connection lost while fetching messages" in error and "\n" not in error
            kept = app.screen.query_one(ReportList).row_count
            assert 4 <= kept < 12
            assert f"{kept} messages" in screen_text(app)
    finally:
        proxy.close()


def test_a_password_that_is_not_ascii(imap: Dovecot, tmp_path: Path) -> None:
    os.environ["DMARCTUI_IMAP_PASSWORD"] = UTF8_PASSWORD
    url = f"imaps://{quote(UTF8_USER)}@127.0.0.1:{imap.imaps_port}/INBOX"
    with Index.open(url, db=tmp_path / "i.db") as index:
        drain(index.update())  # logs in (AUTHENTICATE PLAIN in UTF-8) and lists the folder
