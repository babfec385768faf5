"""Where notices go: a drafts folder or ``.eml`` file, and out by sendmail or SMTP once confirmed.

The drafts folder is the only mail folder dmarctui writes to (the report folder never is). A send
always writes the draft first, so a failed send loses nothing: :class:`SendError` says where the
draft is. Nothing is sent unless the caller passes ``confirmed=True`` after showing the
sender, recipients and subject (:func:`confirmation_text`). Every letter is checked
(:func:`dmarctui.letter_headers.check_letter`) before it is saved or sent, and it is sent to
the explicit list of its To and Cc addresses, never by letting sendmail read the headers
(``-t``). A demo configuration (:attr:`Config.demo`) cannot send at all.
"""

from __future__ import annotations

import mailbox
import os
import re
import shlex
import smtplib
import ssl
import subprocess
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal

from dmarctui.config import Config, SmtpSettings
from dmarctui.history import NoticeHistory
from dmarctui.letter_headers import LETTER_POLICY, CheckedLetter, LetterError, check_letter
from dmarctui.model import Finding
from dmarctui.notice import recipients

DraftFormat = Literal["maildir", "mh", "eml"]
SENDMAIL_TIMEOUT = 120
SMTP_TIMEOUT = 60


class OutboxError(Exception):
    """The draft could not be written; nothing was sent."""


class SendError(Exception):
    """Sending failed; ``draft`` is where the message was kept."""

    def __init__(self, message: str, draft: Path | None = None) -> None:
        super().__init__(message)
        self.draft = draft


class NotConfirmed(Exception):
    """``send`` was called without the user's confirmation; nothing was written or sent."""


def default_drafts_dir() -> Path:
    """``$XDG_DATA_HOME/dmarctui/drafts`` (a Maildir), used when the config names none."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "dmarctui" / "drafts"


def drafts_target(config: Config) -> Path:
    """The configured drafts folder (``[notice] drafts``), else :func:`default_drafts_dir`."""
    return Path(config.notice.drafts).expanduser() if config.notice.drafts else default_drafts_dir()


def draft_format(target: Path) -> DraftFormat:
    """How a draft is written to ``target``.

    An existing folder with ``cur``/``new``/``tmp`` is a Maildir; one with ``.mh_sequences``,
    Mew's ``.mew-summary`` or numbered files is MH; any other folder holds ``.eml`` files. A
    missing path ending in ``.eml`` (or an existing file) is one ``.eml`` file; any other
    missing path becomes a new Maildir.
    """
    if target.is_dir():
        if all((target / sub).is_dir() for sub in ("cur", "new", "tmp")):
            return "maildir"
        names = os.listdir(target)
        if ".mh_sequences" in names or ".mew-summary" in names or any(n.isdigit() for n in names):
            return "mh"
        return "eml"
    if target.exists() or target.suffix.lower() == ".eml":
        return "eml"
    return "maildir"


def checked(msg: EmailMessage) -> CheckedLetter:
    """:func:`check_letter` with its complaint as an :class:`OutboxError` (nothing written)."""
    try:
        return check_letter(msg)
    except LetterError as exc:
        raise OutboxError(f"the letter was not saved or sent: {exc}") from exc


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as written to files and piped to sendmail (LF line ends)."""
    return msg.as_bytes(policy=LETTER_POLICY)


def save_draft(msg: EmailMessage, target: Path, fmt: DraftFormat | None = None) -> Path:
    """Write ``msg`` as a draft and return the file it landed in.

    Args:
        msg: the notice.
        target: a Maildir (the message goes to ``new/`` through ``tmp/``), an MH folder (next
            number), a folder of ``.eml`` files, or an ``.eml`` file path (replaced atomically).
        fmt: force the folder kind; default: :func:`draft_format`.

    Raises:
        OutboxError: the letter fails its check, or the draft cannot be written (the message
            names the path and the reason).
    """
    checked(msg)
    kind = fmt or draft_format(target)
    data = message_bytes(msg)
    try:
        if kind == "maildir":
            target.parent.mkdir(parents=True, exist_ok=True)
            key = mailbox.Maildir(target, create=True).add(data)
            return target / "new" / key
        if kind == "mh":
            target.mkdir(parents=True, exist_ok=True)
            return _add_mh(target, data)
        if target.is_dir() or (fmt == "eml" and not target.suffix):
            return _add_eml_file(target, msg, data)
        return _write_eml(target, data)
    except (OSError, mailbox.Error) as exc:
        raise OutboxError(f"{target}: cannot write the draft: {exc}") from exc


def _add_mh(folder: Path, data: bytes) -> Path:
    box = mailbox.MH(folder, create=False)
    for _ in range(10):
        try:
            return folder / str(box.add(data))
        except FileExistsError:
            continue  # another client took the number; take the next one
    raise OutboxError(f"{folder}: no free message number after 10 tries")


