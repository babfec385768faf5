"""The Sources pane: triage findings ranked by severity × messages, marked and sent to a notice.

Triage is computed in the index (:mod:`dmarctui.index_triage`: one verdict per distinct
combination, counts by SQL) in a thread worker after each index update that changed something,
with progress on the status line. PTR names are looked up in a second worker (cached names only
with ``--no-dns``) and the table is ranked again when they arrive, since PTR-pattern senders and
contacts can change it; only forward-confirmed names are matched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Label, Static
from textual.worker import get_current_worker

from dmarctui.config import Config
from dmarctui.history import HistoryError, NoticeHistory
from dmarctui.index import Index
from dmarctui.index_triage import IndexTriage
from dmarctui.index_triage import Progress as TriageProgress
from dmarctui.model import Finding
from dmarctui.notice import letter_findings
from dmarctui.rdns import ReverseDns
from dmarctui.triage import is_problem, with_unconfirmed
from dmarctui.tui.lazy_pane import LazyPane
from dmarctui.tui.source_cells import COLUMNS, NoticeState, detail, row_cells
from dmarctui.tui.widgets.pane_table import PaneTable
from dmarctui.tui.widgets.sparkline import day_axis

PTR_LOOKUPS = 256
"""Most-ranked sources whose PTR is looked up: a spam run must not mean thousands of lookups."""
PTR_ROUNDS = 5
BATCH_NOTICE = 2_000
"""Combinations above which the status line counts the ranking's progress."""
LISTED = 1_000
"""Most findings the table lists: nobody writes to source 11,000 first, and the DataTable's
cost on every pane switch (and the garbage collector's pauses) grow with the findings held; the
status line says when the list is cut."""
"""``ReverseDns.lookup`` waits a few seconds per round; slow resolvers get a few rounds."""


@dataclass(frozen=True)
class Triage:
    findings: list[Finding] = field(default_factory=list)
    states: dict[str, NoticeState] = field(default_factory=dict)
    """The latest notice per notified source, with its before/after trend."""
    problem: str | None = None
    """Why the history or the triage could not be read (shown, never swallowed)."""
    warning: str | None = None
    """The own domains match no policy domain (an all-clear would be false)."""
    run: IndexTriage | None = None
    """The index triage the findings came from: evidence for notices is read from it."""


