"""Read-only access to a mail folder: Maildir, MH (including Mew's ``+folder``) or mbox.

The stdlib ``mailbox`` module is not used on purpose: it creates missing folders, takes lock
files and re-reads whole mboxes, while dmarctui must leave the folder exactly as it found it and
work while the MTA delivers and another client moves messages from ``new/`` to ``cur/``. Listing
is cheap (directory listing and ``stat`` only for Maildir and MH) so that a rescan can tell what
changed before reading anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import BinaryIO

from dmarctui.model import FolderFormat, MessageRef

FORMATS: tuple[FolderFormat, ...] = ("maildir", "mh", "mbox")

_MH_MARKERS = (".mh_sequences", ".mew-summary", ".mew-mtime", ".xmhcache")
_MBOX_CHUNK = 1 << 20
_MBOXRD_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


Listed = tuple[str, str, int, float]
"""A ``MessageRef``'s fields in order: key, location, size, mtime."""


class MailStoreError(OSError):
    """The folder cannot be opened or read; ``str()`` is one line naming the path and why.

    An ``OSError`` so that code which already guards file access also catches it.
    """


class MessageGone(MailStoreError):
    """A listed message is no longer in the folder (expunged, or renumbered by MH ``pack``)."""


class MailStore(ABC):
    """One mail folder, opened read-only."""

    format: FolderFormat
    remote = False
    """Messages come over the network: the parent fetches them in batches (``fetch``) instead
    of each parser process reading them by path (``imap_store.ImapStore``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @abstractmethod
    def refs(self) -> Iterator[MessageRef]:
        """Every message, in folder order, with the facts that tell whether it changed."""

    def listing(self) -> list[Listed]:
        """``refs()`` as plain tuples: a rescan of 100,000 unchanged messages builds no objects."""
        return [(ref.key, ref.location, ref.size, ref.mtime) for ref in self.refs()]

    @abstractmethod
    def read(self, ref: MessageRef) -> bytes:
        """The raw message bytes; raises ``MessageGone`` when the message has vanished."""

    def fetch(self, refs: list[MessageRef]) -> Iterator[tuple[MessageRef, bytes | None]]:
        """Each ref with its bytes, None when gone; a remote store reads them in batches."""
        for ref in refs:
            try:
                yield ref, self.read(ref)
            except MessageGone:
                yield ref, None

    def close(self) -> None:  # noqa: B027 (a local folder holds nothing to let go of)
        """Let go of any connection."""

    def prepare(self) -> None:  # noqa: B027 (a local folder needs nothing)
        """Ask the user now for what opening needs (an IMAP password), before a UI owns the
        terminal and a prompt could not be answered."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


class MaildirStore(MailStore):
    """A Maildir: messages in ``new/`` and ``cur/``; ``tmp/`` is still being written, so skipped."""

    format: FolderFormat = "maildir"

    def refs(self) -> Iterator[MessageRef]:
        return iter([MessageRef(*listed) for listed in self.listing()])

    def listing(
        self,
        known: Mapping[str, tuple[int, float]] | None = None,
        subfolders: tuple[str, ...] = ("new", "cur"),
    ) -> list[Listed]:
        """Every message; an entry that cannot be listed (a subfolder, a symlink loop) is
        listed too, as an error entry whose ``read`` says why, so the rest is still scanned.

        ``known`` maps locations (``cur/NAME``) to the size and mtime to list them with instead
        of a stat: the caller vouches that their directory did not change since (a file name
        there is never reused for other bytes, by Maildir's rules). ``subfolders``: only
        these are listed.
        """
        found: dict[str, Listed] = {}
        known = known or {}
        for sub in ("new", "cur"):  # cur second: a message caught mid-move is listed in cur/
            if sub not in subfolders:
                continue
            prefix = f"{sub}/"
            try:
                for name, facts in _regular_files(self.path / sub, prefix, known):
                    unique = name.partition(":")[0]  # maildir_unique_name, inlined
                    if facts is None:
                        found[unique] = (unique, prefix + name, 0, 0.0)
                    else:
                        found[unique] = (unique, prefix + name, *facts)
            except MailStoreError:
                found[prefix] = (prefix, prefix, 0, 0.0)  # no unique name holds a "/"
        return [found[name] for name in sorted(found)]

    def read(self, ref: MessageRef) -> bytes:
        if ref.location.endswith("/"):  # a subfolder that could not be listed
            _scandir(self.path / ref.location.rstrip("/"))  # raises, saying why
            raise MailStoreError(
                f"cannot list {self.path / ref.location}; its messages were skipped"
            )
        try:
            return _read_file(self.path / ref.location, ref.key)
        except FileNotFoundError:
            pass
        for sub in ("cur", "new"):  # another client moved it or changed its flags
            for entry in _scandir(self.path / sub):
                if maildir_unique_name(entry.name) == ref.key:
                    try:
                        return _read_file(Path(entry.path), ref.key)
                    except FileNotFoundError:
                        continue
        raise MessageGone(f"message {ref.key} is no longer in {self.path}")


