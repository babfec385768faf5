"""Build the notice to the admin of a misbehaving server, as an :class:`EmailMessage`.

The letter says what the reports showed (period, receivers, counts, source, header From), why
it matters, what to change for each finding kind, and carries an evidence table. Its text comes
from :mod:`dmarctui.notice_templates`, so the user can rewrite it. Headers are encoded by the
stdlib's ``email.policy.default`` (RFC 2047 for Japanese subjects and names).
"""

from __future__ import annotations

import getpass
import socket
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr

from dmarctui.config import Config, Lang
from dmarctui.history import NoticeRecord
from dmarctui.model import Evidence, Finding
from dmarctui.notice_templates import ADVICE_KINDS, fill, load_advice, load_letter

MAX_EVIDENCE_ROWS = 20
"""The evidence table shows the most recent rows; the letter says how many were left out."""

_KIND_SUMMARY: dict[Lang, dict[str, str]] = {
    "ja": {
        "internal_no_dkim": "DKIM 署名なしで直接送信",
        "dkim_broken": "途中で DKIM 署名が壊れている",
        "unaligned_third_party": "別ドメインの認証のみ",
        "enforced": "受信側で隔離・拒否",
    },
    "en": {
        "internal_no_dkim": "sent directly without a DKIM signature",
        "dkim_broken": "DKIM signature broken on the way",
        "unaligned_third_party": "authenticated only for another domain",
        "enforced": "quarantined or rejected by receivers",
    },
}
_WORDS: dict[Lang, dict[str, str]] = {
    "ja": {
        "list_sep": "、",
        "period_sep": "〜",
        "messages": "{n} 通",
        "more": "{first} ほか {n} 件",
        "others": "{names} ほか {n} 社",
        "omitted": "（ほかに古い {n} 行は省略）",
        "no_evidence": "（記録なし）",
        "dear": "{name} 様",
        "dear_unknown": "ご担当者様",
        "head": "日付|報告元|送信元|通数|DKIM|SPF|認証結果",
    },
    "en": {
        "list_sep": ", ",
        "period_sep": " to ",
        "messages": "{n} messages",
        "more": "{first} and {n} more",
        "others": "{names} and {n} others",
        "omitted": "({n} older rows left out)",
        "no_evidence": "(no records attached)",
        "dear": "{name}",
        "dear_unknown": "administrator",
        "head": "Date|Reporter|Source|Count|DKIM|SPF|Auth results",
    },
}


class NoticeError(ValueError):
    """The findings cannot make a letter: nothing to fix, or no (single) recipient."""


class AddressError(NoticeError):
    """The recipient the user gave is not an e-mail address (ask again, nothing else is wrong)."""


def _is_address(addr: str) -> bool:
    """``local@domain`` with both parts, as the To header needs (``@host`` or ``a@`` is not)."""
    local, at, domain = addr.rpartition("@")
    if not (at and local and domain) or domain.startswith(".") or domain.endswith("."):
        return False
    try:
        Address(addr_spec=addr)
    except (ValueError, HeaderParseError):
        return False
    return True


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    lang: Lang


def letter_findings(findings: Sequence[Finding]) -> list[Finding]:
    """The findings a server admin can act on (not forwarding, not outside spoofing)."""
    return [f for f in findings if f.kind in ADVICE_KINDS]


def recipient_for(findings: Sequence[Finding], config: Config, to: str | None = None) -> Recipient:
    """Who the letter goes to: ``to`` when given, else the one contact of all the sources.

    Raises:
        NoticeError: a source has no contact and no ``to`` was given, or the sources belong to
            different contacts.
    """
    contacts = {}
    missing = []
    for f in findings:
        contact = config.contact_for(f.source_ip, f.ptr)
        if contact is not None:
            contacts[contact.email.lower()] = Recipient(contact.email, contact.name, contact.lang)
        elif f.contact_email:
            contacts[f.contact_email.lower()] = Recipient(f.contact_email, f.contact, "ja")
        else:
            missing.append(f.source_ip)
    if to:
        name, addr = parseaddr(to)
        if not _is_address(addr):
            raise AddressError(f"{to!r} is not an e-mail address")
        known = contacts.get(addr.lower())
        if known is None:
            return Recipient(addr, name or None, "ja")
        return Recipient(addr, name or known.name, known.lang)
    if missing:
        ips = ", ".join(sorted(set(missing)))
        raise NoticeError(
            f"no contact is known for {ips}: add a [[contacts]] entry to the config"
            " or give the recipient's address"
        )
    if len(contacts) > 1:
        raise NoticeError(
            "these sources belong to different contacts ("
            + ", ".join(sorted(contacts))
            + "): write one notice per contact"
        )
    return next(iter(contacts.values()))


