"""The triage commands from the index: warnings, no DNS by default, PTR names confirmed."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest
from test_index_triage import write_reports
from test_index_triage_store import move_in
from triage_scenarios import CAMPUS_TOML, campus_config, campus_reports

from dmarctui.cli import main
from dmarctui.config import EXAMPLE_CONFIG
from dmarctui.index import Index


@pytest.fixture
def campus(tmp_path: Path) -> Path:
    return write_reports(tmp_path / "Maildir", campus_reports())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_unedited_example_config_is_no_all_clear(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    db = str(tmp_path / "i.sqlite3")
    code, out, err = run(capsys, "flagged", str(campus), "--db", db, "--config", str(config))
    assert code == 0
    assert "Nothing flagged" not in out
    assert "internal, no DKIM  192.0.2.70" in out
    assert "warning" not in err


def test_own_domains_matching_no_policy_domain_warn_in_every_command(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[domains]\nown = ["univ.example"]\n', encoding="utf-8")
    db = str(tmp_path / "i.sqlite3")
    warning = (
        "the configured own domains (univ.example) match none of the reports' policy domains"
        " (example.ac.jp)"
    )
    common = [str(campus), "--db", db, "--config", str(config)]
    code, out, err = run(capsys, "flagged", *common)
    assert code == 0
    assert f"dmarctui: warning: {warning}" in err
    assert out.startswith("Nothing flagged in 4 reports, but " + warning)
    code, out, err = run(capsys, "readiness", *common)
    assert warning in err and warning in out
    code, out, err = run(capsys, "followup", *common)
    assert warning in err


def test_scan_leaves_the_ranking_stored_for_the_commands_after_it(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first ``flagged`` after a first scan reads the ranking instead of counting every
    record, and answers as a count would; ``--no-ranking`` leaves the count to it."""
    config = tmp_path / "config.toml"
    config.write_text(CAMPUS_TOML, encoding="utf-8")
    ranked, plain = tmp_path / "ranked.sqlite3", tmp_path / "plain.sqlite3"
    code, out, err = run(capsys, "scan", str(campus), "--db", str(ranked), "--config", str(config))
    assert code == 0 and err == ""
    code, plain_out, _ = run(capsys, "scan", str(campus), "--db", str(plain), "--no-ranking")
    same = [line for line in out.splitlines() if " scanned in " not in line]
    assert code == 0 and [  # the same summary: the ranking adds nothing to it
        line for line in plain_out.replace(str(plain), str(ranked)).splitlines()
        if " scanned in " not in line
    ] == same  # fmt: skip
    with Index.open(campus, db=ranked) as index:
        assert index.triage(campus_config()).stored
    with Index.open(campus, db=plain) as index:
        assert not index.triage(campus_config()).stored
    with Index.open(campus, db=plain) as index:  # the line above stored one: start again
        index._conn.execute("DELETE FROM triage_results")
    flagged = ["flagged", str(campus), "--config", str(config), "--json", "--db"]
    assert run(capsys, *flagged, str(ranked))[1] == run(capsys, *flagged, str(plain))[1]


def test_scan_counts_the_ranking_only_when_none_stored_serves_it(tmp_path: Path) -> None:
    """New reports after a stored ranking are left to the first command (it counts only
    those): a cron scan with new mail stays as quick as the mail it reads."""
    folder = write_reports(tmp_path / "Maildir", campus_reports()[:3])
    with Index.open(folder, db=tmp_path / "i.sqlite3") as index:
        for _ in index.update(workers=1):
            pass
        assert index.prepare_ranking(campus_config())
        assert not index.prepare_ranking(campus_config())
        move_in(write_reports(tmp_path / "more", campus_reports()[3:]), folder, "more-")
        for _ in index.update(workers=1):
            pass
        assert not index.prepare_ranking(campus_config())  # brought up to date when asked
        assert index.triage(campus_config()).updated
        assert index.prepare_ranking(replace(campus_config(), include_subdomains=False))


