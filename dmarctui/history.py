"""The notice history: every notice saved or sent, and which sources improved since.

Notices are the user's own record, not a cache, so they live in
``$XDG_DATA_HOME/dmarctui/notices.sqlite3`` (``~/.local/share/...``), a SQLite file versioned
with ``PRAGMA user_version``. The follow-up round compares failing messages from a source before
and after its notice, and lists the sources still failing once the grace period is over.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Literal

from dmarctui.config import Config
from dmarctui.model import AggregateReport, Finding
from dmarctui.source_address import canonical_address
from dmarctui.trend import FailingDays
from dmarctui.triage import our_domains, utc_day

NoticeStatus = Literal["drafted", "sent"]
Reports = Sequence[AggregateReport] | FailingDays
"""Report objects (the reference) or the failing counts computed from the index."""
FollowUpState = Literal["still_failing", "improved", "waiting", "no_data"]
SCHEMA_VERSION = 1
DAY = 86400

_SCHEMA = """
CREATE TABLE notices (
    message_id TEXT PRIMARY KEY,
    date INTEGER NOT NULL,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    kinds TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('drafted', 'sent')),
    draft_path TEXT,
    lang TEXT NOT NULL,
    refs TEXT NOT NULL
);
CREATE TABLE notice_sources (
    message_id TEXT NOT NULL REFERENCES notices (message_id) ON DELETE CASCADE,
    source_ip TEXT NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (message_id, source_ip)
);
CREATE INDEX notice_sources_by_ip ON notice_sources (source_ip);
"""


class HistoryError(Exception):
    """The history file cannot be opened or written; the message names the file."""


@dataclass(frozen=True)
class NoticeRecord:
    """One notice as remembered: who, when, about which sources, and where its draft is."""

    message_id: str
    date: int
    """The Date header, epoch seconds."""
    subject: str
    recipients: tuple[str, ...]
    sources: tuple[str, ...]
    kinds: tuple[str, ...]
    status: NoticeStatus
    draft_path: str | None = None
    lang: str = "ja"
    references: tuple[str, ...] = ()
    """Earlier notices of the same thread, oldest first (empty for a first notice)."""
    messages: tuple[int, ...] = ()
    """Failing messages per source (same order as ``sources``) when the notice was written."""

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.date, UTC).date().isoformat()

    def to_dict(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "date": datetime.fromtimestamp(self.date, UTC).isoformat(),
            "subject": self.subject,
            "recipients": list(self.recipients),
            "sources": list(self.sources),
            "kinds": list(self.kinds),
            "status": self.status,
            "draft_path": self.draft_path,
            "lang": self.lang,
            "references": list(self.references),
            "messages": list(self.messages),
        }


def default_history_path() -> Path:
    """``$XDG_DATA_HOME/dmarctui/notices.sqlite3``, else ``~/.local/share/dmarctui/...``."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "dmarctui" / "notices.sqlite3"


def _source_messages(findings: Sequence[Finding]) -> dict[str, int]:
    """Messages per source; overlapping findings of one source count once (the largest)."""
    per_source: dict[str, int] = {}
    for f in findings:
        per_source[f.source_ip] = max(per_source.get(f.source_ip, 0), f.messages)
    return per_source


