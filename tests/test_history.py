"""Notice history, the follow-up round, and the headless notice commands end to end."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from dmarctui.cli import notice as notice_cli
from dmarctui.config import Config, load_config
from dmarctui.demo import DemoFolder, build_demo
from dmarctui.history import (
    HistoryError,
    NoticeHistory,
    default_history_path,
    improved,
    select_follow_ups,
    source_progress,
)
from dmarctui.model import (
    AggregateReport,
    DateRange,
    Finding,
    Identifiers,
    PolicyEvaluated,
    PolicyPublished,
    Record,
    ReportMetadata,
    SpfAuthResult,
)
from dmarctui.notice import build_notice

DAY = 86400
NOV1 = 1730419200  # 2024-11-01T00:00Z
NOTICE_AT = NOV1 + 9 * 3600
CONFIG = Config(own_domains=("example.ac.jp",))


def letter(message_id: str, to: str, when: int = NOTICE_AT) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "postmaster@example.ac.jp"
    msg["To"] = to
    msg["Subject"] = "【DMARC】送信ドメイン認証の不備について"
    msg["Date"] = datetime.fromtimestamp(when, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = message_id
    msg.set_content("本文\n")
    return msg


def finding(ip: str, messages: int, kind: str = "internal_no_dkim") -> Finding:
    return Finding(
        source_ip=ip,
        kind=kind,  # type: ignore[arg-type]
        severity="high",
        messages=messages,
        header_from="example.ac.jp",
        first_seen=NOV1,
        last_seen=NOV1 + DAY,
        advice="",
    )


def record(ip: str, count: int, dkim: str) -> Record:
    return Record(
        source_ip=ip,
        count=count,
        policy_evaluated=PolicyEvaluated(disposition="none", dkim=dkim, spf="pass"),
        identifiers=Identifiers(header_from="example.ac.jp"),
        spf=(SpfAuthResult(domain="example.ac.jp", result="pass"),),
    )


def daily_reports(first: int, last: int) -> list[AggregateReport]:
    """Google's daily reports: .71 never improves, .88 signs from day 10, .99 was never told."""
    reports = []
    for day in range(first, last + 1):
        begin = NOV1 + day * DAY
        records = (
            record("192.0.2.71", 3, "fail"),
            record("192.0.2.88", 2, "fail" if day < 10 else "pass"),
            record("192.0.2.99", 5, "fail"),
        )
        meta = ReportMetadata(
            "google.com", "noreply@google.com", f"g{day}", DateRange(begin, begin + DAY)
        )
        reports.append(AggregateReport(meta, PolicyPublished("example.ac.jp", "none"), records))
    return reports


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "notices.sqlite3"
    with NoticeHistory.open(path) as notices:
        notices.add(
            letter("<lab1@example.ac.jp>", "yamada@lab1.example.ac.jp"),
            [finding("192.0.2.71", 9), finding("192.0.2.71", 2, "enforced")],
            status="sent",
            draft_path=tmp_path / "Drafts/new/1",
        )
        notices.add(
            letter("<lab2@example.ac.jp>", "sato@lab2.example.ac.jp"),
            [finding("192.0.2.88", 4)],
            status="drafted",
        )
    return path


def test_history_remembers_who_when_what_and_where(history: Path) -> None:
    with NoticeHistory.open(history) as notices:
        first, second = notices.all()
    assert first.message_id == "<lab1@example.ac.jp>"
    assert first.date == NOTICE_AT
    assert first.day == "2024-11-01"
    assert first.recipients == ("yamada@lab1.example.ac.jp",)
    assert first.sources == ("192.0.2.71",)
    assert first.kinds == ("enforced", "internal_no_dkim")
    assert first.messages == (9,)  # overlapping findings of one source count once
    assert (first.status, second.status) == ("sent", "drafted")
    assert first.draft_path is not None and first.draft_path.endswith("Drafts/new/1")


def test_a_draft_sent_later_becomes_one_sent_notice(history: Path) -> None:
    with NoticeHistory.open(history) as notices:
        notices.add(
            letter("<lab2@example.ac.jp>", "sato@lab2.example.ac.jp"),
            [finding("192.0.2.88", 4)],
            status="sent",
            draft_path="/drafts/7",
        )
        notices.add(
            letter("<lab1@example.ac.jp>", "yamada@lab1.example.ac.jp"),
            [finding("192.0.2.71", 9)],
            status="drafted",
        )
        records = {r.message_id: r for r in notices.all()}
    assert len(records) == 2
    assert records["<lab2@example.ac.jp>"].status == "sent"
    assert records["<lab2@example.ac.jp>"].draft_path == "/drafts/7"
    assert records["<lab1@example.ac.jp>"].status == "sent"  # never demoted


