"""Notices: what the admin of a flagged server receives, in Japanese and English."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from dmarctui.config import Config, Contact, NoticeSettings
from dmarctui.history import NoticeRecord
from dmarctui.model import Evidence, Finding, FindingKind
from dmarctui.notice import (
    NoticeError,
    build_notice,
    preview_text,
    recipients,
    with_edits,
)
from dmarctui.notice_templates import TemplateError

NOW = datetime(2024, 11, 5, 10, 0, tzinfo=UTC)
DAY = 86400
NOV1 = 1730419200  # 2024-11-01T00:00Z

CONFIG = Config(
    own_domains=("example.ac.jp",),
    contacts=(
        Contact(match="192.0.2.64/28", name="山田 太郎", email="yamada@lab1.example.ac.jp"),
        Contact(match="192.0.2.80/28", name="佐藤 花子", email="sato@lab2.example.ac.jp"),
        Contact(
            match="*.lists.example.org",
            name="List admin",
            email="listmaster@lists.example.org",
            lang="en",
        ),
    ),
    notice=NoticeSettings(
        from_addr="postmaster@example.ac.jp", signature="情報工学科 メール管理担当\n"
    ),
)


def evidence(day: int, count: int, reporter: str = "google.com", dkim: str = "fail") -> Evidence:
    return Evidence(
        reporter=reporter,
        report_id=f"r{day}-{reporter}",
        begin=NOV1 + day * DAY,
        end=NOV1 + (day + 1) * DAY,
        count=count,
        header_from="example.ac.jp",
        disposition="none",
        dkim=dkim,
        spf="pass",
        auth="dkim=example.ac.jp:fail spf=example.ac.jp:pass",
    )


def finding(
    kind: FindingKind = "internal_no_dkim",
    ip: str = "192.0.2.71",
    ptr: str | None = "mail.lab1.example.ac.jp",
    rows: tuple[Evidence, ...] = (evidence(0, 5), evidence(1, 7, "Outlook.com")),
) -> Finding:
    return Finding(
        source_ip=ip,
        kind=kind,
        severity="high",
        messages=sum(e.count for e in rows),
        header_from="example.ac.jp",
        first_seen=min(e.begin for e in rows),
        last_seen=max(e.end for e in rows),
        advice="",
        ptr=ptr,
        reporters=tuple(sorted({e.reporter for e in rows})),
        per_day=tuple(
            (datetime.fromtimestamp(e.begin, UTC).date().isoformat(), e.count) for e in rows
        ),
        evidence=rows,
    )


def reparse(msg: EmailMessage) -> EmailMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_japanese_notice_parses_back_with_the_same_text() -> None:
    sent = build_notice([finding()], CONFIG, now=NOW)
    raw = sent.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii()  # RFC 2047 encoded words, not raw UTF-8 in headers
    assert b"=?utf-8?" in head
    got = reparse(sent)
    assert got["Subject"] == (
        "【DMARC】送信ドメイン認証の不備について (192.0.2.71 mail.lab1.example.ac.jp)"
    )
    assert got["To"].addresses[0].display_name == "山田 太郎"
    assert got["To"].addresses[0].addr_spec == "yamada@lab1.example.ac.jp"
    assert got["From"] == "postmaster@example.ac.jp"
    assert parsedate_to_datetime(got["Date"]) == NOW
    assert got["Message-ID"].endswith("@example.ac.jp>")
    assert got["Content-Language"] == "ja"
    text = body(got)
    assert text == body(sent)
    assert text.startswith("山田 太郎 様\n")
    assert "2024-11-01〜2024-11-02 に Outlook.com、google.com から届いたレポート" in text
    assert "・192.0.2.71 (mail.lab1.example.ac.jp): 12 通 — DKIM 署名なしで直接送信" in text
    assert "（合計 12 通）" in text
    assert "Gmail や米 Yahoo" in text
    assert "p=quarantine" in text
    assert text.rstrip().endswith("情報工学科 メール管理担当")


def test_evidence_table_lists_date_reporter_count_and_results() -> None:
    text = body(build_notice([finding()], CONFIG, now=NOW))
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["日付", "報告元"])
    rows = [line.split() for line in lines[head + 2 : head + 4]]
    assert rows == [
        [
            "2024-11-01",
            "google.com",
            "5",
            "fail",
            "pass",
            "dkim=example.ac.jp:fail",
            "spf=example.ac.jp:pass",
        ],
        [
            "2024-11-02",
            "Outlook.com",
            "7",
            "fail",
            "pass",
            "dkim=example.ac.jp:fail",
            "spf=example.ac.jp:pass",
        ],
    ]


def test_long_evidence_keeps_the_latest_rows_and_says_how_many_were_left_out() -> None:
    rows = tuple(evidence(day, 1) for day in range(25))
    text = body(build_notice([finding(rows=rows)], CONFIG, now=NOW))
    assert "2024-11-05  google.com" not in text
    assert "2024-11-06  google.com" in text
    assert "2024-11-25  google.com" in text
    assert "（ほかに古い 5 行は省略）" in text


ADVICE = {
    ("internal_no_dkim", "ja"): "送信 (SMTP) サーバに example.ac.jp のメールサーバを",
    ("internal_no_dkim", "en"): "Submit the mail through the example.ac.jp mail server",
    ("dkim_broken", "ja"): "メーリングリストでメールを一切加工しない",
    ("dkim_broken", "en"): "Do not modify the mail at all on the list",
    ("unaligned_third_party", "ja"): "独自ドメインの DKIM",
    ("unaligned_third_party", "en"): "Please set up DKIM signing for the example.ac.jp domain",
    ("enforced", "ja"): "隔離されたか、受信を拒否されています",
    ("enforced", "en"): "Receivers quarantined or rejected 12 messages",
}


@pytest.mark.parametrize(("kind", "lang"), sorted(ADVICE))
def test_every_problem_kind_gets_its_advice_in_both_languages(kind: FindingKind, lang: str) -> None:
    text = body(build_notice([finding(kind)], CONFIG, lang=lang, now=NOW))  # type: ignore[arg-type]
    assert ADVICE[(kind, lang)] in text
    others = [phrase for (k, la), phrase in ADVICE.items() if la == lang and k != kind]
    assert not [phrase for phrase in others if phrase in text]


def test_mailing_list_advice_names_both_fixes() -> None:
    f = finding("dkim_broken", ip="198.51.100.25", ptr="mx.lists.example.org")
    msg = build_notice([f], CONFIG, now=NOW)
    text = body(reparse(msg))
    assert msg["Content-Language"] == "en"  # the contact's language
    assert text.startswith("Dear List admin,\n")
    assert "Use list software that supports DKIM (for example mailman 3)" in text
    assert "rewrite the\n       header From to the list address" in text


def test_informational_findings_alone_are_refused() -> None:
    spoof = finding("outside_spoofing", ip="203.0.113.66", ptr=None)
    with pytest.raises(NoticeError, match="not something a server admin can fix"):
        build_notice([spoof, finding("forwarded", ip="198.51.100.200")], CONFIG, to="a@b.example")


def test_informational_findings_are_left_out_of_a_letter() -> None:
    mixed = [finding(), finding("outside_spoofing", ip="192.0.2.66", ptr=None)]
    text = body(build_notice(mixed, CONFIG, now=NOW))
    assert "192.0.2.66" not in text


def test_several_sources_of_one_contact_make_one_letter() -> None:
    second = finding(ip="192.0.2.72", ptr=None, rows=(evidence(3, 4, "yahoo.com"),))
    msg = reparse(build_notice([finding(), second], CONFIG, now=NOW))
    assert msg["Subject"].endswith("(192.0.2.71 mail.lab1.example.ac.jp ほか 1 件)")
    text = body(msg)
    assert "（合計 16 通）" in text
    assert "  ・192.0.2.72: 4 通 — DKIM 署名なしで直接送信" in text
    assert "送信元" in text  # the evidence table names the source when there are several


def test_sources_of_different_contacts_are_refused() -> None:
    lab2 = finding(ip="192.0.2.88", ptr=None)
    with pytest.raises(NoticeError, match="different contacts"):
        build_notice([finding(), lab2], CONFIG, now=NOW)


def test_unknown_source_needs_an_address() -> None:
    stranger = finding(ip="198.18.0.9", ptr=None)
    with pytest.raises(NoticeError, match=r"no contact is known for 198\.18\.0\.9"):
        build_notice([stranger], CONFIG, now=NOW)
    msg = reparse(build_notice([stranger], CONFIG, to="admin@lab9.example.ac.jp", now=NOW))
    assert recipients(msg) == ["admin@lab9.example.ac.jp"]
    assert body(msg).startswith("ご担当者様\n")


def test_follow_up_refers_to_the_first_letter() -> None:
    first = NoticeRecord(
        message_id="<first.1@example.ac.jp>",
        date=NOV1 + 2 * DAY + 3600,
        subject="【DMARC】送信ドメイン認証の不備について (192.0.2.71)",
        recipients=("yamada@lab1.example.ac.jp",),
        sources=("192.0.2.71",),
        kinds=("internal_no_dkim",),
        status="sent",
    )
    rows = (evidence(0, 5), evidence(3, 6), evidence(20, 2))
    msg = reparse(build_notice([finding(rows=rows)], CONFIG, follow_up_of=first, now=NOW))
    assert msg["In-Reply-To"] == "<first.1@example.ac.jp>"
    assert msg["References"] == "<first.1@example.ac.jp>"
    assert msg["Subject"].startswith("【DMARC・再度のお願い】")
    text = body(msg)
    assert "2024-11-03 に「【DMARC】送信ドメイン認証の不備について (192.0.2.71)」" in text
    assert "（2024-11-03 以降 8 通" in text


def test_user_templates_replace_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "notice_en.txt").write_text(
        "Subject: DKIM please: ${subject_sources}\n\nHello ${recipient}, ${total_messages}.\n",
        encoding="utf-8",
    )
    config = Config(contacts=CONFIG.contacts, notice=CONFIG.notice, templates_dir=tmp_path)
    msg = build_notice([finding()], config, lang="en", now=NOW)
    assert msg["Subject"] == "DKIM please: 192.0.2.71 mail.lab1.example.ac.jp"
    assert body(msg) == "Hello 山田 太郎, 12.\n"
    (tmp_path / "notice_en.txt").write_text("Subject: x\n\n${nonsense}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"notice_en.txt: unknown placeholder \$\{nonsense\}"):
        build_notice([finding()], config, lang="en", now=NOW)


def test_preview_and_edit_keep_headers_and_japanese_text() -> None:
    msg = build_notice([finding()], CONFIG, now=NOW)
    preview = preview_text(msg)
    assert preview.startswith(
        "From: postmaster@example.ac.jp\nTo: 山田 太郎 <yamada@lab1.example.ac.jp>\n"
    )
    edited = reparse(with_edits(msg, body="山田先生\n\n設定をお願いします。\n", subject="件名"))
    assert edited["Message-ID"] == msg["Message-ID"]
    assert edited["Subject"] == "件名"
    assert edited["Content-Language"] == "ja"
    assert body(edited) == "山田先生\n\n設定をお願いします。\n"
