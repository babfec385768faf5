"""The Readiness pane: per own domain, would p=quarantine or p=reject lose legitimate mail?"""

from __future__ import annotations

import time

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from dmarctui.display_text import visible
from dmarctui.readiness import DayCounts, Readiness
from dmarctui.tui.lazy_pane import LazyPane
from dmarctui.tui.ranking import TICK_SECONDS, ranking_status
from dmarctui.tui.safe_text import PlainTable, plain
from dmarctui.tui.source_cells import KIND_LABELS
from dmarctui.tui.widgets.scrolling import KeyScroll
from dmarctui.wording import count


def _n(value: int) -> str:
    return f"{value:,}"


def verdict(item: Readiness) -> Text:
    text = plain(item.domain, "bold")
    if item.ready:
        text.append("  ready: no mail from legitimate sources fails DMARC", "bold green")
    else:
        text.append(
            f"  not ready: {count(item.failed_legit, 'message')} from legitimate sources"
            f" {'fails' if item.failed_legit == 1 else 'fail'} DMARC",
            "bold red",
        )
    return text


def totals_table(item: Readiness) -> Table:
    table = PlainTable(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("Messages")
    table.add_column("pass", justify="right", style="green")
    table.add_column("fail legit", justify="right", style="red")
    table.add_column("fail outside", justify="right")
    table.add_column("enforced", justify="right")
    table.add_row(
        "total", _n(item.passed), _n(item.failed_legit), _n(item.failed_outside), _n(item.enforced)
    )
    return table


def stricter_table(item: Readiness) -> Table:
    """What a stricter policy would have hit, by kind: legitimate kinds first, in red."""
    table = PlainTable(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("p=quarantine would send to spam / p=reject would bounce")
    table.add_column("messages", justify="right")
    for kind, messages in item.would_quarantine.items():
        style = "" if kind == "outside_spoofing" else "red"
        table.add_row(Text(KIND_LABELS[kind], style), _n(messages))
    if not item.would_quarantine:
        table.add_row(Text("nothing", "green"), "0")
    return table


def policies_table(item: Readiness) -> Group:
    """Each published policy on its line, the receivers that saw it wrapped under it.

    Not a table: a third column for the receivers left them 2 cells at 60 columns (a name a
    letter or two per line) and squeezed the policy at 100.
    """
    lines: list[RenderableType] = []
    for variant in item.variants:
        of = "" if variant.domain == item.domain else f"{visible(variant.domain)}: "
        policy = Text.assemble(
            of, (visible(variant.text()), "bold"), "  ", (count(variant.reports, "report"), "dim")
        )
        lines.append(Padding(policy, (0, 0, 0, 2)))
        lines.append(Padding(plain(f"seen by {', '.join(variant.reporters)}"), (0, 0, 0, 4)))
    return Group(*lines)


def policy_line(item: Readiness) -> Text:
    split = item.disagreeing()
    if not split:
        each = "" if len(item.variants) <= 1 else " of each domain"
        return Text(f"Every receiver saw the same published policy{each}.")
    n = sum(len(variants) for variants in split.values())
    of = "" if list(split) == [item.domain] else f" of {', '.join(map(visible, split))}"
    return Text(
        f"Receivers saw {n} different published policies{of}"
        " (a change during the period, or DNS answers that differ):",
        "yellow",
    )


RECENT_DAYS = 14
"""Days listed one per row; earlier days are summed per month, so a year of reports is ~26 rows
per domain, not 365 (a year of days per domain took seconds to lay out on the main thread)."""


def _days_table() -> Table:
    table = PlainTable(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("day")
    table.add_column("pass", justify="right", style="green")
    table.add_column("fail legit", justify="right", style="red")
    table.add_column("fail outside", justify="right")
    return table


def earlier_by_month(days: tuple[DayCounts, ...], cut: str = "") -> list[DayCounts]:
    """``days`` summed per month, oldest first: ``DayCounts.day`` is then ``YYYY-MM``, or
    ``YYYY-MM-DD–DD`` for the month the per-day rows (from ``cut``) go on with."""
    months: dict[str, list[int]] = {}
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for d in days:
        first.setdefault(d.day[:7], d.day)
        sums = months.setdefault(d.day[:7], [0, 0, 0])
        sums[0] += d.passed
        sums[1] += d.failed_legit
        sums[2] += d.failed_outside
        last[d.day[:7]] = d.day
    return [
        DayCounts(f"{first[month]}–{last[month][8:]}" if cut[:7] == month else month, *sums)
        for month, sums in months.items()
    ]


def days_caption(item: Readiness) -> Text | None:
    """The whole range in a line, when the table lists only its last days one by one."""
    if len(item.days) <= RECENT_DAYS:
        return None
    first, cut, last = item.days[0].day, item.days[-RECENT_DAYS].day, item.days[-1].day
    return Text(
        f"{count(len(item.days), 'day')} with reports, {first} to {last}:"
        f" per month before {cut}, then per day.",
        "dim",
    )


def days_table(item: Readiness) -> Table:
    """The last ``RECENT_DAYS`` days one per row, the days before them per month."""
    table = _days_table()
    earlier, recent = item.days[:-RECENT_DAYS], item.days[-RECENT_DAYS:]
    for d in earlier_by_month(earlier, recent[0].day if earlier else ""):
        table.add_row(d.day, _n(d.passed), _n(d.failed_legit), _n(d.failed_outside))
    for d in recent:
        table.add_row(d.day, _n(d.passed), _n(d.failed_legit), _n(d.failed_outside))
    return table


def domain_view(item: Readiness) -> Group:
    caption = days_caption(item)
    return Group(
        verdict(item),
        totals_table(item),
        Text(),
        stricter_table(item),
        Text(),
        policy_line(item),
        policies_table(item),
        Text(),
        *([caption] if caption is not None else []),
        days_table(item),
        Text(),
    )


def readiness_view(result: list[Readiness]) -> Group:
    """Every domain's view, built by the compute worker so the main thread only shows it."""
    return Group(*(domain_view(r) for r in result))


class ReadinessPane(LazyPane):
    PANE_ID = "readiness"
    TITLE = "Readiness"

    HELP = """\
## Readiness

For each of our domains: messages passing DMARC, failing from legitimate sources (our servers,
lists, forwarders, known services: what a stricter policy would lose) and failing from
outsiders (what it is meant to stop), per day for the last two weeks and per month before them;
what p=quarantine or p=reject would have done, by finding kind; and whether every receiver saw
the same published policy.
"""

    class Computed(Message):
        def __init__(
            self,
            result: list[Readiness] | str,
            view: RenderableType | None = None,
            run: object = None,
        ) -> None:
            super().__init__()
            self.result = result
            self.view = view
            """The figures' renderable, built in the worker (``readiness_view``)."""
            self.run = run
            """The shared ranking's triage the figures came from."""

    def __init__(self) -> None:
        super().__init__()
        self._shown = False
        """Figures are on screen (until then the status line shows the ranking's progress)."""
        self._since = 0.0
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label("Counting…", id="readiness-status", classes="pane-status")
        with KeyScroll(id="readiness-scroll"):
            yield Static("", id="readiness-body")

    def compute(self) -> None:
        if not self._shown:
            self._since = time.monotonic()
            self._show_counting()
            if self._ticker is None:
                self._ticker = self.set_interval(TICK_SECONDS, self._show_counting)
        self._compute()

    def _show_counting(self) -> None:
        """Until the first figures arrive: how far the (shared) ranking got, and its seconds."""
        if not self._shown:
            self.query_one("#readiness-status", Label).update(
                ranking_status("Counting", self.dmarc.ranking, self._since)
            )

    @work(
        thread=True,
        exclusive=True,
        group="readiness",
        exit_on_error=False,
        description="count policy readiness",
    )
    def _compute(self) -> None:
        worker = get_current_worker()
        run = None
        try:
            app = self.dmarc
            ranking = app.ranking.get(app.config, app.names, cancelled=lambda: worker.is_cancelled)
            if ranking is None:  # cancelled: the app is closing
                return
            run = ranking.run
            result: list[Readiness] | str = run.readiness()
            if run.warning and not result:
                result = f"Warning: {run.warning}."
        except Exception as exc:  # relayed to the pane, never swallowed
            result = f"Readiness failed: {type(exc).__name__}: {exc}"
        view = readiness_view(result) if isinstance(result, list) and result else None
        self.post_message(self.Computed(result, view, run))

    def on_readiness_pane_computed(self, message: ReadinessPane.Computed) -> None:
        self._shown = True
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        status = self.query_one("#readiness-status", Label)
        body = self.query_one("#readiness-body", Static)
        if isinstance(message.result, str):
            status.update(message.result)
        elif not message.result:
            status.update("No reports for our domains yet")
            body.update("")
        else:
            ready = sum(1 for r in message.result if r.ready)
            status.update(
                f"{count(len(message.result), 'domain')} · {ready:,} ready for a stricter policy"
                " · arrows / PgDn scroll"
            )
            body.update(message.view or "")
            self.dmarc.keep_long_lived(message.run)
        self.computed()