class NoticeHistory:
    """The SQLite store of notices. Use :meth:`open` (a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path | None = None) -> Iterator[NoticeHistory]:
        """Open (creating if needed) the history file; closes it on exit.

        Raises:
            HistoryError: the file cannot be created or read, or a newer dmarctui wrote it.
        """
        target = path or default_history_path()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(target)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"{target}: cannot open notice history: {exc}") from exc
        try:
            cls._migrate(db, target)
            yield cls(db, target)
        finally:
            db.close()

    @staticmethod
    def _migrate(db: sqlite3.Connection, path: Path) -> None:
        try:
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                with db:
                    db.executescript(_SCHEMA)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise HistoryError(
                    f"{path}: notice history has schema {version}, written by a newer dmarctui"
                    f" (this one reads {SCHEMA_VERSION})"
                )
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"{path}: not a notice history database: {exc}") from exc

    def add(
        self,
        msg: EmailMessage,
        findings: Sequence[Finding],
        *,
        status: NoticeStatus,
        draft_path: Path | str | None = None,
    ) -> NoticeRecord:
        """Remember a notice that was written as a draft or sent.

        Recording the same Message-ID again (a draft that is sent later) updates it: ``sent``
        wins over ``drafted`` and a new draft path replaces the old one.
        """
        message_id = str(msg.get("Message-ID", "")).strip()
        if not message_id:
            raise ValueError("the notice has no Message-ID header; build it with build_notice()")
        date_header = msg.get("Date")
        when = parsedate_to_datetime(str(date_header)) if date_header else datetime.now(UTC)
        recipients = tuple(
            addr for _, addr in getaddresses([str(v) for v in msg.get_all("To", []) or []])
        )
        refs = tuple(str(msg.get("References", "")).split())
        per_source = _source_messages(findings)
        kinds = tuple(sorted({f.kind for f in findings}))
        row = (
            message_id,
            int(when.timestamp()),
            str(msg.get("Subject", "")),
            json.dumps(recipients),
            json.dumps(kinds),
            status,
            str(draft_path) if draft_path is not None else None,
            str(msg.get("Content-Language", "ja")),
            json.dumps(refs),
        )
        try:
            with self._db:
                self._db.execute(
                    "INSERT INTO notices VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (message_id) DO UPDATE SET"
                    " status = CASE WHEN excluded.status = 'sent' THEN 'sent' ELSE status END,"
                    " draft_path = COALESCE(excluded.draft_path, draft_path)",
                    row,
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO notice_sources VALUES (?, ?, ?)",
                    [(message_id, ip, n) for ip, n in per_source.items()],
                )
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot record notice: {exc}") from exc
        return self.get(message_id)

    def get(self, message_id: str) -> NoticeRecord:
        found = self._select("WHERE n.message_id = ?", (message_id,))
        if not found:
            raise KeyError(message_id)
        return found[0]

    def all(self) -> list[NoticeRecord]:
        """Every notice, oldest first."""
        return self._select("", ())

    def latest_by_source(self) -> dict[str, NoticeRecord]:
        """The most recent notice about each source (for "notified on …")."""
        latest: dict[str, NoticeRecord] = {}
        for record in self.all():
            for ip in record.sources:
                latest[ip] = record
        return latest

    def _select(self, where: str, params: tuple[object, ...]) -> list[NoticeRecord]:
        sql = (
            "SELECT n.message_id, n.date, n.subject, n.recipients, n.kinds, n.status,"
            " n.draft_path, n.lang, n.refs,"
            " json_group_array(s.source_ip), json_group_array(s.messages)"
            " FROM notices n JOIN notice_sources s USING (message_id) "
            f"{where} GROUP BY n.message_id ORDER BY n.date, n.rowid"
        )
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot read notice history: {exc}") from exc
        records = []
        for mid, date, subject, rcpt, kinds, status, draft, lang, refs, ips, counts in rows:
            pairs = sorted(zip(json.loads(ips), json.loads(counts), strict=True))
            records.append(
                NoticeRecord(
                    message_id=mid,
                    date=date,
                    subject=subject,
                    recipients=tuple(json.loads(rcpt)),
                    sources=tuple(canonical_address(ip) or ip for ip, _ in pairs),
                    kinds=tuple(json.loads(kinds)),
                    status=status,
                    draft_path=draft,
                    lang=lang,
                    references=tuple(json.loads(refs)),
                    messages=tuple(n for _, n in pairs),
                )
            )
        return records


# --------------------------------------------------------------------------- follow-up


@dataclass(frozen=True)
class SourceProgress:
    """How one notified source did since its notice."""

    source_ip: str
    notice: NoticeRecord
    due: int
    """Epoch seconds after which the source should be clean (notice date + grace days)."""
    before_per_day: float
    """Failing messages per observed day before the notice (:func:`trend.before_after`)."""
    after_per_day: float
    """Failing messages per observed day since the notice."""
    since_notice: int
    """Failing messages on the notice day and after."""
    after_due: int
    """Failing messages on the due day and after."""
    state: FollowUpState


@dataclass(frozen=True)
class FollowUp:
    """A notice whose sources (only those listed) are still failing after the grace period."""

    notice: NoticeRecord
    sources: tuple[SourceProgress, ...]


class _Failing:
    """Failing messages per source and day, counted once for all the notices of a round.

    "Failing" is what triage calls a problem (or enforced), so the follow-up agrees with the
    Sources pane. Given a :class:`FailingDays` (from the index) it is used as it is.
    """

    def __init__(self, reports: Reports, config: Config | None) -> None:
        if isinstance(reports, FailingDays):
            self.days = reports
        else:
            self.days = FailingDays.from_reports(reports, our_domains(config or Config(), reports))
        self.last_day = self.days.last_day

    def since(self, ip: str, day: str) -> int:
        return self.days.since(ip, day)

    def progress(self, notice: NoticeRecord, days: int, now: float) -> list[SourceProgress]:
        due = notice.date + days * DAY
        due_day = utc_day(due)
        result = []
        for ip in notice.sources:
            after_due = self.since(ip, due_day)
            state: FollowUpState
            if now < due:
                state = "waiting"
            elif self.last_day < due_day:
                state = "no_data"
            else:
                state = "still_failing" if after_due else "improved"
            before, after = self.days.before_after(ip, notice.date)
            result.append(
                SourceProgress(
                    source_ip=ip,
                    notice=notice,
                    due=due,
                    before_per_day=before,
                    after_per_day=after,
                    since_notice=self.since(ip, utc_day(notice.date)),
                    after_due=after_due,
                    state=state,
                )
            )
        return result


def source_progress(
    notice: NoticeRecord,
    reports: Reports,
    days: int,
    *,
    config: Config | None = None,
    now: float | None = None,
) -> list[SourceProgress]:
    """Before/after failing counts for each source of ``notice``.

    Days are UTC days as triage counts them. A source is ``still_failing`` when it has failing
    messages on or after the due day (notice date + ``days``), ``improved`` when the reports
    reach the due day and show none, ``no_data`` when no report reaches the due day yet, and
    ``waiting`` while the grace period is not over.
    """
    current = time.time() if now is None else now
    return _Failing(reports, config).progress(notice, days, current)


def improved(
    notice: NoticeRecord,
    reports: Reports,
    days: int,
    *,
    config: Config | None = None,
    now: float | None = None,
) -> bool:
    """True when every source of the notice is clean in the reports after the grace period."""
    progress = source_progress(notice, reports, days, config=config, now=now)
    return all(p.state == "improved" for p in progress)


def latest_progress(
    notices: Sequence[NoticeRecord],
    reports: Reports,
    days: int,
    *,
    config: Config | None = None,
    now: float | None = None,
) -> list[SourceProgress]:
    """Progress of every notified source, each measured from the latest notice that named it."""
    current = time.time() if now is None else now
    latest: dict[str, NoticeRecord] = {}
    for notice in sorted(notices, key=lambda n: n.date):
        for ip in notice.sources:
            latest[ip] = notice
    failing = _Failing(reports, config)
    result = []
    for notice in {n.message_id: n for n in latest.values()}.values():
        result += [
            p
            for p in failing.progress(notice, days, current)
            if latest[p.source_ip].message_id == notice.message_id
        ]
    return sorted(result, key=lambda p: (p.notice.date, p.source_ip))


def select_follow_ups(
    notices: Sequence[NoticeRecord],
    reports: Reports,
    days: int,
    *,
    config: Config | None = None,
    now: float | None = None,
) -> list[FollowUp]:
    """The sources that did not improve, grouped by the latest notice that named them."""
    grouped: dict[str, list[SourceProgress]] = defaultdict(list)
    for progress in latest_progress(notices, reports, days, config=config, now=now):
        if progress.state == "still_failing":
            grouped[progress.notice.message_id].append(progress)
    return [FollowUp(notice=ps[0].notice, sources=tuple(ps)) for ps in grouped.values()]
