"""Decisions: the admin's remembered verdict on a source IP or network.

A decision says what a source is (a known third party, a mailing list, a forwarder, our own
server) or that it needs no attention for now (ignore until a date, accepted risk), with a
free-text note, who made it and when. Decisions are the user's own record, so they live beside
the notice history in ``$XDG_DATA_HOME/dmarctui/decisions.sqlite3`` and survive any index
rebuild. Nothing is ever deleted: undoing marks a decision undone, and a newer decision for the
same network supersedes the older one.

Triage sees decisions as configuration (:func:`apply_decisions`): the first three verdicts
become ``[[senders]]`` rules consulted only where the config's own senders are silent, and "our
own server" adds an internal network. "Ignore" and "accepted risk" change no verdict; the digest
leaves such sources out until the decision ends or the source gets worse.
"""

from __future__ import annotations

import getpass
import ipaddress
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal, get_args

from dmarctui.config import Config, ConfigProblem, Network, Sender, SenderRole
from dmarctui.history import default_history_path
from dmarctui.source_address import canonical_address, canonical_network
from dmarctui.user_db import open_user_db

Verdict = Literal[
    "third_party", "mailing_list", "forwarder", "own_server", "ignore", "accepted_risk"
]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
SENDER_VERDICTS: frozenset[str] = frozenset(get_args(SenderRole))
QUIET_VERDICTS: frozenset[str] = frozenset({"ignore", "accepted_risk"})
"""Verdicts that keep a source out of the digest rather than change its triage."""

