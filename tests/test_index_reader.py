"""``Index.triage(reader=True)``: the same answers, read on a connection of its own.

The TUI ranks with it so that a long triage (7 s of one locked read at a million records) never
holds the lock every other query of the index (a page of the report list, a report) waits for.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dmarctui.config import Config
from dmarctui.index import Index
from dmarctui.scan import drain
from dmarctui.synthetic import build_synthetic


def test_a_reader_triage_needs_not_the_index_lock_and_answers_the_same(tmp_path: Path) -> None:
    folder = build_synthetic(tmp_path / "mail", 40)
    with Index.open(folder, db=tmp_path / "index.sqlite") as index:
        drain(index.update(workers=1))
        expected = index.triage(Config())
        index.triage(Config(), reader=True)  # opens the reader connection
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            with index._lock:  # what a long query on the main connection holds
                held.set()
                release.wait(timeout=30)

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(timeout=10)
        runs: list[object] = []
        ranking = threading.Thread(
            target=lambda: runs.append(index.triage(Config(), reader=True)), daemon=True
        )
        try:
            ranking.start()
            ranking.join(timeout=20)
            assert runs, "the reader triage waited for the index's lock"
        finally:
            release.set()
            holder.join()
        [run] = runs
        assert isinstance(run, type(expected))
        assert run.findings() == expected.findings()
        assert run.readiness() == expected.readiness()
        finding = expected.findings()[0]
        assert run.evidence(finding.source_ip, finding.kind) == expected.evidence(
            finding.source_ip, finding.kind
        )


def test_an_index_in_memory_triages_on_its_own_connection(tmp_path: Path) -> None:
    folder = build_synthetic(tmp_path / "mail", 20)
    with Index.open(folder, in_memory=True) as index:
        drain(index.update(workers=1))
        assert index.triage(Config(), reader=True).findings() == index.triage(Config()).findings()
