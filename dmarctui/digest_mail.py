"""The digest by mail: built from validated addresses only, sent to an explicit recipient list.

Unlike a notice, a digest goes out unattended from cron, so the recipients are never taken from
the message headers (no ``sendmail -t``): they are the validated ``[digest] to`` addresses, given
to sendmail after ``--`` or to SMTP as the envelope.
"""

from __future__ import annotations

import getpass
import shlex
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from dmarctui.config import Config, Lang
from dmarctui.outbox import SENDMAIL_TIMEOUT, SMTP_TIMEOUT, SendError, message_bytes


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
    if config.notice.send == "smtp":
        _smtp(msg, config, recipients)
    else:
        _sendmail(msg, config.notice.sendmail, recipients)


def _sendmail(msg: EmailMessage, command: str, recipients: Sequence[str]) -> None:
    argv = [*shlex.split(command), "-oi", "--", *recipients]
    try:
        done = subprocess.run(
            argv,
            input=message_bytes(msg),
            capture_output=True,
            timeout=SENDMAIL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise SendError(f"sendmail command not found: {argv[0]}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SendError(f"{argv[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().replace("\n", " ")
        raise SendError(f"{argv[0]} exited with status {done.returncode}: {detail or 'no message'}")


def _smtp(msg: EmailMessage, config: Config, recipients: Sequence[str]) -> None:
    settings = config.notice.smtp
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        client: smtplib.SMTP
        if settings.port == 465:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        with client:
            if settings.starttls and settings.port != 465:
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            refused = client.send_message(msg, to_addrs=list(recipients))
    except (OSError, smtplib.SMTPException) as exc:
        reason = str(exc).replace("\n", " ") or type(exc).__name__
        raise SendError(f"{where}: {reason}") from exc
    if refused:
        raise SendError(f"{where} refused {', '.join(sorted(refused))}")
