"""The evidence table of a letter: what the receivers reported, readable in 72 columns.

A source failing for a year has thousands of records, so the table does not list them all:
daily rows (per reporter) for the recent period, then weekly totals, then monthly totals for
the older months, then a total line. Several sources get one table each, under their name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dmarctui.letter_text import pad, width
from dmarctui.model import Evidence

RECENT_DAYS = 14
"""Days before the latest report that get daily rows."""
MAX_DAILY_ROWS = 20
"""At most this many daily rows; older days move into the weekly totals."""
WEEKS = 8
"""Weeks before the daily period that get a row each; older ones are summed per month."""
REPORTER_COLUMN = 20
"""Widest reporter name; with the other columns at their widest a row is 72 columns."""

_WORDS = {
    "ja": {
        "head": "日付|報告元|通数|DKIM|SPF|処理",
        "weekly": "（週ごとの合計）",
        "daily": "（日ごと・報告元ごと）",
        "monthly": "（月ごとの合計）",
        "week": "{day} 週",
        "month": "{month}",
        "reporters": "{n} 社",
        "mixed": "混在",
        "total": "合計: {messages} 通、レポート {reports} 件、報告元 {reporters} 社"
        "（{first}〜{last}）",
        "no_evidence": "（記録なし）",
    },
    "en": {
        "head": "Date|Reporter|Count|DKIM|SPF|Result",
        "weekly": "(weekly totals)",
        "daily": "(daily, per reporter)",
        "monthly": "(monthly totals)",
        "week": "wk {day}",
        "month": "{month}",
        "reporters": "{n} reporters",
        "mixed": "mixed",
        "total": "Total: {messages} messages in {reports} reports from {reporters}"
        " reporters, {first} to {last}",
        "no_evidence": "(no records attached)",
    },
}


@dataclass
class _Row:
    label: str
    reporters: set[str] = field(default_factory=set)
    count: int = 0
    dkim: set[str] = field(default_factory=set)
    spf: set[str] = field(default_factory=set)
    disposition: set[str] = field(default_factory=set)

    def add(self, e: Evidence) -> None:
        self.reporters.add(e.reporter)
        self.count += e.count
        self.dkim.add(e.dkim)
        self.spf.add(e.spf)
        self.disposition.add(e.disposition)

    def cells(self, words: Mapping[str, str]) -> tuple[str, ...]:
        def one(values: set[str]) -> str:
            return next(iter(values)) if len(values) == 1 else words["mixed"]

        who = (
            next(iter(self.reporters))
            if len(self.reporters) == 1
            else words["reporters"].format(n=len(self.reporters))
        )
        return (
            self.label,
            _cut(who, REPORTER_COLUMN),
            str(self.count),
            one(self.dkim),
            one(self.spf),
            one(self.disposition),
        )


def _cut(text: str, columns: int) -> str:
    if width(text) <= columns:
        return text
    out = ""
    for ch in text:
        if width(out + ch) > columns - 1:
            break
        out += ch
    return out + "…"


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


def _rows(evidence: Sequence[Evidence], lang: str) -> list[list[_Row]]:
    """Daily rows (recent), weekly rows, monthly rows; each part oldest first."""
    words = _WORDS[lang]
    last = max(_day(e.begin) for e in evidence)
    daily: dict[tuple[date, str, str, str, str], _Row] = {}
    start = last - timedelta(days=RECENT_DAYS - 1)
    while True:
        daily.clear()
        for e in evidence:
            d = _day(e.begin)
            if d >= start:
                key = (d, e.reporter, e.dkim, e.spf, e.disposition)
                daily.setdefault(key, _Row(d.isoformat())).add(e)
        if len(daily) <= MAX_DAILY_ROWS or start >= last:
            break
        start += timedelta(days=1)
    weekly: dict[date, _Row] = {}
    monthly: dict[str, _Row] = {}
    for e in evidence:
        d = _day(e.begin)
        if d >= start:
            continue
        weeks_back = ((start - d).days - 1) // 7
        if weeks_back < WEEKS:
            first = start - timedelta(days=7 * (weeks_back + 1))
            weekly.setdefault(first, _Row(words["week"].format(day=first.isoformat()))).add(e)
        else:
            month = d.strftime("%Y-%m")
            monthly.setdefault(month, _Row(words["month"].format(month=month))).add(e)
    return [
        [monthly[k] for k in sorted(monthly)],
        [weekly[k] for k in sorted(weekly)],
        [daily[k] for k in sorted(daily, key=lambda k: (k[0], k[1].lower(), k[1:]))],
    ]


def _table(evidence: Sequence[Evidence], lang: str) -> list[str]:
    words = _WORDS[lang]
    monthly, weekly, daily = _rows(evidence, lang)
    head = tuple(words["head"].split("|"))
    parts: list[tuple[str | None, list[tuple[str, ...]]]] = []
    if monthly:
        parts.append((words["monthly"], [r.cells(words) for r in monthly]))
    if weekly:
        parts.append((words["weekly"], [r.cells(words) for r in weekly]))
    parts.append((words["daily"], [r.cells(words) for r in daily]))
    every = [head, *(row for _, rows in parts for row in rows)]
    widths = [max(width(r[i]) for r in every) for i in range(len(head))]
    right = {2}

    def line(row: Sequence[str]) -> str:
        cells = [
            (" " * (w - width(c)) + c) if i in right else pad(c, w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    lines = [line(head), "  " + "  ".join("-" * w for w in widths)]
    for caption, rows in parts:
        if len(parts) > 1:
            lines.append("  " + (caption or ""))
        lines.extend(line(r) for r in rows)
    first = min(_day(e.begin) for e in evidence)
    last = max(_day(max(e.begin, e.end - 1)) for e in evidence)
    lines.append(
        "  "
        + words["total"].format(
            messages=sum(e.count for e in evidence),
            reports=len({(e.reporter, e.report_id, e.begin) for e in evidence}),
            reporters=len({e.reporter for e in evidence}),
            first=first.isoformat(),
            last=last.isoformat(),
        )
    )
    return lines


def evidence_table(by_source: Mapping[str, Iterable[tuple[str, Evidence]]], lang: str) -> str:
    """The table(s) for ``{source label: [(source ip, evidence), ...]}``, each line ≤ 72 columns.

    With one source the table stands alone; with several, each table follows its source's
    label. Rows fit 72 columns; the caller folds the total line with the rest of the body.
    """
    words = _WORDS[lang]
    blocks = []
    for label, items in by_source.items():
        evidence = [e for _, e in items]
        if not evidence:
            continue
        table = _table(evidence, lang)
        blocks.append([f"  {label}", *table] if len(by_source) > 1 else table)
    if not blocks:
        return "  " + words["no_evidence"]
    return "\n\n".join("\n".join(block) for block in blocks)
