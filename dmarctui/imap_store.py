"""A report folder on an IMAP server, opened strictly read-only like a local one.

``imaps://user@host[:port]/Folder`` (TLS from the start) or ``imap://…`` (STARTTLS, required).
The folder is opened with ``EXAMINE`` and messages are read with ``BODY.PEEK[]``: no flag ever
changes, ``\\Seen`` included. The connection refuses, before anything is sent, every command
that is not on a short read-only list (:data:`ALLOWED`), so ``STORE``, ``COPY``, ``MOVE``,
``EXPUNGE``, ``APPEND`` or ``CLOSE`` cannot go out by mistake.

Messages are keyed ``UIDVALIDITY:UID``: a rescan lists UIDs and sizes only, fetches what is new
in batches, and a UIDVALIDITY change (the server renumbered the folder) makes every old key gone
and every message new. The password comes from ``password_command``, an environment variable or
a prompt, stays in memory only, and never reaches the config, the index or a log.

The standard library's ``imaplib`` is used rather than ``imapclient``: it is maintained with
Python itself, already speaks EXAMINE, UID FETCH, STARTTLS and IMAPS with an ``SSLContext``,
and dmarctui needs no more than that, so the product gains no dependency.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import imaplib
import os
import re
import shlex
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dmarctui.imap_settings import PASSWORD_ENV, ImapSettings
from dmarctui.mailstore import Listed, MailStore, MailStoreError, MessageGone
from dmarctui.model import FolderFormat, MessageRef

FETCH_BATCH = 64
"""Messages per ``UID FETCH``: few round trips, and a batch stays a few MB."""
TIMEOUT = 60.0
"""Seconds a server may stay silent before the connection counts as lost."""
ALLOWED = frozenset(
    {"CAPABILITY", "LOGIN", "AUTHENTICATE", "STARTTLS", "EXAMINE", "UID", "NOOP", "LOGOUT", "ID"}
)
"""Every command dmarctui may send; ``UID`` only with ``FETCH`` or ``SEARCH``."""


class ImapError(MailStoreError):
    """The server could not be used; ``str()`` is one line naming the folder and why."""


@dataclass(frozen=True)
class ImapAddress:
    starttls: bool
    user: str
    host: str
    port: int
    folder: str

    @property
    def url(self) -> str:
        scheme = "imap" if self.starttls else "imaps"
        default = 143 if self.starttls else 993
        port = "" if self.port == default else f":{self.port}"
        return f"{scheme}://{self.user}@{self.host}{port}/{self.folder}"


def parse_imap_url(text: str) -> ImapAddress:
    """``imaps://user@host[:port]/Folder``; a password in the URL is refused, not used."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ImapError(f"{text}: not an imap:// or imaps:// address")
    if parts.password is not None:
        raise ImapError(
            "put no password in the IMAP address: use password_command in the config's [imap]"
            f" section, ${PASSWORD_ENV}, or answer the prompt"
        )
    try:
        port = parts.port
    except ValueError:
        raise ImapError(f"{text}: the port is not a number from 1 to 65535") from None
    if not parts.hostname or not parts.username:
        raise ImapError(f"{text}: write it as {scheme}://user@host/Folder")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    starttls = scheme == "imap"
    return ImapAddress(
        starttls=starttls,
        user=unquote(parts.username),
        host=parts.hostname,
        port=port or (143 if starttls else 993),
        folder=folder,
    )


def _clean(text: object, limit: int = 200) -> str:
    """A server's words as one short printable line (the server is not trusted either)."""
    if isinstance(text, (list, tuple)):
        text = b" ".join(t for t in text if isinstance(t, bytes)) or str(text)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = "".join(ch if ch.isprintable() else " " for ch in str(text)).strip()
    return line[:limit] + ("…" if len(line) > limit else "")


def _quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded = _utf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


class _ReadOnlyMixin:
    """Refuses any command outside :data:`ALLOWED` before it reaches the socket."""

    def _command(self, name: str, *args: object) -> object:
        if name not in ALLOWED or (
            name == "UID" and str(args[0] if args else "").upper() not in ("FETCH", "SEARCH")
        ):
            raise imaplib.IMAP4.error(f"dmarctui is read-only: {name} is never sent")
        return super()._command(name, *args)  # type: ignore[misc]


class _Imap(_ReadOnlyMixin, imaplib.IMAP4):
    pass


class _ImapTls(_ReadOnlyMixin, imaplib.IMAP4_SSL):
    pass