def test_history_lives_in_xdg_data_home_with_a_schema_version() -> None:
    path = default_history_path()
    assert path.parts[-3:] == ("share", "dmarctui", "notices.sqlite3")
    with NoticeHistory.open() as notices:
        assert notices.all() == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_history_from_a_newer_version_or_not_sqlite_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 7")
    with (
        pytest.raises(HistoryError, match="written by a newer dmarctui"),
        NoticeHistory.open(newer),
    ):
        pass
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database, just text" * 40)
    with pytest.raises(HistoryError, match=r"junk\.sqlite3"), NoticeHistory.open(junk):
        pass


def test_follow_up_lists_exactly_the_sources_still_failing(history: Path) -> None:
    with NoticeHistory.open(history) as notices:
        records = notices.all()
        latest = notices.latest_by_source()
    reports = daily_reports(-5, 25)
    now = NOV1 + 40 * DAY
    follow_ups = select_follow_ups(records, reports, 14, config=CONFIG, now=now)
    assert [(f.notice.message_id, [p.source_ip for p in f.sources]) for f in follow_ups] == [
        ("<lab1@example.ac.jp>", ["192.0.2.71"])
    ]
    [lab1] = follow_ups[0].sources
    assert lab1.after_due == 3 * 12  # days 14..25
    assert lab1.since_notice == 3 * 26  # days 0..25
    assert (lab1.before_per_day, lab1.after_per_day) == (3.0, 3.0)
    assert improved(latest["192.0.2.88"], reports, 14, config=CONFIG, now=now)
    assert not improved(latest["192.0.2.71"], reports, 14, config=CONFIG, now=now)
    [lab2] = source_progress(latest["192.0.2.88"], reports, 14, config=CONFIG, now=now)
    assert (lab2.before_per_day, lab2.after_per_day) == (2.0, 20 / 26)


def test_follow_up_waits_for_the_grace_period_and_for_reports(history: Path) -> None:
    with NoticeHistory.open(history) as notices:
        lab1 = notices.latest_by_source()["192.0.2.71"]
    early = source_progress(lab1, daily_reports(-5, 5), 14, config=CONFIG, now=NOV1 + 6 * DAY)
    assert [p.state for p in early] == ["waiting"]
    stale = source_progress(lab1, daily_reports(-5, 12), 14, config=CONFIG, now=NOV1 + 30 * DAY)
    assert [p.state for p in stale] == ["no_data"]
    assert select_follow_ups([lab1], daily_reports(-5, 12), 14, now=NOV1 + 30 * DAY) == []


def test_a_newer_notice_restarts_the_clock_for_its_sources(history: Path) -> None:
    with NoticeHistory.open(history) as notices:
        notices.add(
            letter("<lab1-again@example.ac.jp>", "yamada@lab1.example.ac.jp", NOTICE_AT + 20 * DAY),
            [finding("192.0.2.71", 3)],
            status="sent",
        )
        records = notices.all()
    follow_ups = select_follow_ups(records, daily_reports(-5, 25), 14, now=NOV1 + 40 * DAY)
    assert follow_ups == []  # lab1's second notice is not due; lab2 improved


# --------------------------------------------------------------------------- headless commands


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFolder:
    return build_demo(tmp_path_factory.mktemp("demo"))


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="dmarctui")
    notice_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args([*argv, "--no-dns"] if argv[0] != "notices" else argv)
    return int(args.func(args))


def test_notice_command_writes_the_draft_and_records_it(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, hist = tmp_path / "lab1.eml", tmp_path / "h.sqlite3"
    rc = cli(
        "notice",
        str(demo.maildir),
        "--source",
        "192.0.2.71",
        "--config",
        str(demo.config_path),
        "--out",
        str(out),
        "--history",
        str(hist),
    )
    assert rc == 0
    msg = message_from_bytes(out.read_bytes(), policy=policy.default)
    assert msg["To"] == "山田 太郎 <yamada@lab1.cs.univ.example>"
    assert msg["Subject"] == "【DMARC】送信ドメイン認証の不備について (192.0.2.71)"
    body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    lab1 = next(s for s in demo.facts.sources if s.ip == "192.0.2.71")
    assert f"・192.0.2.71: {lab1.messages} 通 — DKIM 署名なし（DMARC は SPF だけで通過）" in body
    assert "情報工学科 メール管理担当" in body
    flat = "".join(body.split())
    # the latest reports of the domain show p=quarantine (the demo moved on 2024-12-16)
    assert "cs.univ.exampleのDMARCポリシーはすでにp=quarantineで" in flat
    assert "変更する予定" not in flat  # the configured plan is already in place
    assert f"draft written to {out}" in capsys.readouterr().out
    with NoticeHistory.open(hist) as notices:
        [rec] = notices.all()
    assert (rec.sources, rec.status, rec.draft_path) == (("192.0.2.71",), "drafted", str(out))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("192.0.2.250", "192.0.2.250: no finding in the reports"),
        ("203.0.113.66", "203.0.113.66: only outside_spoofing"),
        ("203.0.113.20", "no contact is known for 203.0.113.20"),
        ("not-an-ip", "--source 'not-an-ip' is not an IP address"),
    ],
)
def test_notice_command_refuses_with_a_clear_error(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, message: str
) -> None:
    rc = cli(
        "notice",
        str(demo.maildir),
        "--source",
        source,
        "--config",
        str(demo.config_path),
        "--out",
        str(tmp_path / "x.eml"),
        "--history",
        str(tmp_path / "h.sqlite3"),
    )
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.eml").exists()


