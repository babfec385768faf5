"""Write each distinct report's XML to a directory under its conventional name.

This replaces saving attachments by hand in a mail reader. Names never come from the mail
unchecked: the result is always a plain file name inside the chosen directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dmarctui.analysis import MessageOutcome
from dmarctui.ledger import Ledger
from dmarctui.mailstore import MailStore
from dmarctui.model import Bucket, FoundReport
from dmarctui.payloads import Limits
from dmarctui.scan import ScanResult, drain, scan_iter

if TYPE_CHECKING:
    from dmarctui.index import Index, ReportRow

CONVENTIONAL = re.compile(
    r"^(?P<stem>[^!/\\]+![^!/\\]+!\d+!\d+(?:![^/\\]*?)?)\.xml(?:\.gz|\.zip)?$", re.IGNORECASE
)
UNSAFE = re.compile(r"[^A-Za-z0-9._!@+=-]")


@dataclass(frozen=True, slots=True)
class ExtractAction:
    action: Literal["wrote", "skipped"]
    path: Path
    why: str
    """Why it was skipped or renamed; empty for a plain write."""
    message: str


def conventional_name(found: FoundReport) -> str:
    """``receiver!policy-domain!begin!end.xml``, from the attachment name when it follows it."""
    if found.filename:
        match = CONVENTIONAL.match(found.filename.rsplit("/", 1)[-1])
        if match:
            return _safe(match["stem"]) + ".xml"
    meta = found.report.report_metadata
    receiver = meta.email.rpartition("@")[2] or meta.org_name or "unknown-reporter"
    domain = found.report.policy_published.domain or "unknown-domain"
    stem = f"{receiver}!{domain}!{meta.date_range.begin}!{meta.date_range.end}"
    return _safe(stem) + ".xml"


def _safe(stem: str) -> str:
    cleaned = UNSAFE.sub("_", stem).lstrip(".")
    return cleaned[:200] or "report"


def refuse_mail_folder(out_dir: Path, folder: Path) -> None:
    """Raise ValueError when ``out_dir`` is the mail folder or inside it: that is read-only."""
    out, mail = out_dir.resolve(), folder.resolve()
    if out == mail or mail in out.parents:
        raise ValueError(f"{out_dir}: inside the mail folder {folder}, which dmarctui never writes")


def extract_indexed(
    index: Index,
    out_dir: Path,
    rows: Iterable[ReportRow],
    on_action: Callable[[ExtractAction], None] | None = None,
) -> tuple[list[ExtractAction], list[str]]:
    """Write the XML of indexed reports, re-read from their messages.

    Returns the actions and, for reports whose message can no longer be read (moved or deleted
    since the scan), one line each saying so; those do not stop the others.
    """
    from dmarctui.mailstore import MailStoreError

    refuse_mail_folder(out_dir, index.folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    actions: list[ExtractAction] = []
    failed: list[str] = []
    for row in rows:
        try:
            detail = index.report(row.pk)
            xml = index.report_xml(row.pk)
        except (LookupError, ValueError, MailStoreError) as exc:
            failed.append(f"{row.message}: {exc}")
            continue
        found = FoundReport(row.message, row.part, row.filename, detail.report, content_key="")
        action = write_report(out_dir, found, xml)
        actions.append(action)
        if on_action is not None:
            on_action(action)
    return actions, failed


def write_report(out_dir: Path, found: FoundReport, xml: bytes) -> ExtractAction:
    """Write one report; an identical file is skipped, a different one is never overwritten.

    The name is the conventional one or, when a different file holds it, the conventional one
    with ``~`` and a hash of the content: no search through ``~1``, ``~2`` …, and a second
    run finds the same name again. The file appears whole or not at all (``_publish``).

    Raises:
        OSError: the directory cannot be written (full disk, permissions); nothing partial is
            left behind.
    """
    name = conventional_name(found)
    digest = hashlib.sha256(xml).hexdigest()[:16]
    for candidate, why in (
        (out_dir / name, ""),
        (
            out_dir / f"{name[: -len('.xml')]}~{digest}.xml",
            f"{name} exists with other content; suffix added",
        ),
    ):
        if candidate.parent != out_dir:  # cannot happen with _safe names; checked all the same
            raise ValueError(f"refusing to write outside {out_dir}: {candidate}")
        if _same_file(candidate, xml):
            return ExtractAction("skipped", candidate, "identical file exists", found.message)
        if _publish(out_dir, candidate, xml):
            return ExtractAction("wrote", candidate, why, found.message)
        if _same_file(candidate, xml):  # written meanwhile by someone else, identically
            return ExtractAction("skipped", candidate, "identical file exists", found.message)
    raise FileExistsError(f"{candidate}: exists with other content; not overwritten")


def _same_file(path: Path, xml: bytes) -> bool:
    try:
        return path.is_file() and path.stat().st_size == len(xml) and path.read_bytes() == xml
    except OSError:
        return False


def _publish(out_dir: Path, target: Path, data: bytes) -> bool:
    """Write ``data`` to a temporary file in ``out_dir``, then give it the name ``target``
    unless that exists (False then). A full disk leaves no truncated file under any name."""
    fd, temp = tempfile.mkstemp(dir=out_dir, prefix=".dmarctui-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, target)  # atomic, and never replaces an existing file
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links
            if target.exists():
                return False
            os.rename(temp, target)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


def extract_folder(
    store: MailStore,
    out_dir: Path,
    *,
    limits: Limits | None = None,
    cancel: threading.Event | None = None,
    on_action: Callable[[ExtractAction], None] | None = None,
    select: Callable[[FoundReport], bool] | None = None,
) -> tuple[ScanResult, list[ExtractAction]]:
    """Scan ``store`` and write every distinct report (optionally only selected ones)."""
    refuse_mail_folder(out_dir, store.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    actions: list[ExtractAction] = []

    def hook(outcome: MessageOutcome, bucket: Bucket, ledger: Ledger) -> None:
        for found in outcome.reports:
            if not ledger.is_first(found):
                continue
            if select is not None and not select(found):
                continue
            action = write_report(out_dir, found, outcome.xml[found.part])
            actions.append(action)
            if on_action is not None:
                on_action(action)

    result = drain(scan_iter(store, limits=limits, cancel=cancel, keep_xml=True, on_outcome=hook))
    return result, actions
