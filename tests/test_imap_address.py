"""IMAP addresses and the ``[imap]`` config section, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmarctui.config import load_config
from dmarctui.imap_store import ImapError, _quote, open_imap, parse_imap_url
from dmarctui.mailstore import open_store


def test_addresses_with_defaults_ports_and_escapes() -> None:
    a = parse_imap_url("imaps://dmarc%40example.org@mail.example.org/Reports/DMARC")
    assert (a.user, a.host, a.port, a.folder, a.starttls) == (
        "dmarc@example.org", "mail.example.org", 993, "Reports/DMARC", False,
    )  # fmt: skip
    b = parse_imap_url("imap://dmarc@mail.example.org:1143")
    assert (b.port, b.folder, b.starttls) == (1143, "INBOX", True)
    assert b.url == "imap://dmarc@mail.example.org:1143/INBOX"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("imaps://dmarc:secret@mail.example.org/INBOX", "no password in the IMAP address"),
        ("imaps://mail.example.org/INBOX", "write it as imaps://user@host/Folder"),
        ("imaps://u@mail.example.org:99999/INBOX", "port is not a number"),
    ],
)
def test_bad_addresses_are_one_line_errors(url: str, why: str) -> None:
    with pytest.raises(ImapError, match=why) as info:
        parse_imap_url(url)
    assert "secret" not in str(info.value)


def test_folder_names_are_quoted_and_non_ascii_is_modified_utf7() -> None:
    assert _quote('My "DMARC"') == r'"My \"DMARC\""'
    assert _quote("Berichte/Prüfung") == '"Berichte/Pr&APw-fung"'
    assert _quote("R&D") == '"R&-D"'


def test_config_names_the_account_and_refuses_a_password(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        "[imap]\n"
        'url = "imaps://dmarc@mail.example.org/INBOX"\n'
        'password_command = "pass show mail/dmarc"\n'
        'password = "hunter2"\n'
    )
    config, problems = load_config(config_file)
    assert config.imap.url == "imaps://dmarc@mail.example.org/INBOX"
    assert config.imap.password_command == "pass show mail/dmarc"
    assert [p.key for p in problems] == ["imap.password"]
    assert "hunter2" not in repr(config)
    store = open_imap("imap:", config.imap)  # no connection until the folder is listed
    assert store.url == "imaps://dmarc@mail.example.org/INBOX"


def test_an_imap_address_opens_an_imap_store_without_connecting() -> None:
    store = open_store("imaps://dmarc@mail.invalid/INBOX")
    assert store.format == "imap" and store.remote
