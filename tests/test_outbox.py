"""Drafts land where a mail reader finds them; nothing is sent without confirmation."""

from __future__ import annotations

import mailbox
import socket
import stat
import sys
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dmarctui.config import Config, Contact, NoticeSettings, SmtpSettings
from dmarctui.history import NoticeHistory
from dmarctui.model import Finding
from dmarctui.notice import build_notice
from dmarctui.outbox import (
    NotConfirmed,
    OutboxError,
    SendError,
    confirmation_text,
    deliver,
    draft_format,
    message_bytes,
    save_draft,
    send,
    send_notice,
)

SUBJECT = "【DMARC】送信ドメイン認証の不備について (192.0.2.71 mail.lab1.example.ac.jp)"
FINDING = Finding(
    source_ip="192.0.2.71",
    kind="internal_no_dkim",
    severity="high",
    messages=12,
    header_from="example.ac.jp",
    first_seen=1730419200,
    last_seen=1730505600,
    advice="",
    ptr="mail.lab1.example.ac.jp",
    reporters=("google.com",),
)
CONTACT = Contact(match="192.0.2.64/28", name="山田 太郎", email="yamada@lab1.example.ac.jp")


def config_with(tmp_path: Path, **notice: object) -> Config:
    settings = NoticeSettings(from_addr="postmaster@example.ac.jp", drafts=str(tmp_path / "Drafts"))
    return Config(contacts=(CONTACT,), notice=replace(settings, **notice))  # type: ignore[arg-type]


@pytest.fixture
def notice(tmp_path: Path) -> EmailMessage:
    return build_notice([FINDING], config_with(tmp_path), now=datetime(2024, 11, 5, tzinfo=UTC))


def subject_of(data: bytes) -> str:
    return str(message_from_bytes(data, policy=policy.default)["Subject"])


def test_draft_lands_in_maildir_new_readable_by_mailbox(
    tmp_path: Path, notice: EmailMessage
) -> None:
    folder = tmp_path / "Drafts"
    mailbox.Maildir(folder, create=True)
    path = save_draft(notice, folder)
    assert path.parent == folder / "new"
    assert list((folder / "tmp").iterdir()) == []
    box = mailbox.Maildir(folder, create=False)
    assert [subject_of(box.get_bytes(k)) for k in box.iterkeys()] == [SUBJECT]
    assert path.read_bytes() == message_bytes(notice)


def test_missing_drafts_folder_becomes_a_maildir(tmp_path: Path, notice: EmailMessage) -> None:
    folder = tmp_path / "mail" / "Drafts"
    path = save_draft(notice, folder)
    assert draft_format(folder) == "maildir"
    assert path.parent == folder / "new"


def test_draft_takes_the_next_number_in_an_mh_folder(tmp_path: Path, notice: EmailMessage) -> None:
    folder = tmp_path / "draft"
    box = mailbox.MH(folder, create=True)
    box.add(b"Subject: older draft\n\nhello\n")
    path = save_draft(notice, folder)
    assert path == folder / "2"
    reread = mailbox.MH(folder, create=False)
    assert sorted(reread.keys()) == [1, 2]
    assert subject_of(reread.get_bytes(2)) == SUBJECT


def test_mew_folder_without_sequences_is_mh(tmp_path: Path, notice: EmailMessage) -> None:
    folder = tmp_path / "draft"
    folder.mkdir()
    (folder / ".mew-summary").write_bytes(b"")
    assert draft_format(folder) == "mh"
    assert save_draft(notice, folder) == folder / "1"


def test_eml_file_and_folder_of_eml_files(tmp_path: Path, notice: EmailMessage) -> None:
    single = save_draft(notice, tmp_path / "lab1.eml")
    assert single == tmp_path / "lab1.eml"
    assert subject_of(single.read_bytes()) == SUBJECT
    folder = tmp_path / "eml"
    folder.mkdir()
    first, second = save_draft(notice, folder), save_draft(notice, folder)
    assert first != second
    assert first.name.startswith("20241105-000000-") and first.suffix == ".eml"
    assert sorted(p.name for p in folder.iterdir()) == sorted([first.name, second.name])


def test_unwritable_target_is_a_clear_error(tmp_path: Path, notice: EmailMessage) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OutboxError, match="cannot write the draft"):
        save_draft(notice, blocker / "Drafts")


def fake_sendmail(tmp_path: Path, status: int = 0, stderr: str = "") -> Path:
    script = tmp_path / "sendmail"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"d = pathlib.Path({str(tmp_path)!r})\n"
        "(d / 'argv').write_text('\\n'.join(sys.argv[1:]))\n"
        "(d / 'stdin').write_bytes(sys.stdin.buffer.read())\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({status})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_sendmail_gets_the_exact_message(tmp_path: Path, notice: EmailMessage) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path)))
    draft = send(notice, config, confirmed=True)
    # explicit recipients, never -t (which would take recipients from the headers)
    assert (tmp_path / "argv").read_text().split("\n") == ["-oi", "--", "yamada@lab1.example.ac.jp"]
    assert (tmp_path / "stdin").read_bytes() == message_bytes(notice)
    assert draft.read_bytes() == message_bytes(notice)


def test_nothing_is_sent_or_written_without_confirmation(
    tmp_path: Path, notice: EmailMessage
) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path)))
    with pytest.raises(NotConfirmed, match="nothing was sent"):
        send(notice, config, confirmed=False)
    with pytest.raises(NotConfirmed):
        send_notice(notice, [FINDING], config, confirmed=False)
    assert not (tmp_path / "stdin").exists()
    assert not (tmp_path / "Drafts").exists()


