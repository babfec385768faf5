"""A demo mail folder: six weeks of DMARC reports for a Japanese university department.

The scenario follows the seed report: lab servers sending as the department without DKIM (one
fixes it after the November notice, one does not), a mailing list that breaks DKIM, a SaaS
newsletter, a forwarder, outside spoofers, and a move from ``p=none`` to ``p=quarantine`` at the
end. Around it sit the awkward cases a real ``rua`` mailbox collects: a recovered report, a
duplicate, a ``report_id`` collision, a failure report, a TLS report, a personal message and a
truncated attachment. ``facts`` records what was seeded so tests can check triage against it.

The demo keeps its own state: its index, notice history (seeded with the November notices) and
drafts live in its folder, its clock stays on its "today", and its configuration cannot send
(:func:`demo_settings`), whatever the file says.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from dmarctui.config import DEMO_MARKER, Config
from dmarctui.demo_reports import (
    REPORTERS,
    Reporter,
    aggregate_xml,
    compress,
    failure_email,
    make_record,
    new_report_id,
    personal_email,
    report_email,
    tls_email,
    write_maildir,
)
from dmarctui.history import NoticeHistory
from dmarctui.model import (
    AggregateReport,
    Bucket,
    DateRange,
    DkimAuthResult,
    Finding,
    FindingKind,
    PolicyPublished,
    Record,
    ReportMetadata,
    SpfAuthResult,
)

DEMO_VERSION = "2"
DEMO_NOW = 1734652800
"""2024-12-20 00:00 UTC: the demo's fixed "today"."""
DAY = 86400
DAYS = 41
DOMAIN = "cs.univ.example"
"""Every demo address uses a reserved domain (RFC 2606): nothing can reach a real one."""
SELECTOR = "s2024"
MARKER = DEMO_MARKER


class DemoError(Exception):
    """The demo folder cannot be written where asked (one line, for the user)."""


@dataclass(frozen=True)
class SeededSource:
    """A sending source planted in the demo, and the findings triage should report for it."""

    ip: str
    name: str
    header_from: str
    kinds: tuple[FindingKind, ...]
    messages: int
    first_seen: int
    last_seen: int


@dataclass(frozen=True)
class DemoFacts:
    sources: tuple[SeededSource, ...]
    messages: int
    """Files in the Maildir."""
    buckets: dict[Bucket, int]
    """Expected message count per scan bucket."""
    recovered: int
    collisions: int
    notice_sent: int
    """When the November notice went out (epoch)."""
    policy_change: int
    """First day reported with ``p=quarantine`` (epoch)."""
    notified: dict[str, int] = field(default_factory=dict)
    """Source IP -> failing messages it had sent when the November notice went out."""


@dataclass(frozen=True)
class DemoFolder:
    root: Path
    maildir: Path
    config_path: Path
    facts: DemoFacts

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite3"

    @property
    def history_path(self) -> Path:
        return self.root / "notices.sqlite3"

    @property
    def drafts(self) -> Path:
        return self.root / "Drafts"


@dataclass(frozen=True)
class _Source:
    ip: str
    name: str
    header_from: str
    kinds: tuple[FindingKind, ...]
    reporters: tuple[str, ...]
    chance: float
    volume: tuple[int, int]


# The reporters that see the whole of the department's outgoing mail, and the rest.
_MAJOR = ("google", "microsoft", "yahoo")
_ALL = (*_MAJOR, "mailru", "amazonses", "trendmicro")

