"""Triage from the index gives the same answers as the in-memory reference triage.

The reference is :func:`find_findings` / :func:`readiness` / :class:`FailingDays` over the report
objects the index holds (``Index.counted_reports``, what every command used before). The index
path classifies each distinct combination once and counts with SQL. They are compared over the
seed-like campus scenario, the demo, a synthetic folder and the public corpus, with the real
config and with randomised configs, PTR names and periods.
"""

from __future__ import annotations

import ipaddress
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from old_schemas import SCHEMA_6_ADDED, back_to_schema_6
from triage_scenarios import (
    DAY,
    DAY0,
    DOMAIN,
    PTRS,
    campus_config,
    campus_reports,
    record,
    report,
    spf,
)

from dmarctui import index_triage
from dmarctui.config import Config, Contact, Sender, load_config
from dmarctui.demo import build_demo
from dmarctui.demo_reports import REPORTERS, report_email, write_maildir
from dmarctui.index import Index
from dmarctui.index_schema import SCHEMA_VERSION, IndexStoreError
from dmarctui.index_triage import IndexTriage
from dmarctui.model import AggregateReport
from dmarctui.readiness import readiness
from dmarctui.synthetic import build_synthetic
from dmarctui.trend import FailingDays
from dmarctui.triage import find_findings

ROLES = ("third_party", "mailing_list", "forwarder")


def write_reports(folder: Path, reports: list[AggregateReport]) -> Path:
    rng = random.Random(7)
    reporter = REPORTERS["microsoft"]
    write_maildir(
        folder,
        (
            (
                r.report_metadata.date_range.end + 3600 + i,
                report_email(reporter, r, delivered=r.report_metadata.date_range.end, rng=rng),
            )
            for i, r in enumerate(reports)
        ),
        unseen_after=0,
    )
    return folder


def indexed(folder: Path, fmt: str | None = None, db: Path | None = None) -> Index:
    """The folder's index, in memory (counted on one connection) or in the file ``db``."""
    index = Index.open(folder, fmt, db=db, in_memory=db is None)  # type: ignore[arg-type]
    gen = index.update(workers=1)
    for _ in gen:
        pass
    return index


def assert_same(
    index: Index,
    config: Config,
    ptrs: dict[str, str | None] | None = None,
    since: int | None = None,
    until: int | None = None,
    *,
    evidence: int = 5,
) -> int:
    """Compare findings (every field, evidence of a few), readiness and failing days, both of a
    triage as it comes (counted, or stored by an earlier call) and of the stored result of the
    same question asked again."""
    run = index.triage(config, ptrs, since=since, until=until)
    again = index.triage(config, ptrs, since=since, until=until)
    assert again.stored, "the same data, config, names and period: the stored result is read"
    assert_answers(index, run, config, ptrs, since, until, evidence=evidence)
    return assert_answers(index, again, config, ptrs, since, until, evidence=evidence)


def assert_answers(
    index: Index,
    run: IndexTriage,
    config: Config,
    ptrs: dict[str, str | None] | None = None,
    since: int | None = None,
    until: int | None = None,
    *,
    evidence: int = 5,
) -> int:
    """Compare one triage's answers with the reference over the index's counted reports."""
    reports = list(index.counted_reports())
    expected = find_findings(reports, config, ptrs, since=since, until=until)
    got = run.findings()
    assert got == expected
    assert [f.per_day for f in got] == [f.per_day for f in expected]
    for want in expected[:evidence] + expected[-evidence:]:
        assert run.evidence(want.source_ip, want.kind) == list(want.evidence)
        assert run.evidence_count(want.source_ip, want.kind) == len(want.evidence)
        page = run.evidence(want.source_ip, want.kind, offset=1, limit=2)
        assert page == list(want.evidence[1:3])
    assert run.readiness() == readiness(reports, config, ptrs, since=since, until=until)
    assert run.ranked_sources() == list(dict.fromkeys(f.source_ip for f in expected))
    if since is None and until is None:
        ref = FailingDays.from_reports(reports, config, ptrs)
        days = run.failing_days()
        assert days.by_source == ref.by_source
        assert days.observed == ref.observed
    return len(expected)


