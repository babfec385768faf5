"""A stored triage result is served only for the same data, config, PTR names and period.

Every test compares what is served with the in-memory reference after the change, so a stale
result (the counts of before) fails them, not only the ``stored`` flag.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from old_schemas import SCHEMA_6_ADDED, back_to_schema_6
from test_index_triage import (
    assert_answers,
    assert_same,
    indexed,
    random_config,
    random_period,
    random_ptrs,
    write_reports,
)
from triage_scenarios import (
    DAY,
    DAY0,
    DOMAIN,
    PTRS,
    campus_config,
    campus_reports,
    dkim,
    record,
    report,
    spf,
)

from dmarctui import index_triage, index_triage_store
from dmarctui.config import Config, Sender, load_config
from dmarctui.demo import build_demo
from dmarctui.index import Index
from dmarctui.index_schema import SCHEMA_VERSION
from dmarctui.model import PolicyPublished


def move_in(source: Path, folder: Path, prefix: str) -> None:
    """Deliver the messages of another Maildir into ``folder``."""
    for sub in ("cur", "new"):
        for path in (source / sub).iterdir():
            path.rename(folder / sub / (prefix + path.name))


def update(index: Index) -> None:
    for _ in index.update(workers=1):
        pass


def test_the_same_question_reads_the_stored_result(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        first = index.triage(campus_config(), PTRS)
        assert not first.stored
        again = index.triage(campus_config(), PTRS)
        assert again.stored
        assert again.findings() == first.findings()
        assert again.readiness() == first.readiness()
        assert again.failing_days().by_source == first.failing_days().by_source
        assert again.classified == first.classified and again.shared == first.shared
        assert assert_answers(index, again, campus_config(), PTRS) == 12


def test_new_mail_is_counted_not_served_from_before(tmp_path: Path) -> None:
    reports = campus_reports()
    folder = write_reports(tmp_path / "Maildir", reports[:3])
    with indexed(folder) as index:
        assert_same(index, campus_config(), PTRS)
        before = index.triage(campus_config(), PTRS).findings()
        move_in(write_reports(tmp_path / "more", reports[3:]), folder, "x")
        update(index)
        run = index.triage(campus_config(), PTRS)
        assert not run.stored and run.updated, "only the new reports are counted"
        assert run.findings() != before
        assert assert_answers(index, run, campus_config(), PTRS) == 12
        assert index.triage(campus_config(), PTRS).stored  # the updated result was stored
        assert_same(index, campus_config(), PTRS)


def test_a_message_gone_from_the_folder_is_not_counted_from_before(tmp_path: Path) -> None:
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder) as index:
        before = assert_same(index, campus_config(), PTRS)
        index.prepare_ranking(campus_config())  # as a scan leaves it (no PTR names)
        assert index_triage.ranking_stored(index._conn, index._lock, campus_config())
        gone = sorted(p for sub in ("cur", "new") for p in (folder / sub).iterdir())[:3]
        assert len(gone) == 3
        for path in gone:
            path.unlink()
        update(index)
        assert not index_triage.ranking_stored(index._conn, index._lock, campus_config())
        run = index.triage(campus_config(), PTRS)
        assert not run.stored and not run.updated, "a report it counted is gone: all again"
        assert assert_answers(index, run, campus_config(), PTRS) <= before


def test_a_report_no_longer_counted_is_not_counted_from_before(tmp_path: Path) -> None:
    """Whatever changes a report (here whether it counts, as the ledger decides) changes the
    generation in the same statement: nothing that writes reports has to remember it."""
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        assert_same(index, campus_config(), PTRS)
        with index._lock:
            index._conn.execute(
                "UPDATE reports SET counted = 0 WHERE pk IN"
                " (SELECT pk FROM reports WHERE counted ORDER BY pk LIMIT 4)"
            )
        run = index.triage(campus_config(), PTRS)
        assert not run.stored and not run.updated
        assert_answers(index, run, campus_config(), PTRS)


def test_another_config_reclassifies_and_the_first_is_still_stored(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        campus = campus_config()
        assert_same(index, campus, PTRS)
        other = Config(
            own_domains=campus.own_domains,
            internal=campus.internal[:1],
            senders=(Sender("198.51.100.20/32", "Alumni forwarder", "third_party"),),
        )
        run = index.triage(other, PTRS)
        assert not run.stored
        assert run.findings() != index.triage(campus, PTRS).findings()
        assert_answers(index, run, other, PTRS)
        assert index.triage(campus, PTRS).stored
        assert index.triage(other, PTRS).stored
        # Only what triage reads is in the key: another contact changes no count.
        decided = Config(
            own_domains=campus.own_domains,
            internal=campus.internal[:1],
            senders=other.senders,
            decided_senders=(Sender("203.0.113.0/24", "decided", "forwarder"),),
        )
        assert not index.triage(decided, PTRS).stored
        assert_same(index, decided, PTRS)


def test_another_period_is_counted_for_itself(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        whole = assert_same(index, campus_config(), PTRS)
        since, until = DAY0 + DAY, DAY0 + 2 * DAY
        run = index.triage(campus_config(), PTRS, since=since, until=until)
        assert not run.stored
        assert assert_answers(index, run, campus_config(), PTRS, since, until) < whole
        assert assert_same(index, campus_config(), PTRS, since, until) < whole
        assert not index.triage(campus_config(), PTRS, since=since).stored
        assert_same(index, campus_config(), PTRS, since=since)


def test_ptr_names_are_in_the_key_only_when_a_sender_is_matched_by_name(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        by_name = campus_config()  # "*.lists.example.org" is a PTR glob
        assert_same(index, by_name, PTRS)
        unnamed = {ip: name for ip, name in PTRS.items() if name is not None}
        assert index.triage(by_name, unnamed).stored  # a source without a name is the same
        fewer = {ip: name for ip, name in PTRS.items() if ip != "203.0.113.10"}
        assert not index.triage(by_name, fewer).stored
        assert index.triage(by_name, fewer).findings() != index.triage(by_name, PTRS).findings()
        assert_same(index, by_name, fewer)
        by_address = Config(own_domains=by_name.own_domains, internal=by_name.internal)
        assert_same(index, by_address, PTRS)
        assert index.triage(by_address, {}).stored  # no verdict reads a name
        assert_answers(index, index.triage(by_address, {}), by_address, {})


def test_a_result_counted_while_an_update_writes_is_never_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI counts while the folder is being indexed: an update between two of the counting
    queries leaves a result that is already stale, so it is not served afterwards."""
    reports = campus_reports()
    folder = write_reports(tmp_path / "Maildir", reports[:3])
    more = write_reports(tmp_path / "more", reports[3:])
    monkeypatch.setattr(index_triage, "BATCH", 1)
    with indexed(folder) as index:
        arrived = []

        def mail_arrives(done: int, total: int) -> None:
            if not arrived:
                arrived.append(done)
                move_in(more, folder, "x")
                update(index)

        index.triage(campus_config(), PTRS, progress=mail_arrives)
        assert arrived
        run = index.triage(campus_config(), PTRS)
        assert not run.stored
        assert assert_answers(index, run, campus_config(), PTRS) == 12
        assert index.triage(campus_config(), PTRS).stored