def test_followup_drafts_only_for_the_lab_that_did_not_improve(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed's story: lab1 fixed its server after the November notice, lab2 did not."""
    config, _ = load_config(demo.config_path)
    hist = tmp_path / "h.sqlite3"
    sent = datetime.fromtimestamp(demo.facts.notice_sent, UTC)
    with NoticeHistory.open(hist) as notices:
        for ip in ("192.0.2.71", "192.0.2.88"):
            fs = [finding(ip, 1)]
            notices.add(build_notice(fs, config, now=sent), fs, status="sent")
        lab2_id = notices.latest_by_source()["192.0.2.88"].message_id
    out = tmp_path / "followups"
    rc = cli(
        "followup",
        str(demo.maildir),
        "--config",
        str(demo.config_path),
        "--history",
        str(hist),
        "--out",
        str(out),
        "--json",
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["still_failing"] == ["192.0.2.88"]
    assert {s["source_ip"]: s["state"] for s in report["sources"]} == {
        "192.0.2.71": "improved",
        "192.0.2.88": "still_failing",
    }
    [draft] = report["drafts"].values()
    msg = message_from_bytes(Path(draft).read_bytes(), policy=policy.default)
    assert msg["In-Reply-To"] == lab2_id
    assert msg["To"] == "佐藤 花子 <sato@lab2.cs.univ.example>"
    assert cli("notices", "--history", str(hist), "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(n["sources"], n["status"]) for n in listed] == [
        (["192.0.2.71"], "sent"),
        (["192.0.2.88"], "sent"),
        (["192.0.2.88"], "drafted"),
    ]


def test_the_demo_history_is_seeded_with_the_november_notices(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's own history tells the seed's story without any setup."""
    argv = ["--config", str(demo.config_path), "--history", str(demo.history_path), "--json"]
    assert cli("followup", str(demo.maildir), *argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert {s["source_ip"]: s["state"] for s in report["sources"]} == {
        "192.0.2.71": "improved",
        "192.0.2.88": "still_failing",
    }
    assert all(s["notified"] == "2024-11-15" for s in report["sources"])


def test_notice_and_followup_out_follow_one_documented_rule(
    demo: DemoFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = "a path ending in .eml is written as that one file"
    for command in ("notice", "followup"):
        with pytest.raises(SystemExit):
            cli(command, "--help")
        assert rule in " ".join(capsys.readouterr().out.split())
    hist = tmp_path / "h.sqlite3"
    config, _ = load_config(demo.config_path)
    sent = datetime.fromtimestamp(demo.facts.notice_sent, UTC)
    with NoticeHistory.open(hist) as notices:
        for ip in ("192.0.2.88", "198.51.100.25"):  # two contacts: two follow-ups
            fs = [finding(ip, 1, "dkim_broken" if ip.startswith("198") else "internal_no_dkim")]
            notices.add(build_notice(fs, config, now=sent), fs, status="sent")
    one = tmp_path / "one.eml"
    rc = cli(
        "followup", str(demo.maildir), "--config", str(demo.config_path),
        "--history", str(hist), "--out", str(one),
    )  # fmt: skip
    assert rc == 2
    assert "2 follow-ups would overwrite one .eml file; give a folder instead" in (
        capsys.readouterr().err
    )
    assert not one.exists()


def test_notice_command_with_the_demo_config_keeps_to_the_demo_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = build_demo(tmp_path / "demo")  # its own: this test adds to the demo's history
    data = Path(os.environ["XDG_DATA_HOME"]) / "dmarctui"
    argv = ["--source", "192.0.2.88", "--config", str(demo.config_path)]
    assert cli("notice", str(demo.maildir), *argv) == 0
    assert f"draft written to {demo.drafts}" in capsys.readouterr().out
    with NoticeHistory.open(demo.history_path) as notices:
        assert [r.status for r in notices.all()] == ["sent", "sent", "drafted"]
    assert not data.exists()