_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class ImapStore(MailStore):
    """One IMAP folder. Connects on first use; ``close()`` logs out."""

    format: FolderFormat = "imap"
    remote = True

    def __init__(
        self, address: ImapAddress, settings: ImapSettings | None = None, *, warn: bool = True
    ) -> None:
        # An identity, not a file: the index keys its file name and its folder binding on it.
        super().__init__(Path("/imap") / f"{address.user}@{address.host}:{address.port}"
                         / address.folder)  # fmt: skip
        self.address = address
        self.settings = settings or ImapSettings()
        self.warn = warn
        self._conn: imaplib.IMAP4 | None = None
        self._password: str | None = None
        self._uidvalidity: int | None = None
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return self.address.url

    # ----------------------------------------------------------------------- connection

    def _context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ImapError(f"cannot read ca_file {self.settings.ca_file}: {exc}") from None
        if self.settings.insecure_tls:
            if self.warn:
                print(
                    f"dmarctui: warning: TLS certificate of {self.address.host} is NOT verified"
                    " (--insecure-tls or [imap] insecure_tls): anyone on the path can read the"
                    " password and the reports",
                    file=sys.stderr,
                )
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def prepare(self) -> None:
        self.password()

    def password(self) -> str:
        """From ``password_command``, the environment, or a prompt; asked once per process."""
        if self._password is not None:
            return self._password
        where = f"{self.address.user}@{self.address.host}"
        command = self.settings.password_command
        if command:
            try:
                done = subprocess.run(
                    shlex.split(command), capture_output=True, timeout=120, check=False
                )
            except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
                raise ImapError(f"[imap] password_command could not run: {exc}") from None
            if done.returncode != 0:
                raise ImapError(f"[imap] password_command failed (exit {done.returncode})")
            lines = done.stdout.decode("utf-8", "replace").splitlines()
            self._password = lines[0] if lines else ""
        elif os.environ.get(self.settings.password_env):
            self._password = os.environ[self.settings.password_env]
        elif sys.stdin is not None and sys.stdin.isatty():
            self._password = getpass.getpass(f"IMAP password for {where}: ")
        else:
            raise ImapError(
                f"no password for {where}: set password_command in the config's [imap] section"
                f" or ${self.settings.password_env}"
            )
        return self._password

    def _connect(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        a = self.address
        context = self._context()
        try:
            if a.starttls:
                conn: imaplib.IMAP4 = _Imap(a.host, a.port, timeout=TIMEOUT)
                try:
                    conn.starttls(ssl_context=context)
                except imaplib.IMAP4.error as exc:
                    conn.shutdown()
                    raise ImapError(
                        f"{self.url}: the server offers no STARTTLS ({_clean(str(exc))});"
                        " dmarctui never logs in unencrypted"
                    ) from None
            else:
                conn = _ImapTls(a.host, a.port, ssl_context=context, timeout=TIMEOUT)
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(
                f"{self.url}: the server's TLS certificate is not trusted"
                f" ({_clean(exc.verify_message or exc)})"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"{self.url}: cannot connect: {_clean(_why(exc))}") from None
        try:
            _login(conn, a.user, self.password())
        except imaplib.IMAP4.error as exc:
            _drop(conn)
            raise ImapError(f"{self.url}: login refused for {a.user}: {_clean(str(exc))}") from None
        except OSError as exc:
            _drop(conn)
            raise ImapError(f"{self.url}: connection lost at login: {_why(exc)}") from None
        try:
            typ, data = conn.select(_quote(a.folder), readonly=True)  # EXAMINE
        except (imaplib.IMAP4.error, OSError) as exc:
            _drop(conn)
            raise ImapError(f"{self.url}: cannot open the folder: {_clean(_why(exc))}") from None
        if typ != "OK":
            _drop(conn)
            raise ImapError(f"{self.url}: no folder {a.folder!r} on the server: {_clean(data)}")
        codes = _responses(conn, "UIDVALIDITY")
        self._uidvalidity = int(codes[-1]) if codes and codes[-1].strip().isdigit() else 0
        self._conn = conn
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                _drop(self._conn)
                self._conn = None

    def _lost(self, exc: BaseException, doing: str) -> ImapError:
        self.close()
        return ImapError(f"{self.url}: connection lost while {doing}: {_clean(_why(exc))}")

    # ----------------------------------------------------------------------- listing

    def refs(self) -> Iterator[MessageRef]:
        return iter([MessageRef(*listed) for listed in self.listing()])

    def listing(self) -> list[Listed]:
        """Every message as ``UIDVALIDITY:UID`` with its size; no body is read."""
        with self._lock:
            conn = self._connect()
            try:
                conn.noop()  # new messages and expunges since EXAMINE are announced now
                typ, data = conn.uid("FETCH", "1:*", "(UID RFC822.SIZE)")
            except (imaplib.IMAP4.abort, OSError) as exc:
                raise self._lost(exc, "listing") from None
            except imaplib.IMAP4.error as exc:
                raise ImapError(f"{self.url}: listing refused: {_clean(exc)}") from None
            if typ != "OK":
                raise ImapError(f"{self.url}: listing refused: {_clean(data)}")
            found: dict[int, int] = {}
            for item in data:
                line = item[0] if isinstance(item, tuple) else item
                if not isinstance(line, bytes):
                    continue
                uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
                if uid and size:
                    found[int(uid.group(1))] = int(size.group(1))
            validity = self._uidvalidity
        # The location is the key too: the same UID under another UIDVALIDITY is another message.
        keys = (f"{validity}:{uid}" for uid in sorted(found))
        return [(key, key, found[int(key.split(":")[1])], 0.0) for key in keys]

    # ----------------------------------------------------------------------- reading

    def read(self, ref: MessageRef) -> bytes:
        for _, raw in self.fetch([ref]):
            if raw is None:
                raise MessageGone(f"message {ref.key} is no longer in {self.url}")
            return raw
        raise MessageGone(f"message {ref.key} is no longer in {self.url}")

    def fetch(self, refs: list[MessageRef]) -> Iterator[tuple[MessageRef, bytes | None]]:
        """The bytes of ``refs`` in batches of ``UID FETCH … BODY.PEEK[]``; None for a message
        gone since it was listed (or listed under an older UIDVALIDITY)."""
        for start in range(0, len(refs), FETCH_BATCH):
            batch = refs[start : start + FETCH_BATCH]
            with self._lock:
                conn = self._connect()
                prefix = f"{self._uidvalidity}:"
                wanted = [r for r in batch if r.key.startswith(prefix)]
                got: dict[int, bytes] = {}
                if wanted:
                    uids = ",".join(r.key[len(prefix) :] for r in wanted)
                    try:
                        typ, data = conn.uid("FETCH", uids, "(UID BODY.PEEK[])")
                    except (imaplib.IMAP4.abort, OSError) as exc:
                        raise self._lost(exc, "fetching messages") from None
                    except imaplib.IMAP4.error as exc:
                        raise ImapError(f"{self.url}: fetch refused: {_clean(exc)}") from None
                    if typ != "OK":
                        raise ImapError(f"{self.url}: fetch refused: {_clean(data)}")
                    for item in data:
                        if isinstance(item, tuple) and len(item) == 2:
                            found = _FETCH_UID.search(item[0])
                            if found:
                                got[int(found.group(1))] = item[1]
            for ref in batch:
                uid = ref.key.rpartition(":")[2]
                yield ref, got.get(int(uid)) if uid.isdigit() else None


def _login(conn: imaplib.IMAP4, user: str, password: str) -> None:
    """LOGIN, or AUTHENTICATE PLAIN in UTF-8 when the name or password is not ASCII (LOGIN's
    strings are ASCII in ``imaplib``, and many passwords are not)."""
    if (user + password).isascii():
        conn.login(user, password)
        return
    secret = f"\0{user}\0{password}".encode()
    conn.authenticate("PLAIN", lambda _challenge: secret)


def _responses(conn: imaplib.IMAP4, code: str) -> list[bytes]:
    _, data = conn.response(code)
    return [d for d in data if isinstance(d, bytes)]


def _drop(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (imaplib.IMAP4.error, OSError):
        with contextlib.suppress(OSError):
            conn.shutdown()


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return f"no answer for {TIMEOUT:.0f} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def open_imap(
    url: str, settings: ImapSettings | None = None, *, insecure_tls: bool = False
) -> ImapStore:
    """The store for ``url``; the config's ``[imap]`` settings apply unless given.
    ``insecure_tls`` (``--insecure-tls``) turns certificate checks off, with a warning."""
    if settings is None:
        settings = load_imap_settings()
    if insecure_tls:
        settings = replace(settings, insecure_tls=True)
    if url.rstrip("/").lower() in ("imap:", "imaps:", "imap", "imaps"):
        if not settings.url:
            raise ImapError("no IMAP account configured: set url in the config's [imap] section")
        url = settings.url
    return ImapStore(parse_imap_url(url), settings)


def load_imap_settings() -> ImapSettings:
    """``[imap]`` of the default config file; problems there leave the defaults."""
    from dmarctui.config import load_config

    config, _ = load_config()
    return config.imap
