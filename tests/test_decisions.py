"""Decisions: recorded, applied by triage like [[senders]] (the config wins), expired, undone."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dmarctui.cli import main
from dmarctui.config import Config, Sender, load_config, parse_config
from dmarctui.decisions import (
    Decision,
    DecisionError,
    DecisionStore,
    apply_decisions,
    decision_for,
    effective,
    senders_toml,
    state_of,
)
from dmarctui.model import (
    AggregateReport,
    DateRange,
    DkimAuthResult,
    Identifiers,
    PolicyEvaluated,
    PolicyPublished,
    Record,
    ReportMetadata,
    SpfAuthResult,
)
from dmarctui.triage import find_findings

DAY = 86400
NOW = 1_780_000_000  # 2026-05-28
OUTSIDE = "198.51.100.7"


def report(*records: Record) -> AggregateReport:
    return AggregateReport(
        ReportMetadata("google.com", "x@google.com", "r1", DateRange(NOW - DAY, NOW)),
        PolicyPublished("example.ac.jp", "none"),
        records,
    )


def failing(ip: str, dkim_ours: str | None = None) -> Record:
    """Mail as example.ac.jp failing DMARC; ``dkim_ours`` adds a DKIM result for our domain."""
    dkim = (DkimAuthResult("example.ac.jp", dkim_ours),) if dkim_ours else ()
    return Record(
        ip,
        5,
        PolicyEvaluated("none", "fail", "fail"),
        Identifiers("example.ac.jp"),
        dkim,
        (SpfAuthResult("spammer.test", "fail"),),
    )


BASE = Config(own_domains=("example.ac.jp",))


def kinds(config: Config, *records: Record) -> dict[str, str]:
    return {f.source_ip: f.kind for f in find_findings([report(*records)], config)}


def test_store_records_who_and_when_and_undo_reveals_the_older_decision(tmp_path: Path) -> None:
    with DecisionStore.open(tmp_path / "d.sqlite3") as store:
        first = store.add(OUTSIDE, "third_party", "Newsletter SaaS", who="alice", now=NOW)
        second = store.add(f"{OUTSIDE}/32", "mailing_list", "", who="bob", now=NOW + 60)
        assert second.match == OUTSIDE  # a /32 is the address itself
        assert [d.id for d in store.effective(NOW)] == [second.id]
        assert state_of(first, store.all(), NOW) == "superseded"
        undone = store.undo(OUTSIDE, who="carol", now=NOW + 120)
        assert (undone.id, undone.undone_by) == (second.id, "carol")
        assert [(d.verdict, d.who, d.note) for d in store.effective(NOW)] == [
            ("third_party", "alice", "Newsletter SaaS")
        ]
        with pytest.raises(DecisionError, match="already undone"):
            store.undo(str(second.id))
        with pytest.raises(DecisionError, match="needs a date"):
            store.add(OUTSIDE, "ignore")
        with pytest.raises(DecisionError, match="neither an IP address nor a CIDR"):
            store.add("mail.example.org", "forwarder")


def test_ignore_expires_after_its_last_day(tmp_path: Path) -> None:
    with DecisionStore.open(tmp_path / "d.sqlite3") as store:
        d = store.add("192.0.2.0/24", "ignore", until="2026-05-28", now=NOW - DAY)
        assert effective([d], NOW) == [d]  # 2026-05-28 is its last day
        assert effective([d], NOW + DAY) == []
        assert state_of(d, [d], NOW + DAY) == "expired"


def test_most_specific_decision_covers_a_source() -> None:
    with_decisions = [
        _decision(1, "192.0.2.0/24", "accepted_risk"),
        _decision(2, "192.0.2.8/29", "ignore", until="2999-01-01"),
    ]
    assert decision_for("192.0.2.9", with_decisions).id == 2  # type: ignore[union-attr]
    assert decision_for("192.0.2.100", with_decisions).id == 1  # type: ignore[union-attr]
    assert decision_for("203.0.113.1", with_decisions) is None


def _decision(id_: int, match: str, verdict: str, until: str | None = None) -> Decision:
    return Decision(id_, match, verdict, "", "alice", NOW, until)  # type: ignore[arg-type]


def test_triage_applies_decisions_like_senders_and_the_config_wins() -> None:
    records = (failing(OUTSIDE), failing("203.0.113.9"), failing("198.51.100.200"))
    assert kinds(BASE, *records) == {
        OUTSIDE: "outside_spoofing",
        "203.0.113.9": "outside_spoofing",
        "198.51.100.200": "outside_spoofing",
    }
    decided = apply_decisions(
        BASE,
        [
            _decision(1, OUTSIDE, "mailing_list"),
            _decision(2, "203.0.113.9", "own_server"),
            _decision(3, "198.51.100.200", "forwarder"),
        ],
    )
    assert kinds(decided, *records) == {
        OUTSIDE: "dkim_broken",
        "203.0.113.9": "internal_no_dkim",
        "198.51.100.200": "forwarded",
    }
    [finding] = [f for f in find_findings([report(*records)], decided) if f.source_ip == OUTSIDE]
    assert "Known sender: mailing list (decided by alice)." in finding.advice
    # The config names the network as a third party: that wins over the decision.
    configured = Config(
        own_domains=("example.ac.jp",),
        senders=(Sender("198.51.100.0/24", "Newsletter SaaS", "third_party"),),
    )
    both = apply_decisions(configured, [_decision(1, OUTSIDE, "mailing_list")])
    assert kinds(both, failing(OUTSIDE))[OUTSIDE] == "unaligned_third_party"


def test_load_config_merges_stored_decisions(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[domains]\nown = ["example.ac.jp"]\n')
    assert load_config(path)[0].decided_senders == ()
    with DecisionStore.open() as store:  # the default place, beside the notice history
        store.add(OUTSIDE, "forwarder", "alumni forwarding", who="alice")
        store.add("203.0.113.0/24", "own_server", who="alice")
    config, problems = load_config(path)
    assert problems == []
    assert config.decided_senders == (Sender(OUTSIDE, "alumni forwarding", "forwarder"),)
    assert config.is_internal("203.0.113.5")
    assert load_config(path, decisions=False)[0].decided_senders == ()


def test_export_is_senders_toml_that_reads_back(tmp_path: Path) -> None:
    tricky = 'the "lists" server\nsecond line \x7f'
    with DecisionStore.open(tmp_path / "d.sqlite3") as store:
        store.add(OUTSIDE, "mailing_list", tricky, who="alice")
        store.add("2001:db8::/48", "third_party", "", who="alice")
        store.add("192.0.2.5", "own_server", "lab 5", who="alice")
        store.add("203.0.113.7", "accepted_risk", "old printer", who="alice")
        text = senders_toml(store.effective())
    config, problems = parse_config(tomllib.loads(text))
    assert problems == []
    assert config.senders == (
        Sender(OUTSIDE, 'the "lists" server second line \x7f', "mailing_list"),
        Sender("2001:db8::/48", "known third party", "third_party"),
    )
    assert '# add "192.0.2.5/32" to [networks] internal' in text
    assert "# 203.0.113.7: no [[senders]] equivalent" in text


def test_decide_command_adds_lists_undoes_and_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["decide", "add", OUTSIDE, "mailing-list", "--note", "dept list"]) == 0
    assert main(["decide", "add", "192.0.2.0/24", "ignore", "--until", "2999-12-31"]) == 0
    out = capsys.readouterr().out
    assert f"decision 1: {OUTSIDE} mailing list: dept list (" in out
    assert main(["decide", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and "ignore until 2999-12-31" in listed[1]
    assert main(["decide", "undo", "2"]) == 0
    assert main(["decide", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the undo line + one decision
    assert main(["decide", "list", "--all"]) == 0
    assert "[undone]" in capsys.readouterr().out
    assert main(["decide", "export"]) == 0
    exported = tomllib.loads(capsys.readouterr().out)
    assert exported["senders"] == [{"match": OUTSIDE, "label": "dept list", "role": "mailing_list"}]
    assert main(["decide", "add", "not-an-ip", "forwarder"]) == 2
    assert "neither an IP address" in capsys.readouterr().err
    assert main(["decide", "undo", "198.51.100.99"]) == 2