def _add_eml_file(folder: Path, msg: EmailMessage, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    date = msg.get("Date")
    stamp = parsedate_to_datetime(str(date)).strftime("%Y%m%d-%H%M%S") if date else "draft"
    local = str(msg.get("Message-ID", "")).strip("<> ").partition("@")[0]
    stem = f"{stamp}-{re.sub(r'[^A-Za-z0-9.-]', '_', local)[:32]}".rstrip("-")
    for n in range(1000):
        path = folder / (f"{stem}.eml" if n == 0 else f"{stem}-{n}.eml")
        try:
            with path.open("xb") as out:
                out.write(data)
            return path
        except FileExistsError:
            continue
    raise OutboxError(f"{folder}: no free file name for {stem}.eml")


def _write_eml(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("xb") as out:
        out.write(data)
    os.replace(tmp, path)
    return path


def _method(config: Config) -> str:
    if config.notice.send == "smtp":
        smtp = config.notice.smtp
        login = f", login {smtp.user}" if smtp.user else ""
        tls = ", STARTTLS" if smtp.starttls else ""
        return f"SMTP {smtp.host}:{smtp.port}{tls}{login}"
    return f"{config.notice.sendmail} -oi (recipients given explicitly)"


SENDING_OFF_IN_DEMO = (
    "sending is off in the demo: its addresses are examples; d saves the letter as a draft"
    " in the demo's own folder"
)


def confirmation_text(msg: EmailMessage, config: Config) -> str:
    """What the user must see before confirming a send: From, To, Cc, Subject, and how."""
    lines = [f"Send this notice to {', '.join(recipients(msg))}?"]
    for name in ("From", "To", "Cc", "Subject"):
        if msg.get(name) is not None:
            lines.append(f"{name}: {msg[name]}")
    lines.append(f"Via: {_method(config)}")
    return "\n".join(lines)


def _sendmail(data: bytes, command: str, letter: CheckedLetter) -> None:
    argv = [*shlex.split(command), "-oi", "--", *letter.recipients]
    try:
        done = subprocess.run(
            argv, input=data, capture_output=True, timeout=SENDMAIL_TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        raise SendError(f"sendmail command not found: {argv[0]}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SendError(f"{argv[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().replace("\n", " ")
        raise SendError(f"{argv[0]} exited with status {done.returncode}: {detail or 'no message'}")


def _smtp(msg: EmailMessage, settings: SmtpSettings, letter: CheckedLetter) -> None:
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
            refused = client.send_message(
                msg, from_addr=letter.sender, to_addrs=list(letter.recipients)
            )
    except (OSError, smtplib.SMTPException) as exc:
        reason = str(exc).replace("\n", " ") or type(exc).__name__
        raise SendError(f"{where}: {reason}") from exc
    if refused:
        raise SendError(f"{where} refused {', '.join(sorted(refused))}")


def deliver(msg: EmailMessage, config: Config, *, confirmed: bool) -> None:
    """Hand the message to sendmail or the SMTP server, as the config says; no draft is kept.

    Raises:
        NotConfirmed: ``confirmed`` is false.
        SendError: the letter fails its check, the configuration is the demo's, or the MTA or
            server did not accept the message.
    """
    if not confirmed:
        raise NotConfirmed(
            "nothing was sent: sending a notice needs an explicit confirmation of its"
            " recipients and subject"
        )
    try:
        letter = check_letter(msg)
    except LetterError as exc:
        raise SendError(f"not sent: {exc}") from exc
    transmit(msg, config, letter)


def transmit(msg: EmailMessage, config: Config, envelope: CheckedLetter) -> None:
    """Hand ``msg`` to sendmail or SMTP (``[notice] send``) for exactly the envelope's
    recipients, never those of its headers (no ``sendmail -t``).

    Raises:
        SendError: the demo's configuration, or the MTA or server did not take the message.
    """
    if config.demo:
        raise SendError(SENDING_OFF_IN_DEMO)
    if config.notice.send == "smtp":
        _smtp(msg, config.notice.smtp, envelope)
    else:
        _sendmail(message_bytes(msg), config.notice.sendmail, envelope)


def send(
    msg: EmailMessage, config: Config, *, confirmed: bool, draft_to: Path | None = None
) -> Path:
    """Save the draft, then send; returns the draft path.

    Raises:
        NotConfirmed: ``confirmed`` is false (nothing is written or sent).
        OutboxError: the draft could not be written (nothing is sent).
        SendError: sending failed; the draft is kept and named in the message and ``.draft``.
    """
    if not confirmed:
        deliver(msg, config, confirmed=False)
    draft = save_draft(msg, draft_to or drafts_target(config))
    try:
        deliver(msg, config, confirmed=True)
    except SendError as exc:
        raise SendError(f"{exc}; the draft is kept in {draft}", draft=draft) from exc
    return draft


def draft_notice(
    msg: EmailMessage,
    findings: Sequence[Finding],
    target: Path,
    *,
    history: Path | None = None,
) -> Path:
    """Save a draft and record it in the notice history."""
    path = save_draft(msg, target)
    with NoticeHistory.open(history) as notices:
        notices.add(msg, findings, status="drafted", draft_path=path)
    return path


def send_notice(
    msg: EmailMessage,
    findings: Sequence[Finding],
    config: Config,
    *,
    confirmed: bool,
    draft_to: Path | None = None,
    history: Path | None = None,
) -> Path:
    """Save, record as drafted, send, record as sent. A failed send stays recorded as a draft."""
    if not confirmed:
        deliver(msg, config, confirmed=False)
    path = draft_notice(msg, findings, draft_to or drafts_target(config), history=history)
    try:
        deliver(msg, config, confirmed=True)
    except SendError as exc:
        raise SendError(f"{exc}; the draft is kept in {path}", draft=path) from exc
    with NoticeHistory.open(history) as notices:
        notices.add(msg, findings, status="sent", draft_path=path)
    return path
