"""Notices: what the admin of a flagged server receives, in Japanese and English."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
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


def unwrapped(text: str, lang: str) -> str:
    """The text with the 72-column folding undone: ja without any spaces, en with single ones.

    Compare with :func:`said`, which treats a phrase the same way.
    """
    return re.sub(r"\s+", "" if lang == "ja" else " ", text)


def said(phrase: str, text: str, lang: str) -> bool:
    return unwrapped(phrase, lang) in unwrapped(text, lang)


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
    assert "2024-11-01〜\n2024-11-02 に Outlook.com、google.com から届いたレポート" in text
    assert "・192.0.2.71 (mail.lab1.example.ac.jp): 12 通 — DKIM 署名なし（DMARC\n" in text
    assert "（合計 12 通）" in text
    assert "p=quarantine" not in text  # no plan configured, no policy claimed
    assert text.rstrip().endswith("情報工学科 メール管理担当")


def test_evidence_table_lists_date_reporter_count_and_results() -> None:
    text = body(build_notice([finding()], CONFIG, now=NOW))
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["日付", "報告元"])
    assert lines[head].split() == ["日付", "報告元", "通数", "DKIM", "SPF", "処理"]
    rows = [line.split() for line in lines[head + 2 : head + 5]]
    assert rows == [
        ["2024-11-01", "google.com", "5", "fail", "pass", "none"],
        ["2024-11-02", "Outlook.com", "7", "fail", "pass", "none"],
        ["合計:", "12", "通、レポート", "2", "件、報告元", "2", "社（2024-11-01〜2024-11-02）"],
    ]


ADVICE = {
    ("internal_no_dkim", "ja"): "送信 (SMTP) サーバに example.ac.jp のメール",
    ("internal_no_dkim", "en"): "Submit the mail through the example.ac.jp mail server",
    ("dkim_broken", "ja"): "メーリングリストでメールを一切加工しない",
    ("dkim_broken", "en"): "Do not modify the mail at all on the list",
    ("unaligned_third_party", "ja"): "独自ドメインの DKIM",
    ("unaligned_third_party", "en"): "Please set up DKIM signing for the",
    ("enforced", "ja"): "拒否されたメール (disposition=reject) は届いていません",
    ("enforced", "en"): "rejected mail (disposition=reject) is not delivered",
}


@pytest.mark.parametrize(("kind", "lang"), sorted(ADVICE))
def test_every_problem_kind_gets_its_advice_in_both_languages(kind: FindingKind, lang: str) -> None:
    text = body(build_notice([finding(kind)], CONFIG, lang=lang, now=NOW))  # type: ignore[arg-type]
    assert said(ADVICE[(kind, lang)], text, lang)
    others = [phrase for (k, la), phrase in ADVICE.items() if la == lang and k != kind]
    assert not [phrase for phrase in others if phrase in text]


def test_mailing_list_advice_names_both_fixes() -> None:
    f = finding("dkim_broken", ip="198.51.100.25", ptr="mx.lists.example.org")
    msg = build_notice([f], CONFIG, now=NOW)
    text = body(reparse(msg))
    assert msg["Content-Language"] == "en"  # the contact's language
    assert text.startswith("Dear List admin,\n")
    assert "Use list software that supports DKIM (for example mailman 3)" in text
    assert "rewrite the header From to the list address" in " ".join(text.split())


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
    assert "  ・192.0.2.72: 4 通 — DKIM 署名なし（DMARC は SPF だけで通過）" in text
    # one evidence table per source, under its name
    assert "\n  192.0.2.71 (mail.lab1.example.ac.jp)\n  日付" in text
    assert "\n  192.0.2.72\n  日付" in text


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
    flat = text.replace("\n", "")
    assert "2024-11-03 に「【DMARC】送信ドメイン認証の不備について (192.0.2.71)」" in flat
    assert "（2024-11-03 以降 8 通" in flat


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


# --------------------------------------------------------------------------- issue 12 / 11 / 16


def enforced_evidence(day: int, count: int, disposition: str) -> Evidence:
    return replace(evidence(day, count), disposition=disposition, spf="fail")


PLAN = replace(
    CONFIG,
    notice=replace(CONFIG.notice, planned_policy="quarantine", planned_date=date(2025, 1, 15)),
)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_policy_sentence_p_none_with_a_plan(lang: str) -> None:
    msg = build_notice([finding()], PLAN, lang=lang, now=NOW, policies={"example.ac.jp": "none"})  # type: ignore[arg-type]
    text = unwrapped(body(msg), lang)
    if lang == "ja":
        assert said("example.ac.jp の DMARC ポリシーは現在 p=none（監視のみ）", text, lang)
        assert said(
            "2025-01-15 にexample.ac.jp の DMARC ポリシーを p=quarantine に変更する予定", text, lang
        )
    else:
        assert said("The reports show the DMARC policy of example.ac.jp as p=none", text, lang)
        assert said(
            "We plan to change the DMARC policy of example.ac.jp to p=quarantine on 2025-01-15",
            text,
            lang,
        )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_policy_sentence_p_none_without_a_plan_claims_none(lang: str) -> None:
    msg = build_notice([finding()], CONFIG, lang=lang, now=NOW, policies={"example.ac.jp": "none"})  # type: ignore[arg-type]
    text = unwrapped(body(msg), lang)
    assert said("p=none", text, lang)
    assert "p=quarantine" not in text
    assert "予定" not in text and "plan" not in text.lower()
    assert "soon" not in text and "近く" not in text


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_policy_sentence_already_enforced_gives_the_counts(lang: str) -> None:
    rows = (enforced_evidence(0, 5, "quarantine"), enforced_evidence(1, 2, "reject"))
    found = [finding(rows=rows), finding("enforced", rows=rows)]
    msg = build_notice(found, PLAN, lang=lang, now=NOW, policies={"example.ac.jp": "quarantine"})  # type: ignore[arg-type]
    text = unwrapped(body(msg), lang)
    assert "p=none" not in text
    assert not said("to p=quarantine", text, lang)  # no stale plan
    assert not said("p=quarantine に変更", text, lang)
    if lang == "ja":
        assert said("DMARC ポリシーはすでに p=quarantine", text, lang)
        assert said("5 通が隔離され、2 通が拒否されています", text, lang)
    else:
        assert said("as p=quarantine already", text, lang)
        assert said("They quarantined 5 and rejected 2 of the messages", text, lang)


HONEST = {
    ("internal_no_dkim", "en"): [
        "carries no DKIM signature for example.ac.jp",
        "passes DMARC today only because these servers are covered by the SPF record",
        "fail DMARC once it is forwarded",
        "or if the SPF record changes",
    ],
    ("internal_no_dkim", "ja"): [
        "example.ac.jp の DKIM 署名がありません",
        "SPF レコードの範囲内（学内ネットワーク）にあるためだけです",
        "転送されると",
        "SPF レコードが変われば、DMARC に失敗します",
    ],
    ("dkim_broken", "en"): [
        "fails verification (dkim=fail)",
        "2 of these 12 messages failed DMARC",
    ],
    ("dkim_broken", "ja"): ["検証に失敗しています (dkim=fail)", "12 通のうち 2 通が DMARC に失敗"],
    ("unaligned_third_party", "en"): [
        "belong to another domain",
        "2 of these 12 messages failed DMARC",
    ],
    ("unaligned_third_party", "ja"): ["別のドメインのもの", "12 通のうち 2 通が DMARC に失敗"],
    ("enforced", "en"): ["Receivers quarantined 2 of the messages from these servers"],
    ("enforced", "ja"): ["2 通が隔離されています"],
}
FALSE_CLAIMS = ["fails domain authentication", "認証に失敗した状態", "soon", "近く"]


@pytest.mark.parametrize(("kind", "lang"), sorted(HONEST))
@pytest.mark.parametrize("follow_up", [False, True], ids=["notice", "followup"])
def test_each_kind_says_what_its_records_show(
    kind: FindingKind, lang: str, follow_up: bool
) -> None:
    rows = (evidence(0, 10), enforced_evidence(1, 2, "quarantine"))
    if kind == "internal_no_dkim":
        rows = (evidence(0, 5), evidence(1, 7))  # aligned SPF passes: DMARC passes
    first = NoticeRecord(
        "<a.1@example.ac.jp>", NOV1, "x", ("a@b.example",), ("192.0.2.71",), (kind,), "sent"
    )
    msg = build_notice(
        [finding(kind, rows=rows)],
        CONFIG,
        lang=lang,  # type: ignore[arg-type]
        now=NOW,
        follow_up_of=first if follow_up else None,
        policies={"example.ac.jp": "none"},
    )
    text = unwrapped(body(msg), lang)
    for phrase in HONEST[(kind, lang)]:
        assert said(phrase, text, lang)
    for claim in FALSE_CLAIMS:
        assert not said(claim, text, lang)
    assert claim not in str(msg["Subject"])


def test_equal_records_of_one_report_all_count_in_the_letter() -> None:
    """Microsoft writes a source's mail as one record per recipient domain (hotmail.com,
    outlook.com); two of them can be equal in every field the letter shows. The evidence table
    and the quarantined count must add both, as the finding does, while the rows an ``enforced``
    finding shares with its cause finding count once."""
    split = enforced_evidence(0, 3, "quarantine")
    rows = (split, split, evidence(1, 4))
    found = [finding("dkim_broken", rows=rows), finding("enforced", rows=(split, split))]
    msg = build_notice(found, CONFIG, lang="en", now=NOW, policies={"example.ac.jp": "quarantine"})
    text = unwrapped(body(msg), "en")
    assert "(10 messages in total)" in text
    assert "Total: 10 messages in 2 reports" in text
    assert "They quarantined 6 of the messages" in text


def test_internal_source_that_already_fails_dmarc_is_not_told_it_passes() -> None:
    rows = (evidence(0, 5), replace(evidence(1, 3), spf="fail"))
    text = unwrapped(body(build_notice([finding(rows=rows)], CONFIG, lang="en", now=NOW)), "en")
    assert "no DKIM signature (3 failed DMARC)" in text
    assert "3 of these 8 messages already failed DMARC because SPF did not pass either" in text
    assert "passes DMARC today only because" not in text


@pytest.mark.parametrize("kind", sorted({k for k, _ in HONEST}))
@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("follow_up", [False, True], ids=["notice", "followup"])
def test_no_body_line_is_wider_than_72_columns(
    kind: FindingKind, lang: str, follow_up: bool
) -> None:
    from dmarctui.letter_text import width

    first = NoticeRecord(
        "<a.1@example.ac.jp>",
        NOV1,
        "【DMARC】送信ドメイン認証の不備について (192.0.2.71 mail.lab1.example.ac.jp)",
        ("a@b.example",),
        ("192.0.2.71",),
        (kind,),
        "sent",
    )
    long_rows = tuple(
        evidence(d, 3, r)
        for d in range(0, 400, 3)
        for r in ("google.com", "Outlook.com", "a-very-long-reporter-name.example.org")
    )
    found = [
        finding(kind, rows=long_rows),
        finding(
            kind, ip="192.0.2.72", ptr="a-long-host-name.lab1.example.ac.jp", rows=long_rows[:5]
        ),
    ]
    text = body(
        build_notice(
            found,
            PLAN,
            lang=lang,
            now=NOW,
            follow_up_of=first if follow_up else None,
            policies={"example.ac.jp": "none"},
        )
    )  # type: ignore[arg-type]
    widths = [width(line) for line in text.splitlines()]
    assert max(widths) <= 72, text
    assert not [
        line for line in text.splitlines() if line.strip() and line.strip()[0] in "。、）」"
    ]


def test_wrapping_keeps_kinsoku_and_hanging_indent() -> None:
    from dmarctui.letter_text import wrap_text

    line = "  ・" + "あ" * 34 + "。「い」です。"
    folded = wrap_text(line).splitlines()
    assert folded[0] == "  ・" + "あ" * 33
    assert folded[1] == "    あ。「い」です。"  # 。 never starts a line, the item hangs
    assert wrap_text("x" * 80 + " end").splitlines() == ["x" * 72, "x" * 8 + " end"]


def test_a_year_of_evidence_is_daily_then_weekly_then_monthly_then_a_total() -> None:
    rows = tuple(evidence(d, 2, r) for d in range(365) for r in ("google.com", "Outlook.com"))
    text = body(build_notice([finding(rows=rows)], CONFIG, lang="en", now=NOW))
    table = text[text.index("What the receivers reported") :].split("\n\n")[0].splitlines()
    assert len(table) < 60
    assert table.index("  (monthly totals)") < table.index("  (weekly totals)")
    assert table.index("  (weekly totals)") < table.index("  (daily, per reporter)")
    assert [line.split() for line in table if line.startswith("  2024-11 ")] == [
        ["2024-11", "2", "reporters", "120", "fail", "pass", "none"]
    ]
    assert [line.split()[:2] for line in table if line.startswith("  wk ")] == [
        ["wk", d]
        for d in (
            "2025-08-27",
            "2025-09-03",
            "2025-09-10",
            "2025-09-17",
            "2025-09-24",
            "2025-10-01",
            "2025-10-08",
            "2025-10-15",
        )
    ]
    daily = [line for line in table if re.match(r"  2025-10-\d\d  ", line)]
    assert 0 < len(daily) <= 20
    assert table[-2:] == [
        "  Total: 1460 messages in 730 reports from 2 reporters, 2024-11-01 to",
        "  2025-10-31",
    ]
    assert max(len(line) for line in table) <= 72


def test_without_a_from_the_letter_uses_postmaster_of_the_first_own_domain() -> None:
    from dmarctui.notice import sender_warning

    config = replace(CONFIG, notice=NoticeSettings(), own_domains=("example.ac.jp", "b.example"))
    msg = reparse(build_notice([finding()], config, now=NOW))
    assert msg["From"] == "postmaster@example.ac.jp"
    assert "example.ac.jp のメールサーバ管理担当です" in body(msg)
    assert "localhost" not in body(msg)
    assert sender_warning(config) == (
        "[notice] from is not set: letters go out as postmaster@example.ac.jp; set it in the config"
    )
    # no own domains configured: they default to the policy domains of the reports
    bare = replace(config, own_domains=())
    msg = build_notice([finding()], bare, now=NOW, policies={"example.ac.jp": "none"})
    assert msg["From"] == "postmaster@example.ac.jp"
    assert sender_warning(bare, msg["From"]) == sender_warning(config)
    bad = replace(finding(), header_from="")
    with pytest.raises(NoticeError, match=r"set \[notice\] from in the config"):
        build_notice([bad], bare, now=NOW)


def test_several_to_and_cc_and_the_wrong_one_is_named() -> None:
    to = "Lab2 Admin <admin2@lab2.example.ac.jp>, second@lab2.example.ac.jp"
    msg = reparse(build_notice([finding()], CONFIG, to=to, cc="head@example.ac.jp", now=NOW))
    assert [a.addr_spec for a in msg["To"].addresses] == [
        "admin2@lab2.example.ac.jp",
        "second@lab2.example.ac.jp",
    ]
    assert msg["To"].addresses[0].display_name == "Lab2 Admin"
    assert msg["Cc"] == "head@example.ac.jp"
    assert recipients(msg) == [
        "admin2@lab2.example.ac.jp",
        "second@lab2.example.ac.jp",
        "head@example.ac.jp",
    ]
    assert body(msg).startswith("Lab2 Admin 様")
    with pytest.raises(NoticeError, match=r"To: 'second@lab2' is not an e-mail address"):
        build_notice([finding()], CONFIG, to="a@lab2.example.ac.jp, second@lab2", now=NOW)
    with pytest.raises(NoticeError, match=r"Cc: 'x y@z.example' is not an e-mail address"):
        build_notice([finding()], CONFIG, cc="x y@z.example", now=NOW)


def test_a_contact_with_a_list_of_addresses_and_copies() -> None:
    contact = Contact(
        match="192.0.2.64/28",
        name="Lab 1",
        email="a@lab1.example.ac.jp, b@lab1.example.ac.jp",
        cc="head@example.ac.jp",
    )
    msg = reparse(build_notice([finding()], replace(CONFIG, contacts=(contact,)), now=NOW))
    assert str(msg["To"]) == "Lab 1 <a@lab1.example.ac.jp>, b@lab1.example.ac.jp"
    assert msg["Cc"] == "head@example.ac.jp"


SUBJECTS = [
    ("198.51.100.25", None, "en"),  # a 70-character Subject: the stdlib folds it oddly
    ("192.0.2.71", "mail.lab1.example.ac.jp", "en"),
    ("2001:db8:bad::17", "a-very-long-host-name-for-folding.dyn.example.net", "en"),
    ("192.0.2.71", "mail.lab1.example.ac.jp", "ja"),
    ("2001:db8:bad::17", None, "ja"),
]


@pytest.mark.parametrize(("ip", "ptr", "lang"), SUBJECTS)
@pytest.mark.parametrize("follow_up", [False, True], ids=["notice", "followup"])
def test_every_header_parses_cleanly_with_default_and_strict_policies(
    ip: str, ptr: str | None, lang: str, follow_up: bool
) -> None:
    first = NoticeRecord(
        "<a.1@example.ac.jp>",
        NOV1,
        "x",
        ("a@b.example",),
        (ip,),
        ("internal_no_dkim",),
        "sent",
        references=("<z.0@example.ac.jp>",),
    )
    msg = build_notice(
        [finding(ip=ip, ptr=ptr)],
        CONFIG,
        lang=lang,  # type: ignore[arg-type]
        to="Very Long Display Name Of A Laboratory Administrator <admin@lab9.example.ac.jp>",
        now=NOW,
        follow_up_of=first if follow_up else None,
    )
    raw = msg.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii()  # non-ASCII goes as RFC 2047 encoded words
    assert b"\r" not in head
    strict = policy.default.clone(raise_on_defect=True)
    for parse_policy in (policy.default, strict):
        got = BytesParser(policy=parse_policy).parsebytes(raw)
        assert list(got) == list(msg)
        for name, value in got.items():
            assert str(value) == str(value).strip(), name
            assert "\n" not in str(value) and "\r" not in str(value)
            assert not value.defects
        assert got["Subject"] == msg["Subject"]
        assert not str(got["Subject"]).startswith(" ")


INJECTION = "198.51.100.7 =?utf-8?q?=0ABcc:_attacker@evil.example=0AX-A:?="


def test_a_source_ip_that_is_not_an_address_never_becomes_a_header() -> None:
    with pytest.raises(NoticeError, match="is not an IP address"):
        build_notice([finding(ip=INJECTION)], CONFIG, to="a@b.example", now=NOW)
    with pytest.raises(NoticeError, match="is not an IP address"):
        build_notice([finding(ip="192.0.2.71\nBcc: attacker@evil.example")], CONFIG, now=NOW)


def test_a_hostile_ptr_name_is_left_out_of_the_letter() -> None:
    for ptr in (INJECTION, "mx.example.net\nBcc: attacker@evil.example", "[/]bad.example"):
        msg = build_notice([finding(ptr=ptr)], CONFIG, now=NOW)
        raw = msg.as_bytes()
        assert b"Bcc" not in raw and b"attacker" not in raw and b"evil" not in raw
        got = reparse(msg)
        assert "Bcc" not in got
        assert got["Subject"].endswith("(192.0.2.71)")
        assert "attacker" not in body(got)


def test_a_contact_name_with_a_line_break_is_refused() -> None:
    bad = Contact(
        match="192.0.2.64/28", name="Yamada\nBcc: x@evil.example", email="y@lab1.example.ac.jp"
    )
    with pytest.raises(NoticeError, match=r"control character|cannot carry"):
        build_notice([finding()], replace(CONFIG, contacts=(bad,)), now=NOW)


def test_a_long_japanese_name_passes_the_header_check() -> None:
    """Its encoded words are folded; the stdlib reads them back with a space between."""
    long = Contact(match="192.0.2.64/28", name="山田" * 8, email="yamada@lab1.example.ac.jp")
    msg = reparse(build_notice([finding()], replace(CONFIG, contacts=(long,)), now=NOW))
    assert msg["To"].addresses[0].addr_spec == "yamada@lab1.example.ac.jp"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_the_opening_claims_nothing_about_our_domain_that_the_reports_do_not_show(
    lang: str,
) -> None:
    """It said "<domain> signs its mail with DKIM and publishes a DMARC policy" whatever the
    reports showed: false for a lab's subdomain that has no DKIM key and no DMARC record of its
    own (found by the campus acceptance check). The policy paragraph says what the reports show."""
    msg = build_notice([finding()], CONFIG, lang=lang, now=NOW, policies={"example.ac.jp": "none"})  # type: ignore[arg-type]
    text = unwrapped(body(msg), lang)
    assert not said("signs its mail", text, lang) and not said("publishes a DMARC", text, lang)
    assert not said("DKIM 署名と DMARC を導入", text, lang)
    assert said("p=none", text, lang)