def _from_address(config: Config) -> str:
    """The configured From, else the local user at this host (a mail server's own name)."""
    if config.notice.from_addr:
        return config.notice.from_addr
    return f"{getpass.getuser()}@{socket.getfqdn()}"


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def _evidence_table(findings: Sequence[Finding], lang: Lang) -> str:
    words = _WORDS[lang]
    rows: dict[tuple[object, ...], tuple[str, ...]] = {}
    several_sources = len({f.source_ip for f in findings}) > 1
    for f in findings:
        for e in f.evidence:
            rows[(e.begin, e.reporter, f.source_ip, e.report_id, e.count, e.auth)] = _row(
                e, f.source_ip
            )
    if not rows:
        return "  " + words["no_evidence"]
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[0], str(k[1]), str(k[2])))]
    shown = ordered[-MAX_EVIDENCE_ROWS:]
    head = tuple(words["head"].split("|"))
    keep = [i for i in range(len(head)) if several_sources or i != 2]
    table = [tuple(r[i] for i in keep) for r in (head, *shown)]
    widths = [max(_width(r[i]) for r in table) for i in range(len(keep))]
    lines = [
        "  " + "  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    if len(ordered) > len(shown):
        lines.append("  " + words["omitted"].format(n=len(ordered) - len(shown)))
    return "\n".join(lines)


def _period(begin: int, end: int, lang: Lang) -> str:
    """Report periods end at the next midnight, so the last day shown is ``end - 1``."""
    first, last = _day(begin), _day(max(begin, end - 1))
    return first if first == last else f"{first}{_WORDS[lang]['period_sep']}{last}"


def _row(e: Evidence, source_ip: str) -> tuple[str, ...]:
    return (_day(e.begin), e.reporter, source_ip, str(e.count), e.dkim, e.spf, e.auth)


def _join(items: Sequence[str], lang: Lang, limit: int = 5) -> str:
    words = _WORDS[lang]
    if len(items) <= limit:
        return words["list_sep"].join(items)
    return words["others"].format(names=words["list_sep"].join(items[:limit]), n=len(items) - limit)


def _per_source(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for f in findings:
        grouped.setdefault(f.source_ip, []).append(f)
    return grouped


def _source_label(fs: Sequence[Finding]) -> str:
    ptr = next((f.ptr for f in fs if f.ptr), None)
    return f"{fs[0].source_ip} ({ptr.rstrip('.')})" if ptr else fs[0].source_ip


def _subject_sources(grouped: dict[str, list[Finding]], lang: Lang) -> str:
    """``192.0.2.15 lab1.example.ac.jp``, plus how many more sources the letter covers."""
    fs = next(iter(grouped.values()))
    ptr = next((f.ptr.rstrip(".") for f in fs if f.ptr), None)
    first = f"{fs[0].source_ip} {ptr}" if ptr else fs[0].source_ip
    if len(grouped) == 1:
        return first
    return _WORDS[lang]["more"].format(first=first, n=len(grouped) - 1)


def _source_lines(grouped: dict[str, list[Finding]], lang: Lang) -> str:
    bullet = "・" if lang == "ja" else "- "
    lines = []
    for fs in grouped.values():
        messages = _WORDS[lang]["messages"].format(n=max(f.messages for f in fs))
        kinds = _WORDS[lang]["list_sep"].join(
            _KIND_SUMMARY[lang][k] for k in ADVICE_KINDS if any(f.kind == k for f in fs)
        )
        lines.append(f"  {bullet}{_source_label(fs)}: {messages} — {kinds}")
    return "\n".join(lines)


def _advice(findings: Sequence[Finding], lang: Lang, config: Config) -> str:
    blocks = []
    for kind in ADVICE_KINDS:
        of_kind = [f for f in findings if f.kind == kind]
        if not of_kind:
            continue
        template, origin = load_advice(kind, lang, config.templates_dir)
        values = {
            "sources": _WORDS[lang]["list_sep"].join(_source_label([f]) for f in of_kind),
            "header_from": ", ".join(sorted({f.header_from for f in of_kind})),
            "messages": str(sum(f.messages for f in of_kind)),
        }
        blocks.append(fill(template, values, origin))
    return "\n\n".join(blocks)


def _messages_since(grouped: dict[str, list[Finding]], day: str) -> int:
    total = 0
    for fs in grouped.values():
        per_day: dict[str, int] = {}
        for f in fs:
            for d, n in f.per_day:
                if d >= day:
                    per_day[d] = max(per_day.get(d, 0), n)
        total += sum(per_day.values())
    return total


def build_notice(
    findings: Sequence[Finding],
    config: Config,
    *,
    lang: Lang | None = None,
    to: str | None = None,
    now: datetime | None = None,
    reports_period: tuple[int, int] | None = None,
    follow_up_of: NoticeRecord | None = None,
) -> EmailMessage:
    """Compose the notice (or, with ``follow_up_of``, the follow-up) for ``findings``.

    Args:
        findings: findings of one or more sources; ``forwarded`` and ``outside_spoofing`` ones
            are left out of the letter.
        config: contacts, From, signature and the user's templates folder.
        lang: ``ja`` or ``en``; default: the contact's language.
        to: recipient address (``Name <addr>`` allowed); default: the contacts map.
        now: the Date of the letter; default: now, in local time.
        reports_period: (begin, end) epoch seconds to state; default: span of the findings.
        follow_up_of: the earlier notice this one follows up; sets In-Reply-To/References.

    Raises:
        NoticeError: only informational findings, no recipient, or several recipients.
        TemplateError: a user template is unreadable or uses an unknown placeholder.
    """
    if not findings:
        raise NoticeError("no findings were given, so there is nothing to write about")
    usable = letter_findings(findings)
    if not usable:
        raise NoticeError(
            "forwarded mail and outside spoofing are not something a server admin can fix:"
            " no notice is written for them"
        )
    recipient = recipient_for(usable, config, to)
    language: Lang = lang or recipient.lang
    words = _WORDS[language]
    sender = _from_address(config)
    from_domain = sender.rpartition("@")[2].rstrip(">").strip() or "localhost"
    when = (now or datetime.now()).astimezone()
    grouped = _per_source(usable)
    begin, end = reports_period or (
        min(f.first_seen for f in usable),
        max(f.last_seen for f in usable),
    )
    values = {
        "recipient": words["dear"].format(name=recipient.name)
        if recipient.name
        else words["dear_unknown"],
        "from_domain": from_domain,
        "header_from": ", ".join(sorted({f.header_from for f in usable})),
        "period": _period(begin, end, language),
        "reporters": _join(sorted({r for f in usable for r in f.reporters}), language),
        "total_messages": str(sum(max(f.messages for f in fs) for fs in grouped.values())),
        "subject_sources": _subject_sources(grouped, language),
        "sources": _source_lines(grouped, language),
        "advice": _advice(usable, language, config),
        "evidence": _evidence_table(usable, language),
        "signature": config.notice.signature.rstrip("\n") or sender,
        "first_date": follow_up_of.day if follow_up_of else "",
        "first_subject": follow_up_of.subject if follow_up_of else "",
        "since_messages": str(_messages_since(grouped, follow_up_of.day)) if follow_up_of else "",
    }
    template = load_letter("followup" if follow_up_of else "notice", language, config.templates_dir)
    msg = EmailMessage(policy=default_policy)
    msg["From"] = sender
    msg["To"] = Address(display_name=recipient.name or "", addr_spec=recipient.email)
    msg["Subject"] = fill(template.subject, values, template.origin)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=from_domain)
    if follow_up_of is not None:
        msg["In-Reply-To"] = follow_up_of.message_id
        msg["References"] = " ".join((*follow_up_of.references, follow_up_of.message_id))
    msg.set_content(fill(template.body, values, template.origin), charset="utf-8")
    msg["Content-Language"] = language  # after set_content, which drops Content-* headers
    return msg


def preview_text(msg: EmailMessage) -> str:
    """The letter as a person reads it: the main headers, decoded, then the body."""
    lines = [f"{name}: {msg[name]}" for name in ("From", "To", "Subject", "Date") if msg[name]]
    return "\n".join(lines) + "\n\n" + body_text(msg)


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def with_edits(msg: EmailMessage, *, body: str, subject: str | None = None) -> EmailMessage:
    """A copy of ``msg`` with the body (and subject) the user edited; other headers kept."""
    edited = EmailMessage(policy=default_policy)
    edited.set_content(body, charset="utf-8")
    for name, value in msg.items():
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            edited[name] = subject if subject is not None and name.lower() == "subject" else value
    return edited


def recipients(msg: EmailMessage) -> list[str]:
    """Every address the message goes to (To, Cc, Bcc), for the confirmation prompt."""
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]
