"""The Sources pane: triage findings ranked by severity × messages, marked and sent to a notice.

Triage is computed in the index (:mod:`dmarctui.index_triage`: one verdict per distinct
combination, counts by SQL) in a thread worker after each index update that changed something,
with progress on the status line; the ranking is shared with the Readiness pane
(:mod:`dmarctui.tui.ranking`). PTR names are looked up in a second worker (cached names only
with ``--no-dns``) and the table is ranked again when they arrive, since PTR-pattern senders and
contacts can change it; only forward-confirmed names are matched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Label, Static
from textual.worker import get_current_worker

from dmarctui.config import Config
from dmarctui.decisions import Decision, DecisionError, apply_decisions, decision_for
from dmarctui.history import HistoryError, NoticeHistory, latest_progress
from dmarctui.index_triage import IndexTriage
from dmarctui.model import Finding
from dmarctui.notice import letter_findings
from dmarctui.rdns import ReverseDns
from dmarctui.triage import is_problem
from dmarctui.tui.lazy_pane import LazyPane
from dmarctui.tui.ranking import LISTED, TICK_SECONDS, Ranking, ranking_status
from dmarctui.tui.safe_text import plain
from dmarctui.tui.source_cells import COLUMNS, NoticeState, detail, row_cells
from dmarctui.tui.widgets.pane_table import PaneTable
from dmarctui.tui.widgets.scrolling import KeyScroll
from dmarctui.tui.widgets.sparkline import day_axis
from dmarctui.wording import count

PTR_LOOKUPS = 256
"""Most-ranked sources whose PTR is looked up: a spam run must not mean thousands of lookups."""
ROWS_PAGE = 200
"""Rows put in the table at once (over a screenful); a page more as the cursor nears the end."""
PTR_ROUNDS = 5
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
    ranking: Ranking, config: Config, *, history: Path | None = None, now: float | None = None
) -> Triage:
    """The ranked findings with what the notice history says about each notified source.

    ``history`` is the notice history file (None: the user's); ``now`` the app's clock, which
    decides whether a notice's grace period is over.
    """
    run, findings = ranking.run, ranking.findings
    try:
        with NoticeHistory.open(history) as notices:
            latest = notices.latest_by_source()
    except HistoryError as exc:
        return Triage(findings, problem=str(exc), warning=run.warning, run=run)
    states = {}
    notified = {f.source_ip for f in findings} & set(latest)
    if notified:
        failing = run.failing_days()
        followed = {
            p.source_ip: p
            for p in latest_progress(
                [latest[ip] for ip in notified],
                failing,
                config.notice.follow_up_days,
                config=config,
                now=now,
            )
        }
        for ip in notified:
            notice = latest[ip]
            before, after = failing.before_after(ip, notice.date)
            state = followed[ip].state if ip in followed else None
            states[ip] = NoticeState(notice, before, after, state, failing.last_day >= notice.day)
    return Triage(rank_by_notice(findings, states), states, warning=run.warning, run=run)


def rank_by_notice(findings: list[Finding], states: Mapping[str, NoticeState]) -> list[Finding]:
    """Sources that improved after their notice go below the open problems (order kept)."""
    open_ = [f for f in findings if not _improved(states.get(f.source_ip))]
    return open_ + [f for f in findings if _improved(states.get(f.source_ip))]


def _improved(state: NoticeState | None) -> bool:
    return state is not None and state.state == "improved"


@dataclass(frozen=True)
class Listing:
    """The table's rows for one choice of kinds, cut to ``LISTED``, and what was cut."""

    rows: list[Finding] = field(default_factory=list)
    findings: int = 0
    """Matching findings, listed or not."""
    sources: int = 0
    """Distinct source IPs among them that still need action."""
    improved: int = 0
    """Distinct source IPs among them that improved after their notice."""


def listing(
    findings: list[Finding],
    *,
    show_all: bool,
    states: Mapping[str, NoticeState] | None = None,
) -> Listing:
    """The rows for one choice of kinds; ``sources`` counts those still needing action."""
    matching = [f for f in findings if show_all or is_problem(f.kind)]
    improved = {ip for ip, s in (states or {}).items() if _improved(s)}
    open_ips = {f.source_ip for f in matching} - improved
    return Listing(
        matching[:LISTED],
        len(matching),
        len(open_ips),
        len({f.source_ip for f in matching} & improved),
    )


class SourcesPane(LazyPane):
    PANE_ID = "sources"
    TITLE = "Sources"

    HELP = """\
## Sources

The sources sending with our domains that need action, most severe and busiest first. The
lines under the table explain the highlighted source and what to do about it (**J** / **K**
scroll them when they are longer than the space). **Enter** lists
every record of the source across all reports; **space** marks sources for one notice; **n**
composes the notice to the source's admin; **d** records a decision (a list, a forwarder, our
own server, ignore until a date, …), kept across rebuilds and used by triage and the digest;
**a** shows forwarded mail and spoofing too.
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
        Binding("J", "detail(1)", "Detail ↓", show=False, id="sources.detail_down"),
        Binding("K", "detail(-1)", "Detail ↑", show=False, id="sources.detail_up"),
        Binding(
            "d",
            "decide",
            "Decide",
            tooltip="Record what this source is (list, forwarder, ignore until…): remembered",
            id="sources.decide",
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
        """The findings listed in the table, in its order (at most ``LISTED``); the table holds
        rows for the first of them, a page more as the cursor nears its end."""
        self._axis: list[str] = []
        self.run: IndexTriage | None = None
        self.warning: str | None = None
        self.loaded = False
        self._asked: set[str] = set()
        self._ranking_since: float | None = None
        self._ranked = False
        """A ranking is on screen (until then the status line counts the seconds)."""
        self._ticker: Timer | None = None
        self._dns: ReverseDns | None = None
        self.decided: list[Decision] = []
        """The decisions in force (``d``), shown under the table."""

    def compose(self) -> ComposeResult:
        yield Label("Ranking the sources…", id="sources-status", classes="pane-status")
        table = PaneTable(id="sources-table")
        table.add_columns(*COLUMNS)
        table.fill_all = lambda: self._add_rows(len(self.shown))  # End: the true last row
        yield table
        with KeyScroll(id="source-detail", can_focus=False):
            yield Static("", id="source-detail-text")

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#sources-table", DataTable)

    def on_unmount(self) -> None:
        if self._dns is not None:
            self._dns.close()

    # ------------------------------------------------------------------ triage

    def compute(self) -> None:
        self._ranking_since = time.monotonic()
        if not self._ranked:
            self._show_ranking()
            if self._ticker is None:
                self._ticker = self.set_interval(TICK_SECONDS, self._show_ranking)
        self._triage(dict(self.dmarc.names))

    def _show_ranking(self) -> None:
        """Until the first ranking arrives, the status line shows how far it got and its
        seconds; the keys stay live meanwhile since it runs in a thread."""
        if self._ranked or self._ranking_since is None:
            return
        self.query_one("#sources-status", Label).update(
            ranking_status("Ranking the sources", self.dmarc.ranking, self._ranking_since)
        )

    @work(
        thread=True,
        exclusive=True,
        group="triage",
        exit_on_error=False,
        description="rank the sources",
    )
    def _triage(self, names: dict[str, str]) -> None:
        worker = get_current_worker()
        try:
            app = self.dmarc
            ranking = app.ranking.get(app.config, names, cancelled=lambda: worker.is_cancelled)
            if ranking is None:  # cancelled: the app is closing
                return
            result = triage(ranking, app.config, history=app.history, now=app.clock())
        except Exception as exc:  # relayed to the pane, never swallowed
            result = Triage(problem=f"Triage failed: {type(exc).__name__}: {exc}")
        if not worker.is_cancelled:
            self.post_message(self.Triaged(result))

    def on_sources_pane_triaged(self, message: SourcesPane.Triaged) -> None:
        result = message.result
        self._ranking_since = None
        self._ranked = True
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if result.problem and not result.findings:
            self.query_one("#sources-status", Label).update(plain(result.problem))
        else:
            self.states = result.states
            self._keep(result.findings)
            self._load_decisions()
            self.run = result.run
            self.warning = result.warning
            self.loaded = True
            self._fill()
            self.dmarc.keep_long_lived(result.run)
            if result.problem:
                self.notify(result.problem, severity="warning")
            self._look_up_names()
        self.computed()

    def _keep(self, findings: list[Finding]) -> None:
        """Hold only the findings of sources the table can list (all of each such source's)."""
        self.listings = {
            flag: listing(findings, show_all=flag, states=self.states) for flag in (False, True)
        }
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
        names = self.dmarc.names
        new = {ip: n for ip, n in message.names.items() if names.get(ip) != n}
        shown = {f.source_ip: f.ptr or f.ptr_unconfirmed for f in self.findings}
        unseen = any(n and shown.get(ip) != n for ip, n in message.answers.items())
        if new or unseen:
            names.update(new)
            self.dmarc.ranking.names_cached()
            self.reload()

    # ------------------------------------------------------------------ table

    def _fill(self) -> None:
        table = self.table
        current = self.current
        keep = (current.source_ip, current.kind) if current else None
        loaded = max(table.row_count, ROWS_PAGE)  # a refill (mark, a) keeps what was loaded
        self.shown = self.listings[self.show_all].rows
        days = sorted({d for f in self.shown for d, _ in f.per_day})
        self._axis = day_axis(days[0], days[-1]) if days else []
        table.clear()
        self._add_rows(loaded)
        if keep is not None:
            rows = [(f.source_ip, f.kind) for f in self.shown]
            if keep in rows:
                self._add_rows(rows.index(keep) + ROWS_PAGE)
                table.move_cursor(row=rows.index(keep), animate=False)
        self._show_status()
        self._show_detail()

    def _add_rows(self, upto: int) -> None:
        """Rows of ``shown`` up to ``upto`` into the table: a page on screen first, the next
        as the cursor nears the end (at a million records, building 1,000 rows of cells on the
        UI thread delayed the first rows by half a second)."""
        table = self.table
        for f in self.shown[table.row_count : upto]:
            table.add_row(
                *row_cells(f, f.source_ip in self.marked, self._axis, self.states.get(f.source_ip))
            )

    def _show_status(self) -> None:
        listing = self.listings[self.show_all]
        if not listing.findings and (self.dmarc.reading or self._ranking_since is not None):
            self.query_one("#sources-status", Label).update(
                "Nothing ranked yet: the scan is still reading the folder"
                if self.dmarc.reading
                else "Ranking the sources…"
            )
            return
        need = (
            "" if self.show_all else (" needs action" if listing.sources == 1 else " need action")
        )
        parts = [count(listing.sources, "source") + need]
        if listing.improved:
            parts.append(f"{listing.improved:,} improved since their notice")
        if self.marked:
            parts.append(f"{len(self.marked)} marked")
        if listing.findings > len(listing.rows):
            parts.append(
                f"{count(listing.findings, 'finding')}, first {len(listing.rows):,} listed"
            )
        else:
            parts.append(count(listing.findings, "finding"))
        if self.hidden and not self.show_all:
            parts.append(f"{self.hidden:,} informational hidden (a)")
        if self.dmarc.reading:
            parts.append("the scan is still reading the folder")
        self.query_one("#sources-status", Label).update(" · ".join(parts))

    def scan_changed(self) -> None:
        if self.run is not None:  # a ranking is listed (not a problem in its place)
            self._show_status()
            self._show_detail()

    @property
    def current(self) -> Finding | None:
        row = self.table.cursor_row
        return self.shown[row] if self.shown and 0 <= row < len(self.shown) else None

    def _show_detail(self) -> None:
        panel = self.query_one("#source-detail-text", Static)
        current = self.current
        if current is None:
            if self.loaded and self.warning:
                panel.update(plain(f"Warning: {self.warning}.", "bold red"))
            elif self._ranked and self.dmarc.reading:
                panel.update("Nothing ranked yet: the scan is still reading the folder.")
            elif self._ranked and self._ranking_since is not None:
                panel.update("Ranking the sources…")
            elif self._ranked:
                panel.update("Nothing to act on: no source sending as our domains fails DMARC.")
            else:
                panel.update("")
            return
        shown = detail(current, self.states.get(current.source_ip))
        decided = decision_for(current.source_ip, self.decided)
        if decided is not None:
            line = Text(f"Decision for {decided.match}: {decided.summary()} (d to change)", "cyan")
            shown = Group(*shown.renderables, line)
        panel.update(shown)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        loaded = self.table.row_count
        if event.cursor_row >= loaded - ROWS_PAGE // 4 and loaded < len(self.shown):
            self._add_rows(loaded + ROWS_PAGE)
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    # ------------------------------------------------------------------ actions

    def action_detail(self, step: int) -> None:
        """J / K scroll the explanation under the table while the table keeps the focus."""
        self.query_one("#source-detail", KeyScroll).action_line(step)

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

    def _decisions_path(self) -> Path | None:
        """Beside the notice history the app uses: the demo keeps its decisions in its folder."""
        history = self.dmarc.history
        return None if history is None else history.parent / "decisions.sqlite3"

    def _load_decisions(self) -> None:
        from dmarctui.tui.screens.decision import load_decisions

        try:
            self.decided = load_decisions(self._decisions_path())
        except DecisionError as exc:
            self.notify(str(exc), severity="warning")

    def action_decide(self) -> None:
        from dmarctui.tui.screens.decision import DecisionRequest, DecisionScreen, record

        current = self.current
        if current is None:
            self.notify("No source to decide about", severity="warning")
            return

        def done(request: DecisionRequest | None) -> None:
            if request is None:
                return
            try:
                self.decided, told = record(request, self._decisions_path())
            except DecisionError as exc:
                self.notify(str(exc), severity="error")
                return
            self.dmarc.config = apply_decisions(self.dmarc.config, self.decided)
            self.notify(told)
            self.reload()

        self.app.push_screen(
            DecisionScreen(current.source_ip, decision_for(current.source_ip, self.decided)), done
        )

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