def test_scan_with_an_unreadable_config_still_scans(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[domains\n", encoding="utf-8")
    db = str(tmp_path / "i.sqlite3")
    code, out, err = run(capsys, "scan", str(campus), "--db", db, "--config", str(config))
    assert code == 0 and "4 distinct aggregate reports" in out and err == ""
    code, _, err = run(capsys, "flagged", str(campus), "--db", db, "--config", str(config))
    assert code != 0 and "config.toml" in err  # the triage command says what is wrong


def test_headless_commands_never_resolve_unless_asked(
    campus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def resolver(ip: str) -> tuple[str, list[str], list[str]]:
        asked.append(ip)
        raise OSError("no DNS in tests")

    monkeypatch.setattr(socket, "gethostbyaddr", resolver)
    config = tmp_path / "config.toml"
    config.write_text(CAMPUS_TOML, encoding="utf-8")
    common = [str(campus), "--db", str(tmp_path / "i.sqlite3"), "--config", str(config)]
    for command in ("flagged", "readiness"):
        assert run(capsys, command, *common)[0] == 0
    assert asked == []
    assert run(capsys, "flagged", *common, "--dns")[0] == 0
    assert "192.0.2.70" in asked


def test_unconfirmed_ptr_names_are_shown_but_never_matched(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spoofer 203.0.113.66 claims the society list's PTR name."""
    config = tmp_path / "config.toml"
    config.write_text(CAMPUS_TOML, encoding="utf-8")
    db = tmp_path / "i.sqlite3"
    common = [str(campus), "--db", str(db), "--config", str(config), "--all"]
    assert run(capsys, "flagged", *common)[0] == 0
    with Index.open(campus, db=db) as index:
        index.put("203.0.113.66", "mx9.lists.example.org", time.time(), confirmed=False)
    _, out, _ = run(capsys, "flagged", *common, "--json")
    [spoofer] = [f for f in json.loads(out) if f["source_ip"] == "203.0.113.66"]
    assert (spoofer["kind"], spoofer["ptr"]) == ("outside_spoofing", None)
    assert spoofer["ptr_unconfirmed"] == "mx9.lists.example.org"
    _, out, _ = run(capsys, "flagged", *common)
    assert "spoofing  203.0.113.66 (mx9.lists.example.org, PTR not confirmed)" in out
    with Index.open(campus, db=db) as index:
        index.put("203.0.113.66", "mx9.lists.example.org", time.time(), confirmed=True)
    _, out, _ = run(capsys, "flagged", *common, "--json")
    [spoofer] = [f for f in json.loads(out) if f["source_ip"] == "203.0.113.66"]
    assert (spoofer["kind"], spoofer["ptr"]) == ("dkim_broken", "mx9.lists.example.org")


def test_flagged_json_evidence_only_when_asked(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CAMPUS_TOML, encoding="utf-8")
    common = [str(campus), "--db", str(tmp_path / "i.sqlite3"), "--config", str(config)]
    _, out, _ = run(capsys, "flagged", *common, "--json")
    assert all("evidence" not in f for f in json.loads(out))
    _, out, _ = run(capsys, "flagged", *common, "--json", "--evidence")
    lab = next(f for f in json.loads(out) if f["source_ip"] == "192.0.2.70")
    assert [(e["report_id"], e["count"]) for e in lab["evidence"]] == [
        ("o-1", 5), ("g-1", 12), ("g-2", 7)
    ]  # fmt: skip


def test_each_command_is_found_without_importing_the_others() -> None:
    from dmarctui.cli import COMMANDS, build_parser

    _, every = build_parser()
    assert every == set(COMMANDS)
    for name in COMMANDS:
        assert name in build_parser(name)[1]


def test_flagged_json_is_one_finding_per_line_and_the_same_when_warm(
    campus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(CAMPUS_TOML, encoding="utf-8")
    common = [str(campus), "--db", str(tmp_path / "i.sqlite3"), "--config", str(config)]
    code, cold, _ = run(capsys, "flagged", *common, "--json")
    assert code == 0
    lines = cold.splitlines()
    findings = json.loads(cold)
    assert len(findings) > 3 and len(lines) == len(findings) + 2
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == findings
    with Index.open(campus, db=tmp_path / "i.sqlite3") as index:
        for _ in index.update(workers=1):
            pass
        assert index.triage(campus_config()).stored  # what the warm command reads
    assert run(capsys, "flagged", *common, "--json")[1] == cold
    _, ready, _ = run(capsys, "readiness", *common, "--json")
    assert run(capsys, "readiness", *common, "--json")[1] == ready


def test_scan_whose_ranking_fails_keeps_the_scan_and_says_so(
    campus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("dmarctui.index.IndexTriage", failing)  # what Index.triage builds
    db = str(tmp_path / "i.sqlite3")
    code, out, err = run(capsys, "scan", str(campus), "--db", db)
    assert code == 0 and "4 distinct aggregate reports" in out and "4 new" in out
    assert err.startswith("dmarctui: the sources were not ranked: ") and "disk I/O" in err
    assert len(err.splitlines()) == 1


def test_scan_stopped_while_ranking_has_already_told_the_scan(
    campus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ctrl+c, SIGTERM or a cron timeout during the ranking: the scan is committed, and its
    summary was printed before the ranking began."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("dmarctui.index.IndexTriage", interrupted)
    db = str(tmp_path / "i.sqlite3")
    code, out, err = run(capsys, "scan", str(campus), "--db", db)
    assert code == 130 and "interrupted" in err
    assert "4 distinct aggregate reports" in out and "4 new, 0 changed" in out
    monkeypatch.undo()
    code, out, _ = run(capsys, "scan", str(campus), "--db", db, "--no-ranking")
    assert code == 0 and "0 new, 0 changed, 0 gone, 4 unchanged" in out
