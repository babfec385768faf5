"""``dmarctui digest``: a folder that grows day by day, and exactly the news said about it."""

from __future__ import annotations

import json
import shutil
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from dmarctui.cli import main
from dmarctui.digest_text import text_width
from dmarctui.history import NoticeHistory
from dmarctui.model import Finding
from tests.mailbuild import (
    BEGIN,
    DAY,
    Rec,
    aggregate_xml,
    gzip_bytes,
    mail,
    mime_part,
    multipart,
    report_mail,
)

CONFIG = """\
[domains]
own = ["example.ac.jp"]
[networks]
internal = ["192.0.2.0/24"]
[[contacts]]
match = "192.0.2.0/28"
name = "Lab 1 admin"
email = "admin@lab1.example.ac.jp"
[digest]
lang = "en"
to = ["ops@example.ac.jp"]
"""

LAB = "192.0.2.10"  # internal server sending without DKIM
LIST = "198.51.100.5"  # a mailing list breaking our signature
LAB2 = "192.0.2.20"  # appears on day 3, and its mail is quarantined
CLEAN = "192.0.2.1"
SPOOF = "203.0.113.66"


def lab(n: int, ip: str = LAB) -> Rec:
    return Rec(ip, n, dkim="fail", spf="pass", dkim_auth=())


def quarantined(n: int, ip: str = LAB2) -> Rec:
    """A lab server outside our SPF record: DMARC fails and the receiver quarantines."""
    return Rec(ip, n, dkim="fail", spf="fail", dkim_auth=(), disposition="quarantine")


def mailing_list(n: int) -> Rec:
    return Rec(LIST, n, dkim="fail", spf="fail", dkim_auth=(("example.ac.jp", "fail"),))


def spoof(n: int) -> Rec:
    return Rec(SPOOF, n, dkim="fail", spf="fail", dkim_auth=(), spf_auth=(("evil.test", "fail"),))