SOURCES: tuple[_Source, ...] = (
    _Source("192.0.2.10", "mail.cs.univ.example", DOMAIN, (), _ALL, 1.0, (20, 240)),
    _Source("192.0.2.11", "mail2.cs.univ.example", DOMAIN, (), _ALL, 0.9, (5, 90)),
    _Source("2001:db8:10::25", "mail.cs.univ.example", DOMAIN, (), ("google",), 0.8, (1, 30)),
    _Source(
        "192.0.2.71",
        "mail.lab1.cs.univ.example",
        DOMAIN,
        ("internal_no_dkim",),
        _MAJOR,
        0.7,
        (1, 9),
    ),
    _Source(
        "192.0.2.88",
        "srv.lab2.cs.univ.example",
        DOMAIN,
        ("internal_no_dkim",),
        (*_MAJOR, "mailru"),
        0.6,
        (1, 7),
    ),
    _Source("198.51.100.25", "lists.example.org", DOMAIN, ("dkim_broken",), _ALL, 0.5, (1, 12)),
    _Source(
        "203.0.113.20",
        "mta20.saas.example.net",
        DOMAIN,
        ("unaligned_third_party",),
        _ALL,
        1.0,
        (40, 300),
    ),
    _Source(
        "198.51.100.200",
        "fwd.example.com",
        DOMAIN,
        ("forwarded",),
        ("google", "yahoo"),
        0.5,
        (1, 5),
    ),
    _Source(
        "203.0.113.66",
        "203-0-113-66.dyn.example.net",
        DOMAIN,
        ("outside_spoofing",),
        ("google", "yahoo", "mailru"),
        0.35,
        (1, 40),
    ),
    _Source(
        "203.0.113.201",
        "unknown",
        DOMAIN,
        ("outside_spoofing",),
        ("microsoft", "trendmicro"),
        0.3,
        (1, 25),
    ),
    _Source(
        "2001:db8:bad::17", "unknown", DOMAIN, ("outside_spoofing",), ("google",), 0.25, (1, 15)
    ),
)
LAB1_IP = "192.0.2.71"
LAB2_IP = "192.0.2.88"
SAAS_IP = "203.0.113.20"
NOTICE_DAY = 7  # 2024-11-15
LAB1_FIXED_DAY = 10  # lab1 submits through the department server from here on
POLICY_DAY = 38  # 2024-12-16: p=quarantine
# Which days each reporter sends (index into the 41 reported days).
_SCHEDULE = {"google": 1, "microsoft": 1, "yahoo": 1, "mailru": 2, "amazonses": 3, "trendmicro": 5}
DUPLICATE_OF = ("google", 20)
TRUNCATED = ("yahoo", 25)
COLLIDING = ("trendmicro", 30)


def _auth(src: _Source, rng: random.Random) -> tuple[tuple[DkimAuthResult, ...], SpfAuthResult]:
    """The auth results a receiver sees from ``src`` (what makes each source its kind)."""
    sig = DkimAuthResult(DOMAIN, "pass", SELECTOR)
    spf_own = SpfAuthResult(DOMAIN, "pass", "mfrom")
    kind = src.kinds[0] if src.kinds else None
    if kind == "internal_no_dkim":
        return (), spf_own
    if kind == "dkim_broken":
        return (
            (
                DkimAuthResult(DOMAIN, "fail", SELECTOR),
                DkimAuthResult("lists.example.org", "pass", "ml2023"),
            ),
            SpfAuthResult("lists.example.org", "pass", "mfrom"),
        )
    if kind == "unaligned_third_party":
        return (
            (DkimAuthResult("saas.example.net", "pass", "sx1"),),
            SpfAuthResult("bounce.saas.example.net", "pass", "mfrom"),
        )
    if kind == "forwarded":
        return (sig,), SpfAuthResult(DOMAIN, rng.choice(("fail", "softfail")), "mfrom")
    if kind == "outside_spoofing":
        return (), SpfAuthResult(DOMAIN, rng.choice(("fail", "softfail", "fail")), "mfrom")
    return (sig,), spf_own


def _policy(reporter: Reporter, day: int) -> PolicyPublished:
    p = "quarantine" if day >= POLICY_DAY else "none"
    pct = None if reporter.namespace else 100
    return PolicyPublished(
        DOMAIN,
        p,
        adkim="r",
        aspf="r",
        sp="none",
        pct=pct,
        fo="1",
        discovery_method="psl" if reporter.namespace else None,
    )


def _day_begin(now: int, day: int) -> int:
    return now - (DAYS + 1 - day) * DAY


