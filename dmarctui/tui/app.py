"""The dmarctui application: opens the index, keeps it up to date in a worker, hosts the panes."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import humanize
from rich.text import Text
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.worker import get_current_worker

from dmarctui.config import Config
from dmarctui.display_text import visible
from dmarctui.imap_settings import is_imap_url
from dmarctui.imap_store import open_imap
from dmarctui.mailstore import MailStore, MailStoreError
from dmarctui.model import FolderFormat
from dmarctui.tui.commands import DmarcCommands
from dmarctui.tui.folder_stamp import Stamp, folder_stamp
from dmarctui.tui.messages import ScanDone, ScanFailed, ScanProgress
from dmarctui.tui.ranking import SharedRanking
from dmarctui.tui.screen_stack import stacked_already
from dmarctui.tui.screens.help import HelpScreen
from dmarctui.tui.screens.main import MainScreen
from dmarctui.tui.widgets.scan_progress import ScanProgressBar
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.index import Index

Clock = Callable[[], float]
DARK, LIGHT = "textual-dark", "textual-light"
POLL_SECONDS = 30.0
RELOAD_EVERY = 1.0
"""Seconds between list refreshes while a scan is adding reports."""
FULL_CHECK_EVERY = 10
"""Polls between full listings of a folder whose stamp did not change (see ``folder_stamp``):
catches a message rewritten in place within five minutes at the default poll."""


class DmarcApp(App[None]):
    CSS_PATH = "dmarctui.tcss"
    TITLE = "dmarctui"
    COMMANDS = App.COMMANDS | {DmarcCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            tooltip="Keys and what the columns mean",
            id="app.help",
        ),
        Binding(
            "q", "quit", "Quit", tooltip="Leave dmarctui (the folder is untouched)", id="app.quit"
        ),
        Binding(
            "r",
            "rescan",
            "Rescan",
            show=False,
            tooltip="Read new and changed messages",
            id="app.rescan",
        ),
        Binding(
            "ctrl+t",
            "toggle_theme",
            "Theme",
            show=False,
            tooltip="Light or dark theme",
            id="app.theme",
        ),
    ]

    def __init__(
        self,
        index: Index,
        *,
        config: Config | None = None,
        clock: Clock | None = None,
        theme: str | None = None,
        scan_on_start: bool = True,
        poll_seconds: float | None = POLL_SECONDS,
        notes: Iterable[str] = (),
        dns: bool = True,
        history: Path | None = None,
        rank_on_start: bool = True,
    ) -> None:
        super().__init__()
        self.index = index
        self.config = config or Config()
        self.clock = clock or time.time
        self.scan_on_start = scan_on_start
        self.poll_seconds = poll_seconds
        self.notes = list(notes)
        """One-line warnings to show once the UI is up (e.g. config problems)."""
        self.dns = dns
        """Look up PTR names of flagged sources (False: ``--no-dns``, cached names only)."""
        self.history = history
        """The notice history file; None: the user's (``~/.local/share/dmarctui/...``)."""
        self.scanning = False
        self.reading = False
        """A scan the user waits for runs (the first, or ``r``; not a poll): until it ends, an
        empty list or ranking is "not read yet", never "nothing found"."""
        self.last_stats: object | None = None
        self._cancel = threading.Event()
        self._last_reload = 0.0
        self._shown_version: str | None = None
        """``Index.data_version`` the panes last reloaded for during a scan."""
        self._updated_at: float | None = None
        self._stamp: Stamp | None = None
        """The folder's stamp when the last complete scan began; None: unknown."""
        self._scan_stamp: Stamp | None = None
        self._polls = 0
        self._frozen_for: object = None
        self._painted = False
        """The first frame is on screen (``Ready``)."""
        self.ranking = SharedRanking(index)
        """The one ranking of the index that the Sources and Readiness panes share."""
        self.names: dict[str, str] = {}
        """Forward-confirmed PTR names looked up this session (the Sources pane's workers)."""
        self.rank_on_start = rank_on_start
        if theme:
            self.theme = theme

    # ------------------------------------------------------------------ lifecycle

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        self._show_subtitle()
        for note in self.notes:
            self.notify(note, severity="warning", timeout=10)
        if self.scan_on_start:
            self.start_scan()
        if self.poll_seconds:
            self.set_interval(self.poll_seconds, self._poll)
        self.keep_long_lived()

    def on_ready(self) -> None:
        """The first frame is on screen."""
        self._painted = True
        if not self.scanning:
            self._rank_ahead()

    def on_unmount(self) -> None:
        self._cancel.set()

    @property
    def main_screen(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def _show_subtitle(self) -> None:
        folder = self.index.folder
        parts = [
            f"{folder.name} ({self.index.format})",
            count(self.index.message_count(), "message"),
        ]
        if self._updated_at is not None:
            ago = humanize.naturaltime(self.clock() - self._updated_at, when=None)
            parts.append(f"updated {ago}")
        self.sub_title = " · ".join(parts)

    # ------------------------------------------------------------------ scanning

    def start_scan(self, *, quiet: bool = False) -> None:
        """Bring the index up to date in a thread; a scan already running is stopped first."""
        self._cancel.set()
        self._cancel = threading.Event()
        self.scanning = True
        self.reading = not quiet
        # Taken before the listing: a delivery during the scan changes the stamp again, so the
        # next poll scans.
        self._scan_stamp = folder_stamp(self.index)
        self.refresh_bindings()
        self._scan(self._cancel, quiet)
        if self.reading:
            self.main_screen.scan_changed()

    def cancel_scan(self) -> None:
        self._cancel.set()

    @work(
        thread=True,
        exclusive=True,
        group="scan",
        exit_on_error=False,
        description="update the index from the folder",
    )
    def _scan(self, cancel: threading.Event, quiet: bool) -> None:
        worker = get_current_worker()
        updates = self.index.update(cancel=cancel)
        try:
            while True:
                progress = next(updates)
                if worker.is_cancelled:
                    cancel.set()
                self.post_message(ScanProgress(progress, quiet=quiet))
        except StopIteration as stop:
            done = ScanDone(stop.value, cancelled=cancel.is_set(), quiet=quiet, scan=cancel)
            self.post_message(done)
        except Exception as exc:  # relayed to the user as a message, never swallowed
            self.post_message(ScanFailed(f"{type(exc).__name__}: {exc}", scan=cancel))
        finally:
            updates.close()  # lets the next scan start, however this one ended

    def on_scan_progress(self, message: ScanProgress) -> None:
        if self._closing_down():
            return
        progress = message.progress
        running = progress.done < progress.total
        if not message.quiet or running:
            self._progress_bar().show(progress)
        # Only while rows arrive: the last progress of a scan is followed by ScanDone, which
        # reloads if anything changed. Reloading on it re-ran the ranking after every rescan
        # that found nothing, whenever the last reload was over a second ago.
        now = time.monotonic()
        if running and progress.done and now - self._last_reload >= RELOAD_EVERY:
            self._last_reload = now
            version = self.index.data_version()
            if version != self._shown_version:  # a poll that finds nothing re-ranks nothing
                self._shown_version = version
                self.main_screen.reload_panes()

    def _superseded(self, scan: object) -> bool:
        """The message is from a scan stopped for a newer one, which is still running."""
        return scan is not None and scan is not self._cancel

    def on_scan_done(self, message: ScanDone) -> None:
        if self._superseded(message.scan):
            return
        self.scanning = False
        reading, self.reading = self.reading, False
        if self._closing_down():
            return
        self.last_stats = message.stats
        self._stamp = None if message.cancelled else self._scan_stamp
        self._updated_at = self.clock()
        self._progress_bar().hide()
        self.refresh_bindings()
        if _index_changed(message.stats):  # a poll that found nothing must not re-run triage
            self.main_screen.reload_panes()
            self.keep_long_lived()
        if reading:  # after the reload: a pane ranking again says so, not "nothing found"
            self.main_screen.scan_changed()
        if not message.quiet and self._painted:
            self._rank_ahead()
        self._show_subtitle()
        changes = _changes(message.stats)
        if message.cancelled:
            self.notify("Scan cancelled: what was read is kept; r scans again.", severity="warning")
        elif changes:
            self.notify(changes, title="Folder updated")

    def on_scan_failed(self, message: ScanFailed) -> None:
        if self._superseded(message.scan):
            return
        self.scanning = False
        reading, self.reading = self.reading, False
        self._stamp = None
        if self._closing_down():
            return
        self._progress_bar().hide()
        self.refresh_bindings()
        self.main_screen.reload_panes()  # what was read before the failure is kept: show it
        if reading:
            self.main_screen.scan_changed()
        self._show_subtitle()
        self.notify(message.error, title="Scan failed", severity="error", timeout=30)

    def _rank_ahead(self) -> None:
        """Rank the index once the first screen is up and the scan on open is done, while the
        user reads the reports: the Sources and Readiness panes then show their rows as soon as
        they are opened. Not before the first frame: the ranking's classification holds the
        interpreter and delayed it by seconds at a million records."""
        if self.rank_on_start:
            self.rank_on_start = False
            self._rank()

    @work(
        thread=True,
        exclusive=True,
        group="rank-ahead",
        exit_on_error=False,
        description="rank the sources ahead of the panes",
    )
    def _rank(self) -> None:
        worker = get_current_worker()
        self.ranking.get(self.config, self.names, cancelled=lambda: worker.is_cancelled)

    def _closing_down(self) -> bool:
        """The app is quitting: a scan's last messages find no screen left to show them on."""
        return not self.is_running or not self.screen_stack

    def _progress_bar(self) -> ScanProgressBar:
        return self.main_screen.query_one(ScanProgressBar)

    def _poll(self) -> None:
        self._show_subtitle()
        if self.scanning:
            return
        self._polls += 1
        unchanged = self._stamp is not None and folder_stamp(self.index) == self._stamp
        if unchanged and self._polls % FULL_CHECK_EVERY:
            return  # nothing delivered, moved or removed: nothing to list
        self.start_scan(quiet=True)

    def push_screen(  # type: ignore[override]
        self,
        screen: Screen[Any] | str,
        callback: Any = None,
        wait_for_dismiss: bool = False,
        *,
        mode: str | None = None,
    ) -> Any:
        """Push ``screen`` unless one of its kind is up already (see :mod:`screen_stack`)."""
        refused = isinstance(screen, Screen) and stacked_already(self.screen_stack, screen)
        if refused:
            self.log.warning(f"not stacking a second {type(screen).__name__}")
        if wait_for_dismiss:
            if refused:
                answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                answer.set_result(None)
                return answer
            return super().push_screen(screen, callback, True, mode=mode)
        if refused:
            return AwaitMount(self.screen, [])
        return super().push_screen(screen, callback, mode=mode)

    # ------------------------------------------------------------------ actions

    async def action_quit(self) -> None:
        """Quit, but never silently drop an edited, unsaved notice (q, ctrl+q or the palette)."""
        from dmarctui.tui.screens.notice import NoticeScreen
        from dmarctui.tui.widgets.confirm import ConfirmScreen

        edited = [s for s in self.screen_stack if isinstance(s, NoticeScreen) and s.edited]
        if not edited:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen):
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.exit()

        notice = edited[-1]
        self.push_screen(
            ConfirmScreen(
                "Quit dmarctui", notice.unsaved_warning(), yes="Quit", draft=notice.save_draft_now
            ),
            done,
        )

    def action_rescan(self) -> None:
        self.start_scan()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        context = ""
        focused = self.focused
        while focused is not None:
            help_text = type(focused).HELP
            if help_text:
                context = help_text
                break
            focused = focused.parent  # type: ignore[assignment]
        self.push_screen(HelpScreen(context))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    # ------------------------------------------------------------------ helpers for screens

    def keep_long_lived(self, result: object = None) -> None:
        """Exempt what is alive now from the garbage collector's full collections.

        With a large index the panes hold a few hundred thousand objects (findings, evidence,
        rendered lines), and each full collection then stops the UI for 100-300 ms every dozen
        key presses. Frozen objects are never scanned again. Panes call this when a heavy
        result is on screen; what an earlier call froze is collected first, so garbage it froze
        lives only until the next call. A ``result`` frozen already (the ranking both panes
        share) costs no second collection. The memory the collection freed (a ranking's
        working set is a few hundred MB at a million records) is then given back to the system.
        """
        if result is not None and result is self._frozen_for:
            return
        self._frozen_for = result

        def freeze() -> None:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            give_back_memory()

        self.call_after_refresh(freeze)

    def known_ptrs(self, ips: Iterable[str]) -> dict[str, str]:
        """PTR names already cached in the index; opening a report never waits for DNS."""
        names: dict[str, str] = {}
        for ip in ips:
            cached = self.index.get(ip)
            if cached is not None and cached[0]:
                names[ip] = cached[0]
        return names

    def message_headers(self, key: str) -> Text:
        """The original message's header block, read again from the folder, shown escaped."""
        from dmarctui.payloads import parse_message

        message = parse_message(self.index.raw_message(key))
        text = Text()
        for name, raw in message.raw_items():
            try:
                value = str(message.policy.header_fetch_parse(name, raw))
            except Exception:  # the stdlib header parser fails on some hostile values
                value = str(raw)
            text.append(f"{visible(name)}: ", "bold")
            text.append(visible(value, multiline=True) + "\n")
        return text

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications quote report text (keys, reasons, names): never markup, never escapes."""
        super().notify(
            visible(message, multiline=True),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )


def give_back_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; elsewhere
    nothing): freed Python objects otherwise stay resident in a long-running TUI."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _index_changed(stats: object) -> bool:
    """Whether an update added, changed, renamed or removed anything the panes show."""
    return any(getattr(stats, name, 0) for name in ("new", "changed", "gone", "moved", "rewritten"))


def _changes(stats: object) -> str:
    """``3 new, 1 gone`` from ``UpdateStats``; empty when nothing changed."""
    parts = []
    for name in ("new", "changed", "gone"):
        n = getattr(stats, name, 0) or 0
        if n:
            parts.append(count(n, f"{name} message"))
    return ", ".join(parts)


def make_app(
    path: str | Path | None,
    *,
    fmt: FolderFormat | None = None,
    db: Path | None = None,
    config: Config | None = None,
    demo: bool = False,
    clock: Clock | None = None,
    in_memory: bool = False,
    theme: str | None = None,
    scan_on_start: bool = True,
    poll_seconds: float | None = POLL_SECONDS,
    notes: Iterable[str] = (),
    dns: bool = True,
    insecure_tls: bool = False,
    history: Path | None = None,
    rank_on_start: bool = True,
) -> DmarcApp:
    """The one factory behind ``dmarctui PATH``, the tests and the screenshot script.

    With ``demo`` the demo folder is opened with its own index, notice history and drafts
    (nothing under the user's data or config folders is touched), its fixed clock, and a
    configuration that cannot send.

    Raises:
        MailStoreError, IndexStoreError: from ``Index.open``, before any UI starts.
    """
    from dmarctui.index import Index

    notes = list(notes)
    if demo:
        from dmarctui.config import load_config
        from dmarctui.demo import demo_clock, demo_settings, ensure_demo

        folder = ensure_demo()
        path = folder.maildir
        if config is None:
            from dmarctui.decisions import with_stored_decisions

            # the demo's own decisions, never the user's (its state stays in its folder)
            config, problems = with_stored_decisions(
                *load_config(folder.config_path, decisions=False),
                folder.root / "decisions.sqlite3",
            )
            notes.extend(str(p) for p in problems)
        config = demo_settings(config, folder)
        db = db or folder.index_path
        history = history or folder.history_path
        clock = clock or demo_clock()
    if path is None:
        raise ValueError("a folder path is required unless demo=True")
    where: str | Path | MailStore = Path(path)
    if is_imap_url(path):  # an IMAP address is not a file path
        where = open_imap(str(path), insecure_tls=insecure_tls)
    elif insecure_tls:
        raise MailStoreError("--insecure-tls applies to imap:// and imaps:// folders only")
    index = Index.open(where, fmt, db=db, in_memory=in_memory)
    try:
        index.store.prepare()  # an IMAP password prompt, while the terminal is still ours
    except BaseException:
        index.close()
        raise
    notes.extend(index.notices)
    if config is not None:
        from dmarctui.config import own_domains_mismatch

        warning = own_domains_mismatch(config, index.policy_domains())
        if warning:
            notes.append(f"Warning: {warning}.")
    return DmarcApp(
        index,
        config=config,
        clock=clock,
        theme=theme,
        scan_on_start=scan_on_start,
        poll_seconds=poll_seconds,
        notes=notes,
        dns=dns,
        history=history,
        rank_on_start=rank_on_start,
    )
