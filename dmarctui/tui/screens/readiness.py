"""The Readiness pane: per own domain, would p=quarantine or p=reject lose legitimate mail?"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Label, Static

from dmarctui.readiness import Readiness
from dmarctui.tui.lazy_pane import LazyPane
from dmarctui.tui.safe_text import PlainTable, plain
from dmarctui.tui.screens.sources import PTR_LOOKUPS
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
        policy = Text.assemble(
            (variant.text(), "bold"), "  ", (count(variant.reports, "report"), "dim")
        )
        lines.append(Padding(policy, (0, 0, 0, 2)))
        lines.append(Padding(plain(f"seen by {', '.join(variant.reporters)}"), (0, 0, 0, 4)))
    return Group(*lines)


def policy_line(item: Readiness) -> Text:
    if item.policy_consistent:
        return Text("Every receiver saw the same published policy.")
    return Text(
        f"Receivers saw {len(item.variants)} different published policies"
        " (a change during the period, or DNS answers that differ):",
        "yellow",
    )


def days_table(item: Readiness) -> Table:
    table = PlainTable(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("day")
    table.add_column("pass", justify="right", style="green")
    table.add_column("fail legit", justify="right", style="red")
    table.add_column("fail outside", justify="right")
    for d in item.days:
        table.add_row(d.day, _n(d.passed), _n(d.failed_legit), _n(d.failed_outside))
    return table


def domain_view(item: Readiness) -> Group:
    return Group(
        verdict(item),
        totals_table(item),
        Text(),
        stricter_table(item),
        Text(),
        policy_line(item),
        policies_table(item),
        Text(),
        days_table(item),
        Text(),
    )


class ReadinessPane(LazyPane):
    PANE_ID = "readiness"
    TITLE = "Readiness"

    HELP = """\
## Readiness

For each of our domains: messages passing DMARC, failing from legitimate sources (our servers,
lists, forwarders, known services: what a stricter policy would lose) and failing from
outsiders (what it is meant to stop), per day; what p=quarantine or p=reject would have done,
by finding kind; and whether every receiver saw the same published policy.
"""

    class Computed(Message):
        def __init__(self, result: list[Readiness] | str) -> None:
            super().__init__()
            self.result = result

    def compose(self) -> ComposeResult:
        yield Label("Counting…", id="readiness-status", classes="pane-status")
        with KeyScroll(id="readiness-scroll"):
            yield Static("", id="readiness-body")

    def compute(self) -> None:
        self._compute()

    @work(
        thread=True,
        exclusive=True,
        group="readiness",
        exit_on_error=False,
        description="count policy readiness",
    )
    def _compute(self) -> None:
        try:
            app = self.dmarc
            run = app.index.triage(app.config)
            if app.config.senders_by_name:
                # Cached, confirmed PTR names: a PTR-pattern sender can make a failure legitimate.
                ranked = dict.fromkeys(f.source_ip for f in run.findings())
                confirmed, _ = app.index.ptr_names(list(ranked)[:PTR_LOOKUPS])
                if confirmed:
                    run = app.index.triage(app.config, confirmed)
            result: list[Readiness] | str = run.readiness()
            if run.warning and not result:
                result = f"Warning: {run.warning}."
        except Exception as exc:  # relayed to the pane, never swallowed
            result = f"Readiness failed: {type(exc).__name__}: {exc}"
        self.post_message(self.Computed(result))

    def on_readiness_pane_computed(self, message: ReadinessPane.Computed) -> None:
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
            views: list[RenderableType] = [domain_view(r) for r in message.result]
            body.update(Group(*views))
            self.dmarc.keep_long_lived()
        self.computed()
