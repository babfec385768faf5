"""``digest --mail``: only with news, to exactly ``[digest] to``, by sendmail (no -t) or SMTP."""

from __future__ import annotations

import socket
import stat
import sys
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dmarctui.cli import main
from tests.test_digest import CONFIG, LAB, Folder, first_days

SUBJECT = "DMARC digest for example.ac.jp: 2 new problems"


def fake_sendmail(tmp_path: Path, status: int = 0) -> Path:
    """Records each call's argv and message in ``calls/N.argv`` and ``calls/N.eml``."""
    calls = tmp_path / "calls"
    calls.mkdir()
    script = tmp_path / "sendmail"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"d = pathlib.Path({str(calls)!r})\n"
        "n = len(list(d.glob('*.argv')))\n"
        "(d / f'{n}.argv').write_text('\\n'.join(sys.argv[1:]))\n"
        "(d / f'{n}.eml').write_bytes(sys.stdin.buffer.read())\n"
        f"sys.exit({status})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return calls


def write_config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        CONFIG.replace(
            'to = ["ops@example.ac.jp"]', 'to = ["ops@example.ac.jp", "-oi@example.ac.jp"]'
        )
        + extra
    )
    return path


def run(folder: Folder, config: Path, *extra: str) -> int:
    return main(["digest", str(folder.path), "--config", str(config), "--no-dns", "--mail", *extra])


def test_sendmail_gets_the_digest_for_the_listed_recipients_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = fake_sendmail(tmp_path)
    config = write_config(
        tmp_path,
        f'[notice]\nfrom = "dmarc@example.ac.jp"\nsendmail_command = "{tmp_path}/sendmail"\n',
    )
    folder = Folder(tmp_path / "dmarc")
    first_days(folder)
    assert run(folder, config) == 1
    printed = capsys.readouterr().out
    argv = (calls / "0.argv").read_text().split("\n")
    assert argv == ["-oi", "--", "ops@example.ac.jp", "-oi@example.ac.jp"]
    sent = message_from_bytes((calls / "0.eml").read_bytes(), policy=policy.default)
    assert sent["Subject"] == SUBJECT
    assert sent["From"] == "dmarc@example.ac.jp"
    assert sent["To"] == "ops@example.ac.jp, -oi@example.ac.jp"
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent.get_content() == printed
    assert LAB in printed

    assert run(folder, config) == 0  # nothing new: nothing printed, nothing sent
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in calls.iterdir()) == ["0.argv", "0.eml"]

    assert run(folder, config, "--dry-run", "--always") == 0
    assert "dry run: not mailed" in capsys.readouterr().err
    assert sorted(p.name for p in calls.iterdir()) == ["0.argv", "0.eml"]


def test_failed_send_is_status_two_and_the_news_is_kept_for_the_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = fake_sendmail(tmp_path, status=75)
    config = write_config(tmp_path, f'[notice]\nsendmail_command = "{tmp_path}/sendmail"\n')
    folder = Folder(tmp_path / "dmarc")
    first_days(folder)
    assert run(folder, config) == 2
    assert "exited with status 75" in capsys.readouterr().err
    assert run(folder, config) == 2  # not remembered: the same news is tried again
    assert len(list(calls.glob("*.eml"))) == 2


class Collect:
    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_smtp_delivers_to_the_digest_recipients(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Collect()
    port = free_port()
    config = write_config(
        tmp_path,
        '[notice]\nfrom = "dmarc@example.ac.jp"\nsend = "smtp"\n'
        f'[notice.smtp]\nhost = "127.0.0.1"\nport = {port}\n',
    )
    folder = Folder(tmp_path / "dmarc")
    first_days(folder)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert run(folder, config, "--lang", "ja") == 1
        assert run(folder, config, "--lang", "ja") == 0
    finally:
        controller.stop()
    [(mail_from, rcpt, content)] = handler.envelopes
    assert mail_from == "dmarc@example.ac.jp"
    assert rcpt == ["ops@example.ac.jp", "-oi@example.ac.jp"]
    sent = message_from_bytes(content, policy=policy.default)
    assert sent["Subject"] == "DMARC ダイジェスト (example.ac.jp): 新しい問題 2 件"
    assert "対応が必要な新しい送信元" in sent.get_content()