def test_failing_sendmail_keeps_the_draft_and_says_why(
    tmp_path: Path, notice: EmailMessage
) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path, 75, "queue is full\n")))
    with pytest.raises(SendError, match="exited with status 75: queue is full") as failed:
        send(notice, config, confirmed=True)
    assert failed.value.draft is not None
    assert failed.value.draft.read_bytes() == message_bytes(notice)
    assert str(failed.value.draft) in str(failed.value)


def test_missing_sendmail_is_a_send_error(tmp_path: Path, notice: EmailMessage) -> None:
    config = config_with(tmp_path, sendmail=str(tmp_path / "no-such-sendmail"))
    with pytest.raises(SendError, match="sendmail command not found"):
        send(notice, config, confirmed=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collect:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def test_smtp_on_loopback_delivers_the_notice(tmp_path: Path, notice: EmailMessage) -> None:
    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpSettings(host="127.0.0.1", port=port)
        send(notice, config_with(tmp_path, send="smtp", smtp=smtp), confirmed=True)
    finally:
        controller.stop()
    [(mail_from, rcpt, content)] = handler.envelopes
    assert mail_from == "postmaster@example.ac.jp"
    assert rcpt == ["yamada@lab1.example.ac.jp"]
    delivered = message_from_bytes(content, policy=policy.default)
    assert delivered["Subject"] == SUBJECT
    assert delivered["Message-ID"] == notice["Message-ID"]


def test_refused_connection_keeps_the_draft_and_records_it_as_drafted(
    tmp_path: Path, notice: EmailMessage
) -> None:
    smtp = SmtpSettings(host="127.0.0.1", port=free_port())
    config = config_with(tmp_path, send="smtp", smtp=smtp)
    history = tmp_path / "notices.sqlite3"
    with pytest.raises(SendError, match=f"SMTP 127.0.0.1:{smtp.port}: ") as failed:
        send_notice(notice, [FINDING], config, confirmed=True, history=history)
    assert failed.value.draft is not None and failed.value.draft.is_file()
    with NoticeHistory.open(history) as notices:
        [record] = notices.all()
    assert (record.status, record.draft_path) == ("drafted", str(failed.value.draft))


def test_successful_send_is_recorded_as_sent(tmp_path: Path, notice: EmailMessage) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path)))
    history = tmp_path / "notices.sqlite3"
    draft = send_notice(notice, [FINDING], config, confirmed=True, history=history)
    with NoticeHistory.open(history) as notices:
        [record] = notices.all()
    assert record.status == "sent"
    assert record.draft_path == str(draft)
    assert record.sources == ("192.0.2.71",)


def test_confirmation_shows_recipients_subject_and_route(
    tmp_path: Path, notice: EmailMessage
) -> None:
    text = confirmation_text(notice, config_with(tmp_path))
    assert text == (
        "Send this notice to yamada@lab1.example.ac.jp?\n"
        "From: postmaster@example.ac.jp\n"
        "To: 山田 太郎 <yamada@lab1.example.ac.jp>\n"
        f"Subject: {SUBJECT}\n"
        "Via: /usr/sbin/sendmail -oi (recipients given explicitly)"
    )


def test_confirmation_names_every_to_and_cc(tmp_path: Path) -> None:
    msg = build_notice(
        [FINDING],
        config_with(tmp_path),
        to="Lab2 Admin <admin2@lab2.example.ac.jp>, second@lab2.example.ac.jp",
        cc="head@example.ac.jp",
        now=datetime(2024, 11, 5, tzinfo=UTC),
    )
    text = confirmation_text(msg, config_with(tmp_path))
    assert text.splitlines()[:4] == [
        "Send this notice to admin2@lab2.example.ac.jp, second@lab2.example.ac.jp,"
        " head@example.ac.jp?",
        "From: postmaster@example.ac.jp",
        "To: Lab2 Admin <admin2@lab2.example.ac.jp>, second@lab2.example.ac.jp",
        "Cc: head@example.ac.jp",
    ]


def test_sendmail_and_smtp_get_every_to_and_cc_explicitly(tmp_path: Path) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path)))
    msg = build_notice(
        [FINDING], config, to="a@lab1.example.ac.jp, b@lab1.example.ac.jp", cc="c@example.ac.jp"
    )
    send(msg, config, confirmed=True)
    assert (tmp_path / "argv").read_text().split("\n") == [
        "-oi",
        "--",
        "a@lab1.example.ac.jp",
        "b@lab1.example.ac.jp",
        "c@example.ac.jp",
    ]


INJECTION = "198.51.100.7 =?utf-8?q?=0ABcc:_attacker@evil.example=0AX-A:?="


def test_a_letter_with_an_added_header_is_neither_saved_nor_sent(tmp_path: Path) -> None:
    config = config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path)))
    msg = build_notice([FINDING], config)
    del msg["Subject"]
    msg["Subject"] = INJECTION  # what an unvalidated source IP used to put there
    with pytest.raises(OutboxError, match="not saved or sent"):
        save_draft(msg, tmp_path / "Drafts")
    with pytest.raises(SendError, match="not sent"):
        deliver(msg, config, confirmed=True)
    msg2 = build_notice([FINDING], config)
    msg2["Bcc"] = "attacker@evil.example"
    with pytest.raises(OutboxError, match="'bcc'"):
        send(msg2, config, confirmed=True)
    assert not (tmp_path / "stdin").exists()
    assert not (tmp_path / "Drafts").exists()


def test_the_demo_configuration_cannot_send(tmp_path: Path) -> None:
    config = replace(config_with(tmp_path, sendmail=str(fake_sendmail(tmp_path))), demo=True)
    msg = build_notice([FINDING], config)
    with pytest.raises(SendError, match="sending is off in the demo"):
        send(msg, config, confirmed=True)
    assert not (tmp_path / "stdin").exists()