def test_a_cancelled_count_is_not_stored(tmp_path: Path) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        assert not index.triage(campus_config(), PTRS, cancelled=lambda: True).complete
        assert not index.triage(campus_config(), PTRS).stored


def test_another_dmarctui_does_not_read_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with indexed(write_reports(tmp_path / "Maildir", campus_reports())) as index:
        assert_same(index, campus_config(), PTRS)
        monkeypatch.setattr(
            index_triage_store, "RESULT_FORMAT", index_triage_store.RESULT_FORMAT + 1
        )
        assert not index.triage(campus_config(), PTRS).stored
        monkeypatch.setattr(index_triage_store, "__version__", "0.0.0-other")
        assert not index.triage(campus_config(), PTRS).stored


def test_the_result_is_stored_in_the_index_file_and_kept_small(tmp_path: Path) -> None:
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    db = tmp_path / "index.sqlite3"
    with Index.open(folder, db=db) as index:
        update(index)
        index.triage(campus_config(), PTRS)
        for day in range(index_triage_store.KEEP + 3):
            index.triage(campus_config(), PTRS, since=DAY0 + day * 3600)
    with Index.open(folder, db=db) as index:
        update(index)  # nothing new: the result stays good
        last = DAY0 + (index_triage_store.KEEP + 2) * 3600
        assert index.triage(campus_config(), PTRS, since=last).stored
        assert not index.triage(campus_config(), PTRS).stored  # the least recently used went
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM triage_results").fetchone()[0] == (
        index_triage_store.KEEP
    )
    conn.close()