def random_config(rng: random.Random, reports: list[AggregateReport]) -> Config:
    """Own domains, networks, senders and contacts drawn from what the reports hold."""
    domains = sorted({r.policy_published.domain.lower() for r in reports})
    froms = sorted({x.identifiers.header_from.lower() for r in reports for x in r.records})
    ips = sorted({x.source_ip for r in reports for x in r.records})
    pick = rng.sample(domains + froms, k=min(len(domains + froms), rng.randint(0, 3)))
    parents = [".".join(d.split(".")[-2:]) for d in pick]
    own = tuple(dict.fromkeys(d for d in pick + parents[: rng.randint(0, 1)] if d))

    def network(ip: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        address = ipaddress.ip_address(ip)
        prefix = rng.choice((16, 24, 32) if address.version == 4 else (32, 48, 128))
        return ipaddress.ip_network(f"{ip}/{prefix}", strict=False)

    sample = rng.sample(ips, k=min(len(ips), 6))
    internal = tuple(dict.fromkeys(network(ip) for ip in sample[:2]))
    senders = (
        *(
            Sender(str(network(ip)), f"sender {i}", rng.choice(ROLES))  # type: ignore[arg-type]
            for i, ip in enumerate(sample[2:4])
        ),
        Sender("*.ptr.example", "by name", rng.choice(ROLES)),  # type: ignore[arg-type]
    )
    contacts = (
        Contact(str(network(sample[0])), "Admin A", "a@example.org") if sample else None,
        Contact("*.ptr.example", "Admin B", "b@example.org"),
    )
    return Config(
        own_domains=own,
        include_subdomains=rng.random() < 0.8,
        internal=internal,
        senders=senders,
        contacts=tuple(c for c in contacts if c is not None),
    )


def random_ptrs(rng: random.Random, reports: list[AggregateReport]) -> dict[str, str | None]:
    ips = sorted({x.source_ip for r in reports for x in r.records})
    chosen = rng.sample(ips, k=min(len(ips), 8))
    return {ip: rng.choice((f"h{i}.ptr.example", None, "mx.other.example")) for i, ip in
            enumerate(chosen)}  # fmt: skip


def random_period(rng: random.Random, reports: list[AggregateReport]) -> tuple[int | None, ...]:
    begins = sorted(r.report_metadata.date_range.begin for r in reports)
    if not begins or rng.random() < 0.3:
        return None, None
    since = rng.choice(begins) + rng.choice((0, 3600, -1))
    until = since + rng.choice((86400, 3 * 86400, 40 * 86400)) if rng.random() < 0.7 else None
    return since if rng.random() < 0.8 else None, until


def randomised(index: Index, rounds: int, seed: int) -> None:
    reports = list(index.counted_reports())
    rng = random.Random(seed)
    for _ in range(rounds):
        since, until = random_period(rng, reports)
        assert_same(
            index, random_config(rng, reports), random_ptrs(rng, reports), since, until,
            evidence=2,
        )  # fmt: skip


def test_campus_scenario_same_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        assert assert_same(index, campus_config(), PTRS) == 12
        monkeypatch.setattr(index_triage, "BATCH", 3)  # counted in several queries
        seen: list[tuple[int, int]] = []
        index.triage(campus_config(), progress=lambda done, total: seen.append((done, total)))
        assert seen[-1][0] == seen[-1][1] > 3 and len(seen) > 1
        assert assert_same(index, campus_config(), PTRS) == 12
        assert assert_same(index, Config(), None) > 0
        randomised(index, 25, seed=1)


def test_long_reports_spread_per_record_as_the_reference_does(tmp_path: Path) -> None:
    lab = record("192.0.2.70", 1, pe=("fail", "pass"), spfs=(spf(DOMAIN, "pass"),))
    spoof = record("203.0.113.66", 5, pe=("fail", "fail"))
    reports = [
        # Three days, the same combination twice with one message each: spread per record,
        # each lands on the first day (not one per day as spreading their sum would).
        report("a.example", "3d-1", DAY0, DAY0 + 3 * DAY, (lab, spoof)),
        report("b.example", "3d-2", DAY0, DAY0 + 3 * DAY, (lab, spoof)),
        # 40 hours: longer than 36 hours, so spread too (from its first day) rather than put on
        # its midpoint day (the second).
        report("c.example", "40h", DAY0 + 12 * 3600, DAY0 + 52 * 3600, (lab, spoof)),
    ]
    with indexed(write_reports(tmp_path / "Maildir", reports)) as index:
        assert assert_same(index, campus_config()) == 2
        lab_finding = index.triage(campus_config()).findings()[0]
        assert lab_finding.per_day == (("2024-11-01", 3),)


def test_days_around_midnight_as_the_reference_counts_them(tmp_path: Path) -> None:
    """The index numbers a report's day in SQL (its midpoint floored to a UTC day): half a
    second either side of midnight, it lands where the reference puts it."""
    lab = record("192.0.2.70", 1, pe=("fail", "pass"), spfs=(spf(DOMAIN, "pass"),))
    spoof = record("203.0.113.66", 5, pe=("fail", "fail"))
    reports = [
        report("a.example", "before", DAY0 - 1, DAY0, (lab, spoof)),
        report("b.example", "after", DAY0, DAY0 + 1, (lab, spoof)),
        report("c.example", "day", DAY0 + DAY, DAY0 + 2 * DAY - 1, (lab, spoof)),
    ]
    with indexed(write_reports(tmp_path / "Maildir", reports)) as index:
        assert assert_same(index, campus_config()) == 2
        days = dict(index.triage(campus_config()).findings()[0].per_day)
        assert days == {"2024-10-31": 1, "2024-11-01": 1, "2024-11-02": 1}


def test_demo_same_answers_with_its_config_and_random_ones(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo")
    config, problems = load_config(demo.config_path)
    assert problems == []
    with indexed(demo.maildir) as index:
        assert assert_same(index, config) > 5
        assert assert_same(index, Config()) > 5
        randomised(index, 15, seed=2)


def test_synthetic_folder_same_answers(tmp_path: Path) -> None:
    folder = build_synthetic(tmp_path / "synth", 150, seed=3)
    with indexed(folder) as index:
        assert assert_same(index, Config()) > 0
        randomised(index, 4, seed=3)


def test_public_corpus_same_answers(corpus: Path) -> None:
    with indexed(corpus / "mail" / "Maildir", "maildir") as index:
        assert assert_same(index, Config(), evidence=20) > 0
        randomised(index, 15, seed=4)


def test_new_mail_updates_combinations_incrementally(tmp_path: Path) -> None:
    reports = campus_reports()
    folder = write_reports(tmp_path / "Maildir", reports[:2])
    with indexed(folder) as index:
        before = index.triage(campus_config(), PTRS).findings()
        write_reports(tmp_path / "more", reports[2:])
        for sub in ("cur", "new"):
            for path in (tmp_path / "more" / sub).iterdir():
                path.rename(folder / sub / ("x" + path.name))
        for _ in index.update(workers=1):
            pass
        assert assert_same(index, campus_config(), PTRS) == 12
        assert index.triage(campus_config(), PTRS).findings() != before


def test_an_index_of_schema_3_is_upgraded_in_place_with_a_message(tmp_path: Path) -> None:
    import sqlite3

    folder = write_reports(tmp_path / "Maildir", campus_reports())
    db = tmp_path / "index.sqlite3"
    with Index.open(folder, db=db) as index:
        for _ in index.update(workers=1):
            pass
        expected = index.triage(campus_config(), PTRS).findings()
    # Take the file back to what schema 3 wrote: no combinations, no confirmation column.
    conn = sqlite3.connect(db)
    back_to_schema_6(conn)
    conn.executescript(
        SCHEMA_6_ADDED + "DROP INDEX records_combo; DROP INDEX records_report;"
        " CREATE INDEX records_report ON records(report_pk, idx);"
        " ALTER TABLE records DROP COLUMN combo_id; DROP TABLE combos;"
        " ALTER TABLE ptr_cache DROP COLUMN confirmed; PRAGMA user_version = 3;"
    )
    conn.close()
    with Index.open(folder, db=db) as index:
        assert index.notices == [
            f"upgrading the index {db} from schema 3 to {SCHEMA_VERSION}"
            " (once; large indexes take a while)"
        ]
        assert index.triage(campus_config(), PTRS).findings() == expected
        assert assert_same(index, campus_config(), PTRS) == 12
    with Index.open(folder, db=db) as index:
        assert index.notices == []


def test_records_of_a_source_are_paged_newest_first(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        for ip in ("192.0.2.70", "192.0.2.0/24", "2001:db8::/32"):
            every = sorted(index.records_for_source(ip), key=lambda p: p[0].begin, reverse=True)
            pages = [index.source_records_page(ip, offset=o, limit=2) for o in range(0, 20, 2)]
            assert [pair for page in pages for pair in page] == every
            assert index.source_totals(ip) == (
                len(every), len({row.pk for row, _ in every}), sum(r.count for _, r in every)
            )  # fmt: skip


def test_triages_counting_at_once_on_one_connection_answer_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TUI panes count on one connection from their own threads: each count's working tables
    are its own, so counts interleaved query by query give what each gives alone."""
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        reports = list(index.counted_reports())
        rng = random.Random(11)
        configs = [campus_config(), Config(), *(random_config(rng, reports) for _ in range(4))]
        alone = [index.triage(c, PTRS).findings() for c in configs]
        index._conn.execute("DELETE FROM triage_results")  # count again, not read them back
        monkeypatch.setattr(index_triage, "BATCH", 1)  # a query per report: interleaved
        found: dict[int, object] = {}

        def count(i: int, config: Config) -> None:
            found[i] = index.triage(config, PTRS).findings()

        threads = [threading.Thread(target=count, args=(i, c)) for i, c in enumerate(configs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert [found.get(i) for i in range(len(configs))] == alone


def counting_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dmarctui-count"]


@pytest.fixture
def split_counts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full count of an index in a file split in two, whatever its size and the cores
    here, in batches of a few reports; gives the names of the threads that counted a part."""
    monkeypatch.setattr(index_triage, "PARALLEL_RECORDS", 1)
    monkeypatch.setattr(index_triage, "_cores", lambda: 2)
    monkeypatch.setattr(index_triage, "BATCH", 3)
    threads: list[str] = []
    count_part = index_triage._count_part

    def spied(*args: object) -> object:
        threads.append(threading.current_thread().name)
        return count_part(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(index_triage, "_count_part", spied)
    return threads


def test_a_ranking_counted_in_temporary_files_is_the_one_counted_in_memory(
    tmp_path: Path, split_counts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scan`` ranks a large index with the working tables in temporary files (both halves):
    the stored ranking is the same, and the connection keeps its tables in memory again."""
    import dmarctui.index as index_module

    demo = build_demo(tmp_path / "demo")
    config, _ = load_config(demo.config_path)
    stored = []
    connect = index_module.connect_reader
    for name, spill in (("memory", 10**12), ("files", 1)):
        monkeypatch.setattr(index_module, "SPILL_RECORDS", spill)
        split_counts.clear()
        with indexed(demo.maildir, db=tmp_path / f"{name}.db") as index:
            temp_stores = []

            def spying(*args: object, _seen: list[object] = temp_stores) -> object:
                conn = connect(*args)  # type: ignore[arg-type]
                _seen.append(conn.execute("PRAGMA temp_store").fetchone()[0])
                return conn

            monkeypatch.setattr(index_module, "connect_reader", spying)
            assert index.prepare_ranking(config)
            assert temp_stores == [1 if spill == 1 else 2]  # FILE in the second half too
            assert index._conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
            run = index.triage(config)
            assert run.stored
            stored.append((run.findings(), run.readiness(), run.failing_by_source()))
        assert set(split_counts) == {"MainThread", "dmarctui-count"}
    assert stored[0] == stored[1] and stored[0][0]


def test_counts_split_over_two_connections_give_the_same_answers(
    tmp_path: Path, split_counts: list[str]
) -> None:
    """An index in a file counts many records in two halves at once, on two connections: the
    halves add up to the reference's answers, days, reporters and readiness included."""
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=tmp_path / "campus.db") as index:
        assert assert_same(index, campus_config(), PTRS) == 12
        assert set(split_counts) == {"MainThread", "dmarctui-count"}
        randomised(index, 10, seed=5)
    demo = build_demo(tmp_path / "demo")
    config, _ = load_config(demo.config_path)
    with indexed(demo.maildir, db=tmp_path / "demo.db") as index:
        assert assert_same(index, config) > 5
        randomised(index, 6, seed=6)
    synthetic = build_synthetic(tmp_path / "synth", 150, seed=3)
    with indexed(synthetic, db=tmp_path / "synth.db") as index:
        assert assert_same(index, Config()) > 0
        randomised(index, 4, seed=7)
    assert not counting_threads(), "no counting thread outlives its count"


def test_a_split_count_reports_progress_and_stops_when_cancelled(
    tmp_path: Path, split_counts: list[str]
) -> None:
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=tmp_path / "campus.db") as index:
        seen: list[tuple[int, int]] = []
        index.triage(campus_config(), progress=lambda done, total: seen.append((done, total)))
        assert seen[-1][0] == seen[-1][1] == index.counted_count()
        asked: list[int] = []
        stopped = index.triage(Config(), cancelled=lambda: bool(asked.append(1)) or len(asked) > 1)
        assert not stopped.complete
        assert not index.triage(Config()).stored, "an incomplete count is not stored"
        assert not counting_threads()


def test_a_cancel_asked_after_the_second_half_ended_stops_the_count(
    tmp_path: Path, split_counts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calling thread's part is one batch (one poll before it) and ends after the second
    half did, so no wait polls again: the cancel asked meanwhile is still honoured."""
    monkeypatch.setattr(index_triage, "CALLER_SHARE", 0.01)
    count_part = index_triage._count_part  # the spy of ``split_counts``

    def slow_here(*args: object) -> object:
        part = count_part(*args)  # type: ignore[arg-type]
        if threading.current_thread() is threading.main_thread():
            while counting_threads():
                time.sleep(0.01)
        return part

    monkeypatch.setattr(index_triage, "_count_part", slow_here)
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=tmp_path / "campus.db") as index:
        asked: list[int] = []
        stopped = index.triage(Config(), cancelled=lambda: bool(asked.append(1)) or len(asked) > 1)
        assert set(split_counts) == {"MainThread", "dmarctui-count"}
        assert not stopped.complete and len(asked) == 2
        assert not index.triage(Config()).stored


def test_a_failure_in_the_second_half_is_the_counts_failure(
    tmp_path: Path, split_counts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second connection's error reaches the caller as the index's error (one line), and
    nothing is stored."""
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=tmp_path / "campus.db") as index:

        def broken(*args: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        with monkeypatch.context() as patched:
            patched.setattr(index_triage, "_count_elsewhere", broken)
            with pytest.raises(IndexStoreError, match="disk I/O error"):
                index.triage(campus_config())
        assert not counting_threads()
        del split_counts[:]
        assert not index.triage(campus_config()).stored
        assert sorted(split_counts) == ["MainThread", "dmarctui-count"], "counted, in halves"


def test_a_split_count_by_a_caller_holding_the_index_lock_does_not_wait_for_itself(
    tmp_path: Path, split_counts: list[str]
) -> None:
    """The second half's inputs are read by the calling thread, so a caller already holding
    the (re-entrant) lock counts as one that does not."""
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=tmp_path / "campus.db") as index:
        found: list[int] = []

        def locked() -> None:
            with index._lock:
                found.append(len(index.triage(campus_config(), PTRS).findings()))

        thread = threading.Thread(target=locked, daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert found == [12]
        assert len(split_counts) == 2 and "dmarctui-count" in split_counts, "counted in halves"


def test_the_second_half_never_creates_an_index_in_place_of_a_deleted_one(
    tmp_path: Path, split_counts: list[str]
) -> None:
    """The second connection only reads: an index file deleted while open is an error of the
    count, not an empty new index whose half would count nothing."""
    db = tmp_path / "campus.db"
    with indexed(write_reports(tmp_path / "Maildir", campus_reports()), db=db) as index:
        for path in tmp_path.glob("campus.db*"):
            path.unlink()
        with pytest.raises(IndexStoreError, match=r"campus\.db"):
            index.triage(campus_config())
        assert not db.exists()
        assert not counting_threads()


def test_the_second_half_never_counts_another_index_put_in_place_of_the_open_one(
    tmp_path: Path, split_counts: list[str]
) -> None:
    """Deleted and scanned again while a TUI has the old one open: the new file at the same
    path holds other report ids, and half a count read from it would mix two indexes."""
    db = tmp_path / "campus.db"
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder, db=db) as index:
        for path in tmp_path.glob("campus.db*"):
            path.unlink()
        with indexed(folder, db=db):
            pass
        with pytest.raises(IndexStoreError, match="replaced meanwhile"):
            index.triage(campus_config())
        assert not counting_threads()


def test_the_tuis_reading_connection_is_never_opened_on_a_new_file(tmp_path: Path) -> None:
    """The TUI's second connection is opened on first use, by path: an index deleted before
    then is an error, not an empty new index at its place."""
    db = tmp_path / "campus.db"
    with indexed(write_reports(tmp_path / "Maildir", campus_reports()), db=db) as index:
        for path in tmp_path.glob("campus.db*"):
            path.unlink()
        with pytest.raises(IndexStoreError, match="no longer the index opened"):
            index.triage(campus_config(), reader=True)
        assert not db.exists()