class Folder:
    """A Maildir that receives one day of reports at a time, like a real rua mailbox."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)

    def add(self, raw: bytes) -> None:
        self.count += 1
        name = f"{1_800_000_000 + self.count}.M{self.count:06d}P99Q{self.count}.mx1"
        (self.path / "new" / name).write_bytes(raw)

    def day(self, day: int, *records: Rec, org: str = "google.com", p: str = "none") -> None:
        begin = BEGIN + day * DAY
        xml = aggregate_xml(
            *records,
            org_name=org,
            report_id=f"{org}-{day}",
            begin=begin,
            email=f"dmarc@{org}",
            p=p,
        )
        self.add(
            report_mail(
                xml,
                filename=f"{org}!example.ac.jp!{begin}!{begin + DAY - 1}.xml.gz",
                date=formatdate(begin + DAY + 3600, usegmt=True),
                message_id=f"<{org}-{day}@{org}>",
            )
        )

    def truncated(self, day: int) -> None:
        broken = gzip_bytes(aggregate_xml(lab(1)))[:30]
        part = mime_part(broken, "application/gzip", filename="cut.xml.gz")
        self.add(
            mail(
                multipart(part),
                date=formatdate(BEGIN + day * DAY + 7200, usegmt=True),
                message_id=f"<cut-{day}@example.net>",
            )
        )


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path / "dmarc")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def digest(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path, *extra: str
) -> tuple[int, str]:
    code = main(["digest", str(folder.path), "--config", str(config), "--no-dns", *extra])
    return code, capsys.readouterr().out


def digest_json(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    code, out = digest(capsys, folder, config, "--json", *extra)
    return code, json.loads(out) if out else {}


def said(data: dict[str, Any]) -> dict[str, object]:
    """What a digest said, in a shape a test can compare exactly."""
    return {
        "new": sorted((n["source_ip"], n["kind"], n["messages"]) for n in data["new_sources"]),
        "worse": sorted(w["source_ip"] for w in data["worse"]),
        "fixed": sorted(f["source_ip"] for f in data["fixed"]),
        "losses": sorted((x["source_ip"], x["messages"]) for x in data["losses"]),
        "reporters": data["new_reporters"],
        "intake": sorted(p["kind"] for p in data["intake"]),
        "follow_ups": [f["source_ip"] for f in data["follow_ups"]],
    }


NOTHING: dict[str, object] = {
    "new": [],
    "worse": [],
    "fixed": [],
    "losses": [],
    "reporters": [],
    "intake": [],
    "follow_ups": [],
}


def first_days(folder: Folder) -> None:
    for day in range(3):
        folder.day(day, lab(5), mailing_list(3), Rec(CLEAN, 100), spoof(2))


def test_a_growing_folder_is_told_only_what_is_new(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {
        **NOTHING,
        "new": [(LAB, "internal_no_dkim", 15), (LIST, "dkim_broken", 9)],
    }
    assert data["problems"] == 2
    assert data["since"] is None and data["last_day"] == "2024-07-03"

    code, out = digest(capsys, folder, config)
    assert (code, out) == (0, "")

    # Day 3: the list gets much busier, a second lab server appears and loses mail, a new
    # receiver reports, and one message cannot be read.
    folder.day(3, lab(5), mailing_list(40), quarantined(4), Rec(CLEAN, 100))
    folder.day(3, lab(1), org="Yahoo")
    folder.truncated(3)
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {
        **NOTHING,
        "new": [(LAB2, "internal_no_dkim", 4)],
        "worse": [LIST],
        "losses": [(LAB2, 4)],
        "reporters": ["Yahoo"],
        "intake": ["unreadable"],
    }
    [worse] = data["worse"]
    assert (worse["before"], worse["after"]) == (3.0, 40.0)
    assert data["problems"] == 4

    code, out = digest(capsys, folder, config)
    assert (code, out) == (0, "")


def test_a_quiet_week_says_fixed_once(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    assert digest(capsys, folder, config)[0] == 1
    for day in range(3, 10):
        folder.day(day, lab(5), Rec(CLEAN, 100))  # the list stopped breaking signatures
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {**NOTHING, "fixed": [LIST]}
    assert data["fixed"][0]["since"] == "2024-07-04"
    assert digest(capsys, folder, config) == (0, "")
    folder.day(10, mailing_list(2))  # and it is back
    code, data = digest_json(capsys, folder, config)
    assert said(data) == {**NOTHING, "new": [(LIST, "dkim_broken", 11)]}
    assert data["new_sources"][0]["again"] is True


def test_text_fits_72_columns_in_english_and_japanese(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    folder.truncated(2)
    code, en = digest(capsys, folder, config, "--dry-run")
    assert code == 1
    assert "New sources that need action" in en
    assert f"  {LAB}: internal sender without DKIM, 15 messages" in en
    assert "    contact: Lab 1 admin" in en
    assert "Outside spoofing: 6 messages from 1 source on the new days." in en
    assert "Submit via the department server" in en
    code, ja = digest(capsys, folder, config, "--lang", "ja", "--dry-run")
    assert "対応が必要な新しい送信元" in ja and "15 通" in ja
    for text in (en, ja):
        assert max(text_width(line) for line in text.splitlines()) <= 72


def test_always_prints_even_when_nothing_is_new(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    digest(capsys, folder, config)
    code, out = digest(capsys, folder, config, "--always")
    assert code == 0
    assert "Nothing new." in out
    assert "0 new problems" in out


def test_dry_run_does_not_advance_and_since_overrides(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    assert digest(capsys, folder, config, "--dry-run")[0] == 1
    assert digest(capsys, folder, config, "--dry-run")[0] == 1  # still new: nothing remembered
    assert digest(capsys, folder, config)[0] == 1
    assert digest(capsys, folder, config) == (0, "")
    folder.day(3, lab(5), mailing_list(3), lab(4, LAB2))
    # --since: compared with the reports before that day, whatever the last digest said
    code, data = digest_json(capsys, folder, config, "--since", "2024-07-04", "--dry-run")
    assert said(data) == {**NOTHING, "new": [(LAB2, "internal_no_dkim", 4)]}
    assert data["since"] == "2024-07-04"
    code, data = digest_json(capsys, folder, config, "--since", "2024-07-02", "--dry-run")
    assert code == 1
    assert said(data)["new"] == [(LAB2, "internal_no_dkim", 4)]
    assert said(data)["worse"] == []


def test_deleting_the_index_does_not_make_old_news_new(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path, tmp_path: Path
) -> None:
    first_days(folder)
    folder.truncated(1)
    before = folder_bytes(folder.path)
    assert digest(capsys, folder, config)[0] == 1
    shutil.rmtree(Path.home() / ".cache")  # conftest points XDG_CACHE_HOME here
    assert digest(capsys, folder, config) == (0, "")
    assert folder_bytes(folder.path) == before  # the mail folder is only ever read


def folder_bytes(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_ignored_source_stays_out_until_it_gets_worse(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    assert main(["decide", "add", LIST, "ignore", "--until", "2999-12-31", "--note", "ML"]) == 0
    capsys.readouterr()
    first_days(folder)
    code, data = digest_json(capsys, folder, config)
    assert said(data) == {**NOTHING, "new": [(LAB, "internal_no_dkim", 15)]}
    folder.day(3, lab(5), mailing_list(3))
    assert digest(capsys, folder, config) == (0, "")
    folder.day(4, lab(5), mailing_list(50))
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {**NOTHING, "worse": [LIST]}
    assert data["worse"][0]["decision"] == "ignore until 2999-12-31"


def test_expired_and_undone_decisions_let_the_source_back_in(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    main(["decide", "add", LIST, "accepted-risk", "--note", "old list, retiring"])
    main(["decide", "add", LAB, "ignore", "--until", "2000-01-01"])  # long expired
    capsys.readouterr()
    first_days(folder)
    code, data = digest_json(capsys, folder, config)
    assert said(data)["new"] == [(LAB, "internal_no_dkim", 15)]
    folder.day(3, lab(5), mailing_list(3))
    assert digest(capsys, folder, config) == (0, "")
    assert main(["decide", "undo", LIST]) == 0
    capsys.readouterr()
    folder.day(4, lab(5), mailing_list(3))
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {**NOTHING, "new": [(LIST, "dkim_broken", 15)]}


def test_exit_status_two_when_it_cannot_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: Path
) -> None:
    assert main(["digest", str(tmp_path / "missing"), "--config", str(config)]) == 2
    assert "dmarctui:" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[domains\n")
    Folder(tmp_path / "ok")
    assert main(["digest", str(tmp_path / "ok"), "--config", str(bad)]) == 2
    no_to = tmp_path / "no-to.toml"
    no_to.write_text(CONFIG.replace('to = ["ops@example.ac.jp"]', ""))
    assert main(["digest", str(tmp_path / "ok"), "--config", str(no_to), "--mail"]) == 2
    assert "[digest] to" in capsys.readouterr().err


def test_empty_folder_says_nothing(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    assert digest(capsys, folder, config) == (0, "")


def record_notice(ip: str, day: int) -> None:
    msg = EmailMessage()
    msg["From"] = "postmaster@example.ac.jp"
    msg["To"] = "admin@lab1.example.ac.jp"
    msg["Subject"] = f"DMARC notice {ip}"
    msg["Date"] = formatdate(BEGIN + day * DAY + 9 * 3600, usegmt=True)
    msg["Message-ID"] = f"<notice-{ip}@example.ac.jp>"
    finding = Finding(ip, "internal_no_dkim", "high", 5, "example.ac.jp", 0, 0, "")
    with NoticeHistory.open() as history:
        history.add(msg, [finding], status="sent")


def test_notices_due_for_a_follow_up_and_fixed_since_their_notice(
    capsys: pytest.CaptureFixture[str], folder: Folder, tmp_path: Path
) -> None:
    config = tmp_path / "grace.toml"
    config.write_text(CONFIG + "[notice]\nfollow_up_days = 2\n")
    first_days(folder)
    assert digest(capsys, folder, config)[0] == 1
    record_notice(LAB, 1)
    record_notice(LIST, 1)
    folder.day(3, lab(5), Rec(CLEAN, 100))  # due day 2024-07-04: the lab still fails,
    folder.day(4, lab(5), Rec(CLEAN, 100))  # the list is clean since its notice
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    assert said(data) == {**NOTHING, "fixed": [LIST], "follow_ups": [LAB]}
    assert data["fixed"][0] == {"source_ip": LIST, "since": "2024-07-02", "notice": True}
    assert data["follow_ups"][0]["failing"] == 10
    code, text = digest(capsys, folder, config, "--always")
    assert code == 0 and "Notices due for a follow-up" not in text


def test_digest_settings_are_checked(tmp_path: Path) -> None:
    from dmarctui.config import load_config

    path = tmp_path / "c.toml"
    path.write_text('[digest]\nlang = "ja"\nto = ["ops@example.ac.jp", "not an address"]\n')
    config, problems = load_config(path)
    assert config.digest.lang == "ja"
    assert config.digest.to == ("ops@example.ac.jp",)
    assert [str(p) for p in problems] == [
        'c.toml: digest.to[1]: "not an address" is not an e-mail address'
    ]


@pytest.mark.parametrize(
    "text",
    [
        "198.51.100.25: 1 日あたりの失敗 9.1 → 28.0 通 (転送中に壊れた DKIM 署名)",
        "example.ac.jp (p=none): p=quarantine にはまだ早い。直近 30 日に正当な送信元のメール",
        "unreadable: " + "1709780195.M000039P4242Q39.mx1#1/" * 4 + " refused",
        "a bidi \u202e trick\x1b[2J and a line\nbreak",
    ],
)
def test_wrapped_lines_fit_and_never_start_with_closing_punctuation(text: str) -> None:
    from dmarctui.digest_text import CLOSERS, shown, wrap

    lines = wrap(shown(text), "  ", "    ")
    assert all(text_width(line) <= 72 for line in lines)
    assert not any(line.strip()[0] in CLOSERS for line in lines)
    assert "".join(line.strip() for line in lines).replace(" ", "") == shown(text).replace(" ", "")
    assert "\x1b" not in "".join(lines) and "\u202e" not in "".join(lines)


def test_receivers_disagreeing_on_the_policy_are_said_once(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    first_days(folder)
    digest(capsys, folder, config)
    folder.day(3, Rec(CLEAN, 10))
    folder.day(3, Rec(CLEAN, 10), org="Yahoo", p="quarantine")
    code, data = digest_json(capsys, folder, config)
    assert code == 1
    [disagreement] = data["disagreements"]
    assert disagreement["domain"] == "example.ac.jp"
    assert [who for _, who in disagreement["variants"]] == [["google.com"], ["Yahoo"]]
    folder.day(4, Rec(CLEAN, 10))
    folder.day(4, Rec(CLEAN, 10), org="Yahoo", p="quarantine")
    code, data = digest_json(capsys, folder, config)
    assert code == 0 and data == {}


def test_a_long_section_lists_thirty_and_says_how_many(
    capsys: pytest.CaptureFixture[str], folder: Folder, config: Path
) -> None:
    folder.day(0, *(lab(1, f"192.0.2.{100 + n}") for n in range(35)))
    code, text = digest(capsys, folder, config)
    assert code == 1
    assert "New sources that need action (30 of 35 listed; --json has all)" in text
    assert text.count("internal sender without DKIM") == 30