def _records(reporter: Reporter, day: int, rng: random.Random, now: int) -> list[Record]:
    policy = _policy(reporter, day)
    weekday = time.gmtime(_day_begin(now, day)).tm_wday
    records = []
    for src in SOURCES:
        if reporter.key not in src.reporters or rng.random() > src.chance:
            continue
        if src.ip == LAB1_IP and day >= LAB1_FIXED_DAY:
            continue
        if src.ip == SAAS_IP and weekday != 1:  # the newsletter goes out on Tuesdays
            continue
        low, high = src.volume
        if weekday >= 5 and not src.kinds:
            high = max(low, high // 4)
        dkim, spf = _auth(src, rng)
        envelope_to = reporter.domain if reporter.key in ("microsoft", "yahoo") else None
        records.append(
            make_record(
                src.ip,
                rng.randint(low, high),
                src.header_from,
                policy,
                dkim=dkim,
                spf=spf,
                envelope_to=envelope_to,
                pass_disposition="pass" if reporter.namespace else "none",
            )
        )
    return records


def _report(
    reporter: Reporter,
    day: int,
    records: list[Record],
    rng: random.Random,
    now: int,
    email: str | None = None,
    report_id: str | None = None,
) -> AggregateReport:
    begin = _day_begin(now, day)
    end = begin + DAY - (1 if reporter.inclusive_end else 0)
    meta = ReportMetadata(
        reporter.org_name,
        email or reporter.email,
        report_id or new_report_id(rng, reporter.id_style, begin),
        DateRange(begin, end),
        extra_contact_info=reporter.extra_contact_info,
    )
    return AggregateReport(
        meta,
        _policy(reporter, day),
        tuple(records),
        version=reporter.version,
        namespace=reporter.namespace,
    )


@dataclass
class _Build:
    """The messages of the demo in delivery order, and the tally behind ``DemoFacts``."""

    messages: list[tuple[int, bytes]] = field(default_factory=list)
    buckets: dict[Bucket, int] = field(default_factory=dict)
    seen: dict[str, list[int]] = field(default_factory=dict)
    """source ip -> [messages, first begin, last end, messages quarantined or rejected]."""
    before_notice: dict[str, int] = field(default_factory=dict)
    """source ip -> messages in reports that begin before the November notice day."""

    def add(self, delivered: int, data: bytes, bucket: Bucket) -> None:
        self.messages.append((delivered, data))
        self.buckets[bucket] = self.buckets.get(bucket, 0) + 1

    def count(self, report: AggregateReport, notice_day: int = 0) -> None:
        span = report.report_metadata.date_range
        for rec in report.records:
            if span.begin < notice_day:
                self.before_notice[rec.source_ip] = (
                    self.before_notice.get(rec.source_ip, 0) + rec.count
                )
            tally = self.seen.setdefault(rec.source_ip, [0, span.begin, span.end, 0])
            tally[0] += rec.count
            if rec.policy_evaluated.disposition in ("quarantine", "reject"):
                tally[3] += rec.count
            tally[1], tally[2] = min(tally[1], span.begin), max(tally[2], span.end)


def _scenario(now: int) -> _Build:
    rng = random.Random(20241220)
    build = _Build()
    for day in range(DAYS):
        for key, every in _SCHEDULE.items():
            if day % every:
                continue
            reporter = REPORTERS[key]
            records = _records(reporter, day, rng, now)
            if not records:
                continue
            report = _report(reporter, day, records, rng, now)
            delivered = report.report_metadata.date_range.begin + DAY + rng.randrange(600, 40000)
            if (key, day) == TRUNCATED:
                build.add(delivered, _truncated(reporter, report, delivered, rng), "error")
                continue
            data = report_email(reporter, report, delivered=delivered, rng=rng)
            build.add(delivered, data, "aggregate")
            build.count(report, _day_begin(now, NOTICE_DAY))
            if (key, day) == DUPLICATE_OF:  # a second MX relayed the same message again
                build.add(delivered + 97, data, "duplicate")
            if (key, day) == COLLIDING:
                build.count(_colliding(build, reporter, report, day, rng, now))
    _extras(build, rng, now)
    build.messages.sort(key=lambda m: m[0])
    return build


def _truncated(
    reporter: Reporter, report: AggregateReport, delivered: int, rng: random.Random
) -> bytes:
    meta = report.report_metadata
    whole = compress(aggregate_xml(report).encode(), "gzip", "", meta.date_range.end)
    return report_email(
        reporter, report, delivered=delivered, rng=rng, payload=whole[: len(whole) // 2]
    )


def _colliding(
    build: _Build,
    reporter: Reporter,
    first: AggregateReport,
    day: int,
    rng: random.Random,
    now: int,
) -> AggregateReport:
    """A sister system of the same provider reuses the report_id for the next day."""
    records = _records(reporter, day + 1, rng, now)
    second = _report(
        reporter,
        day + 1,
        records,
        rng,
        now,
        email="dmarc-report@tmems-jp.trendmicro.com",
        report_id=first.report_metadata.report_id,
    )
    delivered = second.report_metadata.date_range.begin + DAY + 5000
    build.add(delivered, report_email(reporter, second, delivered=delivered, rng=rng), "aggregate")
    return second


def _extras(build: _Build, rng: random.Random, now: int) -> None:
    """The one-off messages: recovered report, failure, TLS, personal mail."""
    courriel = REPORTERS["courriel"]
    day = 33
    report = _report(courriel, day, _records(REPORTERS["google"], day, rng, now), rng, now)
    xml = aggregate_xml(report).encode("utf-8")
    latin1 = xml.replace(courriel.org_name.encode("utf-8"), courriel.org_name.encode("latin-1"))
    delivered = report.report_metadata.date_range.begin + DAY + 7200
    build.add(
        delivered,
        report_email(courriel, report, delivered=delivered, rng=rng, payload=latin1),
        "aggregate",
    )
    build.count(report)

    arrival = now - 9 * DAY + 3 * 3600
    build.add(
        arrival + 1800,
        failure_email(
            source_ip="203.0.113.66",
            header_from=DOMAIN,
            arrival=arrival,
            delivered=arrival + 1800,
            rng=rng,
        ),
        "failure",
    )
    begin = now - 3 * DAY
    delivered = begin + DAY + 9000
    build.add(
        delivered,
        tls_email(
            domain=DOMAIN,
            begin=begin,
            delivered=delivered,
            rng=rng,
            successful=1843,
            failed=2,
            mx="mx.cs.univ.example",
        ),
        "tls",
    )
    sent = now - 30 * DAY + 5 * 3600
    build.add(
        sent,
        personal_email(
            sender=("鈴木 一郎", "suzuki@cs.univ.example"),
            subject="DMARC レポートの件（研究室サーバ）",
            body="お疲れさまです。\n研究室のメールサーバの件、来週までに設定を確認します。\n鈴木\n",
            delivered=sent,
            rng=rng,
        ),
        "not_report",
    )


def _facts(build: _Build, now: int) -> DemoFacts:
    sources = []
    for src in SOURCES:
        messages, first, last, enforced = build.seen[src.ip]
        # Quarantined spoofing is the policy working; "enforced" means legitimate mail was lost.
        lost = enforced and "outside_spoofing" not in src.kinds
        kinds: tuple[FindingKind, ...] = (*src.kinds, "enforced") if lost else src.kinds
        sources.append(
            SeededSource(src.ip, src.name, src.header_from, kinds, messages, first, last)
        )
    return DemoFacts(
        sources=tuple(sources),
        messages=len(build.messages),
        buckets=dict(build.buckets),
        recovered=1,
        collisions=1,
        notice_sent=_day_begin(now, NOTICE_DAY) + 9 * 3600,
        policy_change=_day_begin(now, POLICY_DAY),
        notified={ip: build.before_notice.get(ip, 0) for ip, _, _ in NOVEMBER_NOTICES},
    )


NOVEMBER_NOTICES = (
    (LAB1_IP, "山田 太郎", "yamada@lab1.cs.univ.example"),
    (LAB2_IP, "佐藤 花子", "sato@lab2.cs.univ.example"),
)
"""The notices of the seed's November round: lab1 fixes its server after it, lab2 does not."""


def seed_history(path: Path, facts: DemoFacts) -> None:
    """Record the November notices in the demo's own history (again: no change)."""
    with NoticeHistory.open(path) as history:
        for n, (ip, name, email) in enumerate(NOVEMBER_NOTICES, 1):
            msg = EmailMessage()
            msg["From"] = f"postmaster@{DOMAIN}"
            msg["To"] = f"{name} <{email}>"
            msg["Subject"] = f"【DMARC】送信ドメイン認証の不備について ({ip})"
            msg["Date"] = format_datetime(datetime.fromtimestamp(facts.notice_sent + n * 60, UTC))
            msg["Message-ID"] = f"<demo-november-{n}@{DOMAIN}>"
            msg["Content-Language"] = "ja"
            finding = Finding(
                source_ip=ip,
                kind="internal_no_dkim",
                severity="high",
                messages=facts.notified.get(ip, 0),
                header_from=DOMAIN,
                first_seen=facts.notice_sent,
                last_seen=facts.notice_sent,
                advice="",
            )
            history.add(msg, [finding], status="sent")


def demo_settings(config: Config, folder: DemoFolder) -> Config:
    """The demo's configuration as it must run: drafts in its folder, sending impossible."""
    return replace(config, demo=True, notice=replace(config.notice, drafts=str(folder.drafts)))


def demo_clock(start: float | None = None) -> Callable[[], float]:
    """The demo's "today" (:data:`DEMO_NOW`, 10:00), running on from when the demo opened."""
    opened = time.monotonic() if start is None else start
    return lambda: DEMO_NOW + 10 * 3600 + (time.monotonic() - opened)


def demo_config(drafts: Path) -> str:
    """The demo's config.toml: who is who in the scenario, and where notices are drafted."""
    return f"""\
# dmarctui configuration for the demo folder (written by `dmarctui --demo`).
# Every address here uses a reserved example domain. Letters are drafted into
# this folder and never sent: the demo cannot send, whatever this file says.

[domains]
own = ["{DOMAIN}"]
include_subdomains = true

[networks]
internal = ["192.0.2.0/24", "2001:db8:10::/48"]

[[senders]]
match = "198.51.100.24/29"
label = "Academic society mailing list (lists.example.org)"
role = "mailing_list"

[[senders]]
match = "203.0.113.0/27"
label = "Newsletter service (saas.example.net)"
role = "third_party"

[[senders]]
match = "198.51.100.200/32"
label = "Alumni forwarding (fwd.example.com)"
role = "forwarder"

[[contacts]]
match = "192.0.2.64/28"
name = "山田 太郎"
email = "yamada@lab1.cs.univ.example"
lang = "ja"

[[contacts]]
match = "192.0.2.80/28"
name = "佐藤 花子"
email = "sato@lab2.cs.univ.example"
lang = "ja"

[[contacts]]
match = "198.51.100.24/29"
name = "List administrator, lists.example.org"
email = "listmaster@lists.example.org"
lang = "en"

[notice]
from = "postmaster@{DOMAIN}"
signature = \"\"\"
情報工学科 メール管理担当
postmaster@{DOMAIN}
\"\"\"
drafts = {json.dumps(str(drafts), ensure_ascii=False)}
follow_up_days = 14
planned_policy = "quarantine"
planned_date = 2024-12-16
"""


def build_demo(target: Path, *, now: int = DEMO_NOW) -> DemoFolder:
    """Write the demo Maildir and its config.toml into ``target``.

    Args:
        target: a directory (created if missing) that does not hold a ``Maildir`` yet.
        now: the demo's "today"; messages keep their dates relative to it.

    Returns:
        Where everything was written, and the seeded facts.

    Raises:
        DemoError: ``target/Maildir`` already exists (nothing is overwritten).
    """
    maildir = target / "Maildir"
    if maildir.exists():
        raise DemoError(f"{maildir} already exists; remove it or choose another directory")
    build = _scenario(now)
    write_maildir(maildir, build.messages, unseen_after=now - DAY)
    config_path = target / "config.toml"
    config_path.write_text(demo_config(target / "Drafts"), encoding="utf-8")
    folder = DemoFolder(target, maildir, config_path, _facts(build, now))
    seed_history(folder.history_path, folder.facts)
    (target / MARKER).write_text(DEMO_VERSION + "\n", encoding="ascii")
    return folder


def default_demo_dir() -> Path:
    """``$XDG_CACHE_HOME/dmarctui/demo``, or ``~/.cache/dmarctui/demo``."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "dmarctui" / "demo"


def ensure_demo() -> DemoFolder:
    """The demo folder in the cache, built on first use and rebuilt when missing, incomplete or
    written by another version. Drafts saved from the demo survive a rebuild."""
    root = default_demo_dir()
    marker = root / MARKER
    maildir = root / "Maildir"
    complete = (
        marker.is_file()
        and marker.read_text(encoding="ascii").strip() == DEMO_VERSION
        and (root / "config.toml").is_file()
        and (maildir / "cur").is_dir()
    )
    if complete:
        return DemoFolder(
            root, maildir, root / "config.toml", _facts(_scenario(DEMO_NOW), DEMO_NOW)
        )
    marker.unlink(missing_ok=True)
    if maildir.exists():
        shutil.rmtree(maildir)
    (root / "index.sqlite3").unlink(missing_ok=True)  # an index of the old messages
    return build_demo(root)
