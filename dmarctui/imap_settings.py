"""What the config says of an IMAP account, and whether a folder argument names one.

Apart from :mod:`dmarctui.imap_store` so that reading the config, which every command does, does
not import the IMAP client, sockets and TLS.
"""

from __future__ import annotations

from dataclasses import dataclass

PASSWORD_ENV = "DMARCTUI_IMAP_PASSWORD"
"""The environment variable read for the password when the config names none."""


def is_imap_url(text: object) -> bool:
    return isinstance(text, str) and text.lower().startswith(("imap://", "imaps://"))


@dataclass(frozen=True)
class ImapSettings:
    """``[imap]`` of the config: how to get the password and which certificates to trust."""

    url: str | None = None
    """The account opened by ``dmarctui imap:`` (and the one the rest applies to)."""
    password_command: str | None = None
    password_env: str = PASSWORD_ENV
    ca_file: str | None = None
    """A CA bundle to trust instead of the system's (a site CA)."""
    insecure_tls: bool = False
    """Do not verify the server's certificate (warned about on every connection)."""