class MhStore(MailStore):
    """An MH folder: numbered files; dot files (``.mh_sequences``, Mew's ``.mew-*``) are ignored."""

    format: FolderFormat = "mh"

    def refs(self) -> Iterator[MessageRef]:
        numbered: list[tuple[int, MessageRef]] = []
        for entry in _scandir(self.path):
            if not entry.name.isdigit():
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except FileNotFoundError:
                continue
            except OSError:  # a symlink loop, no permission: an error entry, read says why
                key = f"{int(entry.name)}:unreadable"
                numbered.append((int(entry.name), MessageRef(key, entry.name, 0, 0.0)))
                continue
            key = f"{int(entry.name)}:{stat.st_size}:{stat.st_mtime_ns}"
            numbered.append(
                (int(entry.name), MessageRef(key, entry.name, stat.st_size, stat.st_mtime))
            )
        numbered.sort(key=lambda pair: pair[0])
        return iter([ref for _, ref in numbered])

    def read(self, ref: MessageRef) -> bytes:
        try:
            data = _read_file(self.path / ref.location, ref.key)
        except FileNotFoundError:
            raise MessageGone(f"message {ref.location} is no longer in {self.path}") from None
        if len(data) != ref.size:
            raise MessageGone(
                f"message {ref.location} in {self.path} was replaced since the folder was listed"
            )
        return data


class MboxStore(MailStore):
    """An mbox file (mboxrd quoting): messages start at lines beginning with ``From ``."""

    format: FolderFormat = "mbox"

    @property
    def size(self) -> int:
        """Current file size: a rescan may start here if the file only grew."""
        return _stat(self.path).st_size

    @property
    def mtime(self) -> float:
        return _stat(self.path).st_mtime

    def refs(self, start_offset: int = 0) -> Iterator[MessageRef]:
        """Messages from ``start_offset`` on, which must be where a ``From `` line starts.

        Streams the file: memory use is one message plus one read buffer.
        """
        mtime = self.mtime
        with self._open() as file:
            file.seek(start_offset)
            head = file.read(5)
            if not head:
                return
            if head != b"From ":
                raise MailStoreError(
                    f"{self.path}: no message starts at byte {start_offset}"
                    " (the mbox was rewritten, not appended to)"
                )
            file.seek(start_offset)
            for offset, region in _mbox_regions(file, start_offset):
                body = _mbox_body(region)
                digest = hashlib.sha256(body).hexdigest()[:16]
                yield MessageRef(f"{offset}:{digest}", f"{offset}:{len(region)}", len(body), mtime)

    def read(self, ref: MessageRef) -> bytes:
        offset, length = (int(part) for part in ref.location.split(":"))
        with self._open() as file:
            file.seek(offset)
            region = file.read(length)
        if len(region) != length or not region.startswith(b"From "):
            raise MessageGone(f"message at byte {offset} is no longer in {self.path}")
        body = _mbox_body(region)
        if f"{offset}:{hashlib.sha256(body).hexdigest()[:16]}" != ref.key:
            raise MessageGone(f"message at byte {offset} in {self.path} changed since listing")
        return body

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise MailStoreError(f"cannot read mbox {self.path}: {_why(exc)}") from None


def open_store(path: str | os.PathLike[str], fmt: FolderFormat | None = None) -> MailStore:
    """Open ``path`` read-only as ``fmt``, or as whatever format its layout shows; an
    ``imap://`` or ``imaps://`` address opens an IMAP folder (``imap_store``)."""
    if isinstance(path, str) and path.lower().startswith(("imap:", "imaps:")):
        from dmarctui.imap_store import open_imap

        return open_imap(path)
    folder = Path(path).expanduser()
    if fmt is not None and fmt not in FORMATS:
        raise MailStoreError(f"{folder}: unknown folder format {fmt!r} (use maildir, mh or mbox)")
    is_dir = S_ISDIR(_stat(folder).st_mode)
    detected = fmt or _detect(folder, is_dir)
    if detected == "mbox":
        if is_dir:
            raise MailStoreError(f"{folder}: is a directory, not an mbox file")
        if fmt is not None:
            _detect(folder, is_dir)  # a forced mbox must still start with a "From " line
        return MboxStore(folder)
    if not is_dir:
        raise MailStoreError(f"{folder}: is a file, not a {detected} directory")
    if detected == "maildir":
        missing = [sub for sub in ("cur", "new") if not (folder / sub).is_dir()]
        if missing:
            subdirs = " or ".join(f"{sub}/" for sub in missing)
            raise MailStoreError(f"{folder}: not a Maildir (no {subdirs} inside)")
        return MaildirStore(folder)
    names = [entry.name for entry in _scandir(folder)]  # fails now, with the reason
    if "cur" in names and "new" in names and not any(name.isdigit() for name in names):
        raise MailStoreError(
            f"{folder}: a Maildir (cur/ and new/ inside), not an MH folder; use --format maildir"
        )
    return MhStore(folder)


