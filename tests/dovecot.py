"""A throw-away Dovecot IMAP server on loopback for the IMAP tests.

Started from the Debian package's binary (``dovecot-imapd``) with its own config, user, TLS
certificates (a test CA made with ``trustme``) and ports under a temporary directory: no system
service is touched. The harness writes to it with real IMAP commands (APPEND, STORE, EXPUNGE,
DELETE); dmarctui itself never does.
"""

from __future__ import annotations

import contextlib
import getpass
import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "reports"
PASSWORD = "correct horse battery"
UTF8_USER, UTF8_PASSWORD = "kanri", "pässwört 日本"
"""A second account whose password is not ASCII (Dovecot allows only ASCII user names)."""
PACKAGE = "dovecot-imapd"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot",) if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]

    def url(self, folder: str = "INBOX", *, starttls: bool = False, port: int | None = None) -> str:
        scheme, default = ("imap", self.imap_port) if starttls else ("imaps", self.imaps_port)
        return f"{scheme}://{USER}@127.0.0.1:{port or default}/{folder}"

    def connect(self) -> imaplib.IMAP4_SSL:
        """The harness's own read-write connection (as another mail client would be)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=context)
        conn.login(USER, PASSWORD)
        return conn

    def append(self, folder: str, messages: list[bytes]) -> None:
        conn = self.connect()
        try:
            conn.create(folder)  # NO when it exists: fine
            for raw in messages:
                typ, data = conn.append(folder, None, None, raw)
                assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        """UID -> flags, read with EXAMINE (does not change them itself)."""
        conn = self.connect()
        try:
            conn.select(f'"{folder}"', readonly=True)
            _, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
        finally:
            conn.logout()
        out = {}
        for line in data:
            if not isinstance(line, bytes):
                continue
            uid = int(line.split(b"UID ")[1].split()[0].rstrip(b")"))
            flags = line.split(b"FLAGS (")[1].split(b")")[0]
            out[uid] = tuple(sorted(flags.split()))
        return out

    def delete_uids(self, folder: str, uids: list[int]) -> None:
        conn = self.connect()
        try:
            conn.select(f'"{folder}"')
            conn.uid("STORE", ",".join(map(str, uids)), "+FLAGS", "(\\Deleted)")
            conn.expunge()
        finally:
            conn.logout()

    def recreate(self, folder: str, messages: list[bytes]) -> None:
        """Delete and create the folder again: the server gives it a new UIDVALIDITY."""
        conn = self.connect()
        try:
            conn.delete(f'"{folder}"')
        finally:
            conn.logout()
        time.sleep(1.1)  # Dovecot's UIDVALIDITY is the creation time in seconds
        self.append(folder, messages)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Dovecot:
    """Start Dovecot under a new directory of /tmp; raises RuntimeError with its log when it does
    not come up. Not under pytest's tmp_path: Dovecot's auth process runs as its own user and
    must reach the passwd file, and pytest's directories are private to their owner."""
    import trustme

    binary = dovecot_binary()
    assert binary is not None
    root = Path(tempfile.mkdtemp(prefix="dmarctui-dovecot-"))
    root.chmod(0o711)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    with (root / "server.pem").open("wb") as out:
        for pem in cert.cert_chain_pems:
            out.write(pem.bytes())
    # Dovecot refuses to deliver as root: as root, the mail user is nobody.
    uid, gid = (os.getuid(), os.getgid()) if os.getuid() != 0 else (65534, 65534)
    home = root / "home"
    home.mkdir(exist_ok=True)
    if os.getuid() == 0:
        os.chown(home, uid, gid)
    (root / "passwd").write_text(
        f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n"
        f"{UTF8_USER}:{{PLAIN}}{UTF8_PASSWORD}:{uid}:{gid}::{home}::\n",
        encoding="utf-8",
    )
    (root / "passwd").chmod(0o644)
    me = getpass.getuser()
    login_user, internal_user = ("dovenull", "dovecot") if os.getuid() == 0 else (me, me)
    imap_port, imaps_port = _free_port(), _free_port()
    for sub in ("run", "state"):
        (root / sub).mkdir(exist_ok=True)
    (root / "dovecot.conf").write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    server = Dovecot(root, imap_port, imaps_port, ca_file, process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError, imaplib.IMAP4.error, ssl.SSLError):
            server.connect().logout()
            return server
        time.sleep(0.2)
    log_file = root / "dovecot.log"
    log = log_file.read_text(errors="replace") if log_file.exists() else ""
    process.terminate()
    err = process.communicate(timeout=10)[1].decode(errors="replace")
    server.stop()
    raise RuntimeError(f"dovecot did not start:\n{err}\n{log[-2000:]}")


class DroppingProxy:
    """A TCP relay to the server whose connections the test can cut at a moment it chooses:
    a connection lost in the middle of a scan, as a real network loses it."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self.sockets += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cut()
        self.listener.close()
        for s in self.sockets:
            s.close()


@contextlib.contextmanager
def running() -> Iterator[Dovecot]:
    server = start()
    try:
        yield server
    finally:
        server.stop()