def test_an_index_of_schema_5_is_upgraded_in_place(tmp_path: Path) -> None:
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    db = tmp_path / "index.sqlite3"
    with Index.open(folder, db=db) as index:
        update(index)
        expected = index.triage(campus_config(), PTRS).findings()
    conn = sqlite3.connect(db)
    back_to_schema_6(conn)
    conn.executescript(SCHEMA_6_ADDED + "PRAGMA user_version = 5;")
    conn.close()
    with Index.open(folder, db=db) as index:
        assert index.notices == [
            f"upgrading the index {db} from schema 5 to {SCHEMA_VERSION}"
            " (once; large indexes take a while)"
        ]
        run = index.triage(campus_config(), PTRS)
        assert not run.stored and run.findings() == expected
        assert assert_same(index, campus_config(), PTRS) == 12
        move_in(write_reports(tmp_path / "more", campus_reports()[:1]), folder, "x")
        update(index)  # a duplicate report: a new report row all the same
        run = index.triage(campus_config(), PTRS)
        assert not run.stored
        assert assert_answers(index, run, campus_config(), PTRS) == 12


def delivered_later(folder: Path, holding: Path, share: int) -> None:
    """Take every ``share``-th message out of ``folder`` (to deliver it later, :func:`move_in`)."""
    for sub in ("cur", "new", "tmp"):
        (holding / sub).mkdir(parents=True, exist_ok=True)
    every = sorted(p for sub in ("cur", "new") for p in (folder / sub).iterdir())
    for path in every[::share]:
        path.rename(holding / path.parent.name / path.name)


def test_new_mail_updates_stored_results_with_random_configs_and_periods(tmp_path: Path) -> None:
    """Each stored result brought up to date by the new reports alone (or counted again where
    they change what its verdicts rest on) equals the reference over all the reports."""
    demo = build_demo(tmp_path / "demo")
    config, _ = load_config(demo.config_path)
    later = tmp_path / "later"
    delivered_later(demo.maildir, later, 3)
    with indexed(demo.maildir) as index:
        reports = list(index.counted_reports())
        rng = random.Random(5)
        questions = [(config, None, None, None), (Config(), None, None, None)]
        for _ in range(index_triage_store.KEEP - 2):
            since, until = random_period(rng, reports)
            questions.append((random_config(rng, reports), random_ptrs(rng, reports), since, until))
        for cfg, ptrs, since, until in questions:
            index.triage(cfg, ptrs, since=since, until=until)
        move_in(later, demo.maildir, "")
        update(index)
        updated = 0
        for cfg, ptrs, since, until in questions:
            run = index.triage(cfg, ptrs, since=since, until=until)
            assert not run.stored
            updated += run.updated
            assert_answers(index, run, cfg, ptrs, since, until, evidence=3)
        assert updated >= 2


def test_new_mail_that_changes_the_shared_domains_is_counted_all_again(tmp_path: Path) -> None:
    """Lab 3's own subdomain From is clean until our DKIM signs it at an internal source: then it
    is shared, and lab 3's earlier mail (already counted) becomes internal_no_dkim."""
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder) as index:
        before = index.triage(campus_config(), PTRS).findings()
        assert "2001:db8:3::25" not in {f.source_ip for f in before}
        signed = record(
            "192.0.2.1", 4, pe=("pass", "pass"), header_from="lab3.example.ac.jp",
            dkims=(dkim(DOMAIN, "pass"),), spfs=(spf(DOMAIN, "pass"),),
        )  # fmt: skip
        late = report("Late", "late-1", DAY0 + 5 * DAY, DAY0 + 6 * DAY, (signed,))
        move_in(write_reports(tmp_path / "more", [late]), folder, "x")
        update(index)
        run = index.triage(campus_config(), PTRS)
        assert not run.stored and not run.updated
        assert ("2001:db8:3::25", "internal_no_dkim") in {(f.source_ip, f.kind) for f in
                                                          run.findings()}  # fmt: skip
        assert_answers(index, run, campus_config(), PTRS)


def test_new_mail_with_a_new_policy_domain_is_counted_all_again(tmp_path: Path) -> None:
    """Without own domains configured they are the policy domains: a new one changes them."""
    folder = write_reports(tmp_path / "Maildir", campus_reports())
    with indexed(folder) as index:
        index.triage(Config())
        other = PolicyPublished(domain="other.example", p="reject", adkim="r", aspf="r")
        spoof = record("203.0.113.67", 5, pe=("fail", "fail"), header_from="other.example")
        late = report("Late", "late-2", DAY0 + 5 * DAY, DAY0 + 6 * DAY, (spoof,), policy=other)
        move_in(write_reports(tmp_path / "more", [late]), folder, "x")
        update(index)
        # What scan asks: the stored result would be refused, so scan counts it all itself.
        assert not index_triage.ranking_stored(index._conn, index._lock, Config())
        run = index.triage(Config())
        assert not run.stored and not run.updated
        assert ("203.0.113.67", "outside_spoofing") in {(f.source_ip, f.kind) for f in
                                                        run.findings()}  # fmt: skip
        assert_answers(index, run, Config())