VERDICT_TEXT: dict[Verdict, str] = {
    "third_party": "known third party",
    "mailing_list": "mailing list",
    "forwarder": "forwarder",
    "own_server": "our own server",
    "ignore": "ignore",
    "accepted_risk": "accepted risk",
}
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    match TEXT NOT NULL,
    verdict TEXT NOT NULL,
    note TEXT NOT NULL,
    who TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    until TEXT,
    undone_at INTEGER,
    undone_by TEXT
);
CREATE INDEX decisions_by_match ON decisions (match);
"""


class DecisionError(Exception):
    """A decision cannot be recorded, read or undone; the message says why."""


def default_decisions_path() -> Path:
    """``decisions.sqlite3`` beside the notice history (``$XDG_DATA_HOME/dmarctui/``)."""
    return default_history_path().parent / "decisions.sqlite3"


def normalise_match(text: str) -> str:
    """An IP address or a CIDR network in canonical form (``192.0.2.0/24``, ``2001:db8::1``).

    Raises:
        DecisionError: ``text`` is neither.
    """
    cleaned = text.strip()
    try:
        if "/" not in cleaned:
            address = canonical_address(cleaned)
            if address is None:
                raise ValueError(cleaned)
            return address
        network = canonical_network(ipaddress.ip_network(cleaned, strict=False))
    except ValueError:
        raise DecisionError(f"{text!r} is neither an IP address nor a CIDR network") from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def parse_until(text: str) -> str:
    """A ``YYYY-MM-DD`` day (the last day the decision holds)."""
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise DecisionError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _today(now: float | None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).date().isoformat()


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Decision:
    """One recorded verdict on a source IP or network."""

    id: int
    match: str
    """An IP address or a CIDR network, canonical (:func:`normalise_match`)."""
    verdict: Verdict
    note: str
    who: str
    decided_at: int
    until: str | None = None
    """For ``ignore``: the last UTC day it holds (``YYYY-MM-DD``)."""
    undone_at: int | None = None
    undone_by: str | None = None

    @property
    def network(self) -> Network:
        """The network decided on; one recorded as IPv4 mapped into IPv6, as sources were once
        spelt, is the IPv4 network the sources now are in."""
        return canonical_network(ipaddress.ip_network(self.match, strict=False))

    def covers(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        network = self.network
        return address.version == network.version and address in network

    def expired(self, now: float | None = None) -> bool:
        return self.until is not None and _today(now) > self.until

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.decided_at, UTC).date().isoformat()

    def text(self) -> str:
        """``ignore until 2026-12-31`` / ``mailing list``: the verdict in words."""
        words = VERDICT_TEXT[self.verdict]
        return f"{words} until {self.until}" if self.until else words

    def summary(self) -> str:
        """One line for lists and the Sources pane: verdict, note, who and when."""
        note = f": {self.note}" if self.note else ""
        return f"{self.text()}{note} ({self.who}, {self.day})"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "match": self.match,
            "verdict": self.verdict,
            "note": self.note,
            "who": self.who,
            "decided_at": datetime.fromtimestamp(self.decided_at, UTC).isoformat(),
            "until": self.until,
            "undone_at": (
                datetime.fromtimestamp(self.undone_at, UTC).isoformat()
                if self.undone_at is not None
                else None
            ),
            "undone_by": self.undone_by,
        }


def effective(decisions: Iterable[Decision], now: float | None = None) -> list[Decision]:
    """The decisions in force: per network the latest not undone, if it has not expired."""
    latest: dict[str, Decision] = {}
    for d in sorted(decisions, key=lambda d: (d.decided_at, d.id)):
        if d.undone_at is None:
            latest[d.match] = d
    return [d for d in latest.values() if not d.expired(now)]


def state_of(decision: Decision, decisions: Sequence[Decision], now: float | None = None) -> str:
    """``active``, ``expired``, ``undone`` or ``superseded`` (by a newer one for its network)."""
    if decision.undone_at is not None:
        return "undone"
    newer = [
        d
        for d in decisions
        if d.match == decision.match
        and d.undone_at is None
        and (d.decided_at, d.id) > (decision.decided_at, decision.id)
    ]
    if newer:
        return "superseded"
    return "expired" if decision.expired(now) else "active"


def decision_for(ip: str, decisions: Iterable[Decision]) -> Decision | None:
    """The most specific of ``decisions`` covering ``ip`` (pass :func:`effective` ones)."""
    hits = [d for d in decisions if d.covers(ip)]
    return max(hits, key=lambda d: (d.network.prefixlen, d.decided_at, d.id)) if hits else None


def apply_decisions(config: Config, decisions: Iterable[Decision]) -> Config:
    """``config`` with the effective ``decisions`` as decided senders and internal networks.

    Replaces what an earlier call merged, so it can be applied again after a change.
    """
    senders: list[Sender] = []
    internal: list[Network] = []
    for d in decisions:
        if d.verdict in SENDER_VERDICTS:
            label = d.note or f"{VERDICT_TEXT[d.verdict]} (decided by {d.who})"
            senders.append(Sender(d.match, label, d.verdict))  # type: ignore[arg-type]
        elif d.verdict == "own_server":
            internal.append(d.network)
    return replace(config, decided_senders=tuple(senders), decided_internal=tuple(internal))


def with_stored_decisions(
    config: Config, problems: list[ConfigProblem], path: Path | None = None
) -> tuple[Config, list[ConfigProblem]]:
    """``config`` with the stored effective decisions; a broken store is one more problem."""
    target = path or default_decisions_path()
    if not target.exists():
        return config, problems
    try:
        with DecisionStore.open(target) as store:
            active = store.effective()
    except DecisionError as exc:
        return config, [*problems, ConfigProblem(target.name, "decisions", str(exc))]
    return apply_decisions(config, active), problems


def _toml_string(text: str) -> str:
    """A TOML basic string: JSON escapes, plus DEL, which JSON leaves raw."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def senders_toml(decisions: Sequence[Decision]) -> str:
    """The effective decisions as ``[[senders]]`` tables to paste into the config.

    Verdicts with no ``[[senders]]`` equivalent are written as comments saying what to do.
    """
    lines = ["# Decisions recorded with dmarctui, as configuration."]
    for d in sorted(decisions, key=lambda d: (d.decided_at, d.id)):
        who = _one_line(f"# {d.text()}, decided by {d.who} on {d.day}")
        lines.append("")
        lines.append(who)
        if d.verdict in SENDER_VERDICTS:
            label = _one_line(d.note) or VERDICT_TEXT[d.verdict]
            lines += [
                "[[senders]]",
                f"match = {_toml_string(d.match)}",
                f"label = {_toml_string(label)}",
                f"role = {_toml_string(d.verdict)}",
            ]
        elif d.verdict == "own_server":
            lines.append(f'# add "{d.network}" to [networks] internal')
        else:
            lines.append(f"# {d.match}: no [[senders]] equivalent; keep it as a decision")
        if d.note and d.verdict not in SENDER_VERDICTS:
            lines.append(f"# note: {_one_line(d.note)}")
    return "\n".join(lines) + "\n"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class DecisionStore:
    """The SQLite store of decisions. Use :meth:`open` (a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path | None = None) -> Iterator[DecisionStore]:
        """Open (creating if needed) the decisions file; closes it on exit.

        Raises:
            DecisionError: the file cannot be created or read, or a newer dmarctui wrote it.
        """
        target = path or default_decisions_path()
        with open_user_db(target, _SCHEMA, SCHEMA_VERSION, DecisionError, "decisions") as db:
            yield cls(db, target)

    def add(
        self,
        match: str,
        verdict: str,
        note: str = "",
        *,
        until: str | None = None,
        who: str | None = None,
        now: float | None = None,
    ) -> Decision:
        """Record a decision; a newer one for the same network supersedes the older.

        Raises:
            DecisionError: a bad network, verdict or date, or the file cannot be written.
        """
        if verdict not in VERDICTS:
            raise DecisionError(f"{verdict!r} is not one of {', '.join(VERDICTS)}")
        if verdict == "ignore" and until is None:
            raise DecisionError("ignore needs a date: ignore until YYYY-MM-DD")
        if verdict != "ignore" and until is not None:
            raise DecisionError("only ignore takes a date")
        row = (
            normalise_match(match),
            verdict,
            note.strip(),
            who or current_user(),
            int(time.time() if now is None else now),
            parse_until(until) if until is not None else None,
        )
        try:
            with self._db:
                cursor = self._db.execute(
                    "INSERT INTO decisions (match, verdict, note, who, decided_at, until)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
        except sqlite3.Error as exc:
            raise DecisionError(f"{self.path}: cannot record the decision: {exc}") from exc
        return self.get(int(cursor.lastrowid or 0))

    def get(self, decision_id: int) -> Decision:
        found = self._select("WHERE id = ?", (decision_id,))
        if not found:
            raise DecisionError(f"no decision number {decision_id}")
        return found[0]

    def all(self) -> list[Decision]:
        """Every decision ever recorded, oldest first."""
        return self._select("", ())

    def effective(self, now: float | None = None) -> list[Decision]:
        return effective(self.all(), now)

    def undo(self, target: str, *, who: str | None = None, now: float | None = None) -> Decision:
        """Undo decision number ``target``, or the one in force for the network ``target``.

        The decision the undone one had superseded, if any, is in force again.
        """
        if target.strip().isdigit():
            decision = self.get(int(target))
        else:
            match = normalise_match(target)
            live = [d for d in self.all() if d.match == match and d.undone_at is None]
            if not live:
                raise DecisionError(f"no decision for {match} to undo")
            decision = live[-1]
        if decision.undone_at is not None:
            raise DecisionError(f"decision {decision.id} was already undone")
        try:
            with self._db:
                self._db.execute(
                    "UPDATE decisions SET undone_at = ?, undone_by = ? WHERE id = ?",
                    (int(time.time() if now is None else now), who or current_user(), decision.id),
                )
        except sqlite3.Error as exc:
            raise DecisionError(f"{self.path}: cannot undo: {exc}") from exc
        return self.get(decision.id)

    def _select(self, where: str, params: tuple[object, ...]) -> list[Decision]:
        sql = (
            "SELECT id, match, verdict, note, who, decided_at, until, undone_at, undone_by"
            f" FROM decisions {where} ORDER BY decided_at, id"
        )
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise DecisionError(f"{self.path}: cannot read decisions: {exc}") from exc
        return [Decision(*row) for row in rows if row[2] in VERDICTS]