def triage(
    index: Index,
    config: Config,
    ptrs: Mapping[str, str | None],
    *,
    progress: TriageProgress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Triage:
    """Findings with every confirmed PTR name known so far, and what the notice history says."""
    run = index.triage(config, ptrs, progress=progress, cancelled=cancelled)
    findings = run.findings()
    listed = [f.source_ip for f in findings[:LISTED] if f.source_ip not in ptrs]
    confirmed, unconfirmed = index.ptr_names(listed)
    if confirmed and config.senders_by_name:
        run = index.triage(config, {**ptrs, **confirmed}, progress=progress, cancelled=cancelled)
    else:
        run.ptrs.update(confirmed)
    findings = with_unconfirmed(run.findings(), unconfirmed)
    try:
        with NoticeHistory.open() as history:
            latest = history.latest_by_source()
    except HistoryError as exc:
        return Triage(findings, problem=str(exc), warning=run.warning, run=run)
    states = {}
    notified = {f.source_ip for f in findings} & set(latest)
    if notified:
        failing = run.failing_days()
        for ip in notified:
            before, after = failing.before_after(ip, latest[ip].date)
            states[ip] = NoticeState(latest[ip], before, after)
    return Triage(findings, states, warning=run.warning, run=run)


@dataclass(frozen=True)
class Listing:
    """The table's rows for one choice of kinds, cut to ``LISTED``, and what was cut."""

    rows: list[Finding] = field(default_factory=list)
    findings: int = 0
    """Matching findings, listed or not."""
    sources: int = 0
    """Distinct source IPs among them."""


def listing(findings: list[Finding], *, show_all: bool) -> Listing:
    matching = [f for f in findings if show_all or is_problem(f.kind)]
    return Listing(matching[:LISTED], len(matching), len({f.source_ip for f in matching}))


class SourcesPane(LazyPane):
    PANE_ID = "sources"
    TITLE = "Sources"

    HELP = """\
## Sources

The sources sending with our domains that need action, most severe and busiest first. The
line under the table explains the highlighted source and what to do about it. **Enter** lists
every record of the source across all reports; **space** marks sources for one notice; **n**
composes the notice to the source's admin; **a** shows forwarded mail and spoofing too.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "compose",
            "Notice",
            tooltip="Write to the admin of this (or the marked) source",
            id="sources.compose",
        ),
        Binding(
            "space",
            "mark",
            "Mark",
            tooltip="Mark this source for a notice (again: unmark)",
            id="sources.mark",
        ),
        Binding(
            "enter",
            "open",
            "Records",
            tooltip="Every record of this source in all reports",
            id="sources.open",
            priority=True,
        ),
        Binding(
            "a",
            "toggle_all",
            "All kinds",
            tooltip="Also show forwarded mail and spoofing",
            id="sources.all",
        ),
    ]

    class Triaged(Message):
        def __init__(self, result: Triage) -> None:
            super().__init__()
            self.result = result

    class NamesFound(Message):
        def __init__(self, names: dict[str, str], answers: dict[str, str | None]) -> None:
            super().__init__()
            self.names = names
            """Forward-confirmed names (what config patterns may match)."""
            self.answers = answers
            """Every name found, confirmed or not."""

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False
        self.marked: set[str] = set()
        self.findings: list[Finding] = []
        self.states: dict[str, NoticeState] = {}
        self.listings: dict[bool, Listing] = {False: Listing(), True: Listing()}
        """What the table lists without and with the informational kinds."""
        self.hidden = 0
        """Informational findings (forwarded, spoofing): listed only with ``a``."""
        self.shown: list[Finding] = []
        """The findings listed in the table, in its order (at most ``LISTED``)."""
        self.ptrs: dict[str, str | None] = {}
        self.run: IndexTriage | None = None
        self.warning: str | None = None
        self.loaded = False
        self._asked: set[str] = set()
        self._dns: ReverseDns | None = None

    def compose(self) -> ComposeResult:
        yield Label("Ranking the sources…", id="sources-status", classes="pane-status")
        table = PaneTable(id="sources-table")
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="source-detail")

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#sources-table", DataTable)

    def on_unmount(self) -> None:
        if self._dns is not None:
            self._dns.close()

    # ------------------------------------------------------------------ triage

    def compute(self) -> None:
        self._triage(dict(self.ptrs))

    @work(
        thread=True,
        exclusive=True,
        group="triage",
        exit_on_error=False,
        description="rank the sources",
    )
    def _triage(self, ptrs: dict[str, str | None]) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if total > BATCH_NOTICE and not worker.is_cancelled:
                text = f"Ranking the sources… {done:,} of {total:,} combinations counted"
                self.app.call_from_thread(self._show_progress, text)

        try:
            app = self.dmarc
            result = triage(
                app.index, app.config, ptrs, progress=progress,
                cancelled=lambda: worker.is_cancelled,
            )  # fmt: skip
        except Exception as exc:  # relayed to the pane, never swallowed
            result = Triage(problem=f"Triage failed: {type(exc).__name__}: {exc}")
        if not worker.is_cancelled:
            self.post_message(self.Triaged(result))

    def _show_progress(self, text: str) -> None:
        if not self.loaded:
            self.query_one("#sources-status", Label).update(text)

    def on_sources_pane_triaged(self, message: SourcesPane.Triaged) -> None:
        result = message.result
        if result.problem and not result.findings:
            self.query_one("#sources-status", Label).update(result.problem)
        else:
            self._keep(result.findings)
            self.states = result.states
            self.run = result.run
            self.warning = result.warning
            self.loaded = True
            self._fill()
            self.dmarc.keep_long_lived()
            if result.problem:
                self.notify(result.problem, severity="warning")
            self._look_up_names()
        self.computed()

    def _keep(self, findings: list[Finding]) -> None:
        """Hold only the findings of sources the table can list (all of each such source's)."""
        self.listings = {flag: listing(findings, show_all=flag) for flag in (False, True)}
        self.hidden = sum(1 for f in findings if not is_problem(f.kind))
        listed = {f.source_ip for view in self.listings.values() for f in view.rows}
        self.findings = [f for f in findings if f.source_ip in listed]

    def _look_up_names(self) -> None:
        wanted = [f.source_ip for f in self.findings if is_problem(f.kind)][:PTR_LOOKUPS]
        todo = [ip for ip in dict.fromkeys(wanted) if ip not in self._asked]
        if not todo:
            return
        self._asked.update(todo)
        if self._dns is None:
            self._dns = ReverseDns(store=self.dmarc.index, enabled=self.dmarc.dns)
        self._resolve(self._dns, todo)

    @work(thread=True, group="rdns", exit_on_error=False, description="look up PTR names")
    def _resolve(self, dns: ReverseDns, ips: list[str]) -> None:
        worker = get_current_worker()
        answers = dns.lookup(ips)
        rounds = 1
        while rounds < PTR_ROUNDS and not worker.is_cancelled and dns.start(ips):
            answers = dns.lookup(ips)
            rounds += 1
        if any(answers.values()) and not worker.is_cancelled:
            # Unconfirmed names are shown from the cache (the re-ranking reads them), never matched.
            self.post_message(self.NamesFound(dns.confirmed(ips), answers))

    def on_sources_pane_names_found(self, message: SourcesPane.NamesFound) -> None:
        new = {ip: n for ip, n in message.names.items() if self.ptrs.get(ip) != n}
        shown = {f.source_ip: f.ptr or f.ptr_unconfirmed for f in self.findings}
        unseen = any(n and shown.get(ip) != n for ip, n in message.answers.items())
        if new or unseen:
            self.ptrs.update(new)
            self.reload()

    # ------------------------------------------------------------------ table

    def _fill(self) -> None:
        table = self.table
        current = self.current
        keep = (current.source_ip, current.kind) if current else None
        self.shown = self.listings[self.show_all].rows
        days = sorted({d for f in self.shown for d, _ in f.per_day})
        axis = day_axis(days[0], days[-1]) if days else []
        table.clear()
        for f in self.shown:
            table.add_row(
                *row_cells(f, f.source_ip in self.marked, axis, self.states.get(f.source_ip))
            )
        if keep is not None:
            rows = [(f.source_ip, f.kind) for f in self.shown]
            if keep in rows:
                table.move_cursor(row=rows.index(keep), animate=False)
        self._show_status()
        self._show_detail()

    def _show_status(self) -> None:
        listing = self.listings[self.show_all]
        parts = [f"{listing.sources:,} sources" + ("" if self.show_all else " need action")]
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if listing.findings > len(listing.rows):
            parts.append(f"{listing.findings:,} findings, first {len(listing.rows):,} listed")
        else:
            parts.append(f"{listing.findings:,} findings")
        if self.hidden and not self.show_all:
            parts.append(f"{self.hidden:,} informational hidden (a)")
        self.query_one("#sources-status", Label).update(" · ".join(parts))

    @property
    def current(self) -> Finding | None:
        row = self.table.cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    def _show_detail(self) -> None:
        panel = self.query_one("#source-detail", Static)
        current = self.current
        if current is None:
            if self.loaded and self.warning:
                panel.update(Text(f"Warning: {self.warning}.", "bold red"))
            elif self.loaded:
                panel.update("Nothing to act on: no source sending as our domains fails DMARC.")
            else:
                panel.update("")
            return
        panel.update(detail(current, self.states.get(current.source_ip)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # ------------------------------------------------------------------ actions

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._fill()

    def action_mark(self) -> None:
        current = self.current
        if current is None:
            return
        self.marked ^= {current.source_ip}
        row = self.table.cursor_row
        self._fill()
        if row + 1 < len(self.shown):
            self.table.move_cursor(row=row + 1, animate=False)

    def action_clear_marks(self) -> None:
        self.marked.clear()
        self._fill()

    def action_open(self) -> None:
        from dmarctui.tui.screens.source_records import SourceRecordsScreen

        current = self.current
        if current is not None:
            mine = [f for f in self.findings if f.source_ip == current.source_ip]
            self.app.push_screen(SourceRecordsScreen(current.source_ip, mine))

    def action_compose(self) -> None:
        from dmarctui.tui.screens.notice import NoticeScreen

        current = self.current
        ips = set(self.marked) or ({current.source_ip} if current else set())
        if not ips:
            self.notify("No source to write about", severity="warning")
            return
        chosen = letter_findings([f for f in self.findings if f.source_ip in ips])
        if self.run is not None:
            chosen = self.run.with_evidence(chosen)
        if not chosen:
            self.notify(
                "Forwarded mail and outside spoofing are not something a server admin"
                " can fix: no notice for them",
                severity="warning",
            )
            return

        def done(changed: bool | None) -> None:
            if changed:
                self.marked.clear()
                self.reload()

        self.app.push_screen(NoticeScreen(chosen), done)
