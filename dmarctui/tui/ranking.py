"""One ranking of the index shared by the panes that need it (Sources, Readiness).

Ranking a large index is one pass over every counted record in SQL (seconds at a million
records) and holds a few hundred MB while it runs. Both panes ask for the same thing: the index
triage for the config and the PTR names known, with the cached, forward-confirmed names of the
listed sources. So it is computed once per index version, config and set of names, by whichever
worker asks first; a second asker waits for that run (and is told its progress) instead of
starting its own, and one that comes later gets the kept answer at once.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dmarctui.config import Config
from dmarctui.index import Index
from dmarctui.index_triage import IndexTriage
from dmarctui.model import Finding
from dmarctui.triage import with_unconfirmed

LISTED = 1_000
"""Most findings the Sources table lists, and whose cached PTR names are read: nobody writes to
source 11,000 first, and the DataTable's cost on every pane switch (and the garbage collector's
pauses) grow with the findings held; the status line says when the list is cut."""

TICK_SECONDS = 1.0
"""How often a pane waiting for its first ranking shows the progress on its status line."""

Progress = Callable[[int, int], None]
"""Told (reports counted, reports in all) while a ranking runs."""
Cancelled = Callable[[], bool]


@dataclass(frozen=True)
class Ranking:
    """The index triage with the cached PTR names of the listed sources."""

    run: IndexTriage
    findings: list[Finding]
    """Every finding, ranked, unconfirmed PTR names shown as such."""
    version: str
    """``Index.data_version`` when the ranking began."""


@dataclass
class _Asker:
    progress: Progress | None
    cancelled: Cancelled | None


def names_matter(config: Config) -> bool:
    """Whether PTR names can change a verdict (a sender matched by name), not only what the
    findings show: only then does another set of names need another triage."""
    return config.senders_by_name or bool(config.decided_senders)


class SharedRanking:
    """Computes :class:`Ranking` at most once per (index version, config, PTR names).

    ``rankings`` counts the triages run (a second one when a PTR-pattern sender matches a cached
    name), so tests can check that nothing re-ranks when nothing changed.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self.rankings = 0
        self.progress: tuple[int, int] | None = None
        """The running triage's last progress; None when none runs."""
        self._base: tuple[tuple[object, ...], Config, IndexTriage] | None = None
        self._named: tuple[tuple[object, ...], Config, Ranking] | None = None
        self._computing = threading.Lock()
        self._askers: list[_Asker] = []
        self._askers_lock = threading.Lock()

    def get(
        self,
        config: Config,
        names: Mapping[str, str | None] | None = None,
        *,
        progress: Progress | None = None,
        cancelled: Cancelled | None = None,
    ) -> Ranking | None:
        """The ranking for ``config`` and the forward-confirmed PTR ``names``; None when
        every asker cancelled. Blocks while another thread ranks: call it from a worker."""
        shown = {ip: n for ip, n in (names or {}).items() if n}
        asker = _Asker(progress, cancelled)
        with self._askers_lock:
            self._askers.append(asker)
        try:
            with self._computing:
                version = self.index.data_version()
                matched = shown if names_matter(config) else {}
                base_key = (version, sorted(matched.items()))
                key = (*base_key, sorted(shown.items()))
                named = self._named
                if named is not None and named[0] == key and named[1] is config:
                    return named[2]
                base = self._base
                if base is None or base[0] != base_key or base[1] is not config:
                    self._base = self._named = None  # not held while the next one is built
                    run = self._rank(config, matched)
                    if run is None:
                        return None
                    self._base = base = (base_key, config, run)
                ranking = self._name(base[2], shown, version)
                self._named = (key, config, ranking)
                return ranking
        finally:
            with self._askers_lock:
                self._askers.remove(asker)

    def names_cached(self) -> None:
        """PTR names were stored in the index's cache: the next ``get`` reads them again (the
        counts are kept unless a sender is matched by name)."""
        self._named = None

    def _rank(self, config: Config, names: dict[str, str]) -> IndexTriage | None:
        """The triage, again with the cached confirmed names of the listed sources when a
        sender is matched by name; None when cancelled."""
        try:
            run = self._triage(config, names)
            if run.complete and names_matter(config):
                listed = [f.source_ip for f in run.findings()[:LISTED] if f.source_ip not in names]
                confirmed, _ = self.index.ptr_names(listed)
                if confirmed:
                    run = self._triage(config, {**names, **confirmed})
        finally:
            self.progress = None
        return run if run.complete else None

    def _name(self, base: IndexTriage, names: dict[str, str], version: str) -> Ranking:
        """``base`` showing ``names`` and the cached names of the listed sources: a view
        sharing its counts, since these names change no verdict of it."""
        run = copy.copy(base)
        run.ptrs = {**base.ptrs, **names}
        listed = [f.source_ip for f in run.findings()[:LISTED] if f.source_ip not in run.ptrs]
        confirmed, unconfirmed = self.index.ptr_names(listed)
        if confirmed:
            run.ptrs.update(confirmed)
        return Ranking(run, with_unconfirmed(run.findings(), unconfirmed), version)

    def _triage(self, config: Config, names: Mapping[str, str | None]) -> IndexTriage:
        self.rankings += 1
        return self.index.triage(
            config, names, progress=self._told, cancelled=self._cancelled, reader=True
        )

    def _told(self, done: int, total: int) -> None:
        self.progress = (done, total)
        with self._askers_lock:
            askers = list(self._askers)
        for asker in askers:
            if asker.progress is not None:
                asker.progress(done, total)

    def _cancelled(self) -> bool:
        """Stop only when everyone waiting for this ranking has gone."""
        with self._askers_lock:
            askers = list(self._askers)
        return bool(askers) and all(a.cancelled is not None and a.cancelled() for a in askers)


def ranking_status(label: str, ranking: SharedRanking, since: float) -> str:
    """``Ranking the sources… 5 s · 12,000 of 39,840 reports counted`` for a status line."""
    text = f"{label}… {time.monotonic() - since:.0f} s"
    progress = ranking.progress
    if progress is not None:
        done, total = progress
        text += f" · {done:,} of {total:,} reports counted"
    return text