def read_message(fmt: FolderFormat, folder: Path | str, ref: MessageRef) -> bytes:
    """Read one message given only picklable facts, e.g. inside a worker process."""
    return _store_for(fmt, str(folder)).read(ref)


def maildir_unique_name(filename: str) -> str:
    """The part of a Maildir file name that survives flag changes (before ``:2,``)."""
    return filename.split(":", 1)[0]


@lru_cache(maxsize=8)
def _store_for(fmt: FolderFormat, folder: str) -> MailStore:
    return open_store(folder, fmt)


def _detect(folder: Path, is_dir: bool) -> FolderFormat:
    if not is_dir:
        try:
            with folder.open("rb") as file:
                first = file.read(5)
        except OSError as exc:
            raise MailStoreError(f"cannot read {folder}: {_why(exc)}") from None
        if first in (b"", b"From "):
            return "mbox"
        raise MailStoreError(
            f"{folder}: a file that does not start with a 'From ' line, so not an mbox"
        )
    if (folder / "cur").is_dir() and (folder / "new").is_dir():
        return "maildir"
    names = [entry.name for entry in _scandir(folder)]
    if any(name.isdigit() for name in names) or any(name in _MH_MARKERS for name in names):
        return "mh"
    raise MailStoreError(
        f"{folder}: not a mail folder (no cur/ and new/ for Maildir, no numbered MH messages)"
    )


def _mbox_regions(file: BinaryIO, start: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each message from its ``From `` line to the next one, streaming."""
    buffer = b""
    buffer_offset = start
    message_start = 0  # index in buffer of the current message's From line
    search_from = 1
    while True:
        chunk = file.read(_MBOX_CHUNK)
        buffer += chunk
        while True:
            found = buffer.find(b"\nFrom ", search_from)
            if found < 0:
                break
            yield buffer_offset + message_start, buffer[message_start : found + 1]
            message_start = found + 1
            search_from = found + 2
        if not chunk:
            if buffer[message_start:]:
                yield buffer_offset + message_start, buffer[message_start:]
            return
        buffer = buffer[message_start:]
        buffer_offset += message_start
        search_from = max(1, len(buffer) - 5)
        message_start = 0


def _mbox_body(region: bytes) -> bytes:
    """The message inside an mbox region: no ``From `` line, no separating blank line, unquoted."""
    newline = region.find(b"\n")
    body = region[newline + 1 :] if newline >= 0 else b""
    if body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    elif body.endswith(b"\n\n"):
        body = body[:-1]
    if b">From " in body:
        body = _MBOXRD_QUOTED.sub(rb"\1", body)
    return body


def _read_file(path: Path, key: str) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise MailStoreError(f"cannot read message {key} ({path}): {_why(exc)}") from None


def _scandir(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except FileNotFoundError:
        if directory.parent.is_dir() and directory.name in ("cur", "new"):
            return []  # a Maildir subfolder removed under us: no messages there
        raise MailStoreError(f"cannot list {directory}: no such directory") from None
    except OSError as exc:
        raise MailStoreError(f"cannot list {directory}: {_why(exc)}") from None


def _regular_files(
    directory: Path, prefix: str = "", known: Mapping[str, tuple[int, float]] | None = None
) -> Iterator[tuple[str, tuple[int, float] | None]]:
    """(name, (size, mtime)) of each regular file in a Maildir subfolder, dot files skipped;
    None for an entry that cannot be looked at (a symlink loop): reading it will say why.
    Names whose ``prefix + name`` is in ``known`` take its size and mtime without a stat.

    Names are stat'ed relative to the open directory: cheaper than ``DirEntry.stat`` for
    100,000 files. A file gone between listing and stat was moved by another client (to
    ``cur/``, listed after ``new/``) or deleted, and is skipped.
    """
    known = known or {}
    if os.stat not in os.supports_dir_fd:
        for entry in _scandir(directory):
            if entry.name.startswith("."):
                continue
            facts = known.get(prefix + entry.name)
            if facts is not None:
                yield entry.name, facts
                continue
            try:
                if entry.is_file():
                    stat = entry.stat()
                    yield entry.name, (stat.st_size, stat.st_mtime)
            except FileNotFoundError:
                continue
            except OSError:
                yield entry.name, None
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        _scandir(directory)  # the same answer as for any listing: empty, or why not
        return
    except OSError as exc:
        raise MailStoreError(f"cannot list {directory}: {_why(exc)}") from None
    try:
        try:
            names = os.listdir(fd)
        except OSError as exc:
            raise MailStoreError(f"cannot list {directory}: {_why(exc)}") from None
        for name in names:
            if name.startswith("."):
                continue
            facts = known.get(prefix + name)
            if facts is not None:
                yield name, facts
                continue
            try:
                stat = os.stat(name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError:
                yield name, None
                continue
            if S_ISREG(stat.st_mode):
                yield name, (stat.st_size, stat.st_mtime)
    finally:
        os.close(fd)


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except FileNotFoundError:
        raise MailStoreError(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise MailStoreError(f"{path}: {_why(exc)}") from None


def _why(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
