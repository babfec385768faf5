"""The digest by mail: built from validated addresses only, sent to an explicit recipient list.

Unlike a notice, a digest goes out unattended from cron, so the recipients are never taken from
the message headers (no ``sendmail -t``): they are the validated ``[digest] to`` addresses, given
to sendmail after ``--`` or to SMTP as the envelope.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dmarctui.config import Config, Lang
from dmarctui.letter_headers import CheckedLetter
from dmarctui.outbox import SendError, transmit


def from_address(config: Config) -> str:
    """``[digest] from``, else ``[notice] from``, else the local user at this host."""
    if config.digest.from_addr:
        return config.digest.from_addr
    if config.notice.from_addr:
        return config.notice.from_addr
    return f"{getpass.getuser()}@{socket.getfqdn()}"


def build_mail(
    text: str, subject: str, config: Config, recipients: Sequence[str], lang: Lang
) -> EmailMessage:
    sender = from_address(config)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid("dmarctui-digest", domain=sender.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = lang
    msg.set_content(text, charset="utf-8")
    return msg


def send_mail(msg: EmailMessage, config: Config, recipients: Sequence[str]) -> None:
    """Hand ``msg`` to sendmail or SMTP (as ``[notice] send`` says) for exactly ``recipients``.

    Raises:
        SendError: nothing to send to, or the MTA or server did not take the message.
    """
    if not recipients:
        raise SendError("no recipients: set [digest] to in the configuration")
    transmit(msg, config, CheckedLetter(from_address(config), tuple(recipients)))
