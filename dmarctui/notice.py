"""Build the notice to the admin of a misbehaving server, as an :class:`EmailMessage`.

The letter says what the reports showed (period, receivers, counts, source, header From), what
our DMARC policy is in those reports and what change is planned (only if the config says so),
what to change for each finding kind, and carries an evidence table. Everything it states
follows from the findings, the reports' policy and the config. Its text comes from
:mod:`dmarctui.notice_templates`, so the user can rewrite it; the body is folded to 72 columns
(:mod:`dmarctui.letter_text`). Headers are built only from validated values and the finished
letter is checked (:mod:`dmarctui.letter_headers`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from dmarctui.config import Config, Lang
from dmarctui.evidence_table import evidence_table
from dmarctui.history import NoticeRecord
from dmarctui.letter_headers import (
    LETTER_POLICY,
    LetterError,
    address_list,
    check_letter,
    host_name,
    message_id,
    plain_text,
    source_ip,
)
from dmarctui.letter_text import wrap_text
from dmarctui.model import Evidence, Finding
from dmarctui.notice_templates import ADVICE_KINDS, fill, load_advice, load_letter

_WORDS: dict[Lang, dict[str, str]] = {
    "ja": {
        "list_sep": "、",
        "period_sep": "〜",
        "messages": "{n} 通",
        "more": "{first} ほか {n} 件",
        "others": "{names} ほか {n} 社",
        "dear": "{name} 様",
        "dear_unknown": "ご担当者様",
    },
    "en": {
        "list_sep": ", ",
        "period_sep": " to ",
        "messages": "{n} messages",
        "more": "{first} and {n} more",
        "others": "{names} and {n} others",
        "dear": "{name}",
        "dear_unknown": "administrator",
    },
}


class NoticeError(ValueError):
    """The findings cannot make a letter: nothing to fix, no recipient, no From, a bad value."""


class AddressError(NoticeError):
    """An address the user gave is not an e-mail address (ask again, nothing else is wrong)."""


@dataclass(frozen=True)
class Recipients:
    """Who a letter goes to: one or more To, any Cc, and the language to write in."""

    to: tuple[Address, ...]
    cc: tuple[Address, ...] = ()
    lang: Lang = "ja"

    @property
    def name(self) -> str | None:
        """The name to greet: the first To's name, when it has one."""
        return self.to[0].display_name or None if self.to else None


def letter_findings(findings: Sequence[Finding]) -> list[Finding]:
    """The findings a server admin can act on (not forwarding, not outside spoofing)."""
    return [f for f in findings if f.kind in ADVICE_KINDS]


def _addresses(text: str, what: str) -> tuple[Address, ...]:
    try:
        return address_list(text)
    except LetterError as exc:
        raise AddressError(f"{what}: {exc}") from exc


def _named(addrs: tuple[Address, ...], name: str | None) -> tuple[Address, ...]:
    """The contact's name on its first address, when the address itself has none."""
    if not addrs or not name or addrs[0].display_name:
        return addrs
    try:
        first = Address(
            display_name=plain_text(name, "the contact's name"), addr_spec=addrs[0].addr_spec
        )
    except (LetterError, ValueError) as exc:
        raise NoticeError(f"{name!r}: {exc}") from exc
    return (first, *addrs[1:])


def recipient_for(
    findings: Sequence[Finding], config: Config, to: str | None = None, cc: str | None = None
) -> Recipients:
    """Who the letter goes to: ``to`` (and ``cc``) when given, else the one contact of the sources.

    ``to`` and ``cc`` are address lists (``Name <a@x>, b@y``); every item is validated.

    Raises:
        NoticeError: an address is invalid (named), a source has no contact and no ``to`` was
            given, or the sources belong to different contacts.
    """
    contacts: dict[str, Recipients] = {}
    missing = []
    for f in findings:
        contact = config.contact_for(f.source_ip, f.ptr)
        if contact is not None:
            to_list = _named(_addresses(contact.email, f"contact {contact.match}"), contact.name)
            cc_list = _addresses(contact.cc, f"contact {contact.match} cc") if contact.cc else ()
            key = ",".join(a.addr_spec.lower() for a in to_list)
            contacts[key] = Recipients(to_list, cc_list, contact.lang)
        elif f.contact_email:
            to_list = _named(_addresses(f.contact_email, "contact"), f.contact)
            contacts[",".join(a.addr_spec.lower() for a in to_list)] = Recipients(to_list)
        else:
            missing.append(f.source_ip)
    if to:
        chosen = _addresses(to, "To")
        if not chosen:
            raise NoticeError("To: no address given")
        known = contacts.get(chosen[0].addr_spec.lower())
        if known is None:
            known = next(
                (
                    r
                    for r in contacts.values()
                    if r.to and r.to[0].addr_spec.lower() == chosen[0].addr_spec.lower()
                ),
                None,
            )
        if known is not None and not chosen[0].display_name:
            chosen = (known.to[0], *chosen[1:])
        copies = _addresses(cc, "Cc") if cc is not None else (known.cc if known else ())
        return Recipients(chosen, copies, known.lang if known else "ja")
    if missing:
        ips = ", ".join(sorted(set(missing)))
        raise NoticeError(
            f"no contact is known for {ips}: add a [[contacts]] entry to the config"
            " or give the recipient's address"
        )
    if len(contacts) > 1:
        raise NoticeError(
            "these sources belong to different contacts ("
            + "; ".join(sorted(contacts))
            + "): write one notice per contact"
        )
    found = next(iter(contacts.values()))
    if cc is not None:
        return Recipients(found.to, _addresses(cc, "Cc"), found.lang)
    return found


def sender_address(config: Config, seen: Sequence[str] = ()) -> Address:
    """The From of every letter: ``[notice] from``, else ``postmaster@<first own domain>``.

    Own domains default to the policy domains ``seen`` in the reports, as in triage.

    Raises:
        NoticeError: no From and no domain to derive it from (one line naming the setting).
    """
    if config.notice.from_addr:
        return _addresses(config.notice.from_addr, "[notice] from")[0]
    domains = [d for d in (*config.own_domains, *seen) if d]
    if domains:
        try:
            return _addresses(f"postmaster@{domains[0]}", "[domains] own")[0]
        except NoticeError:
            pass
    raise NoticeError(
        "no From address: set [notice] from in the config (or [domains] own, for"
        " postmaster@<your domain>)"
    )


def sender_warning(config: Config, sender: object = None) -> str | None:
    """What to tell the user when the From is derived rather than configured.

    ``sender`` is the From of a letter already built; default: derived from the config alone.
    """
    if config.notice.from_addr:
        return None
    if sender is None:
        if not config.own_domains:
            return None
        sender = f"postmaster@{config.own_domains[0]}"
    return f"[notice] from is not set: letters go out as {sender}; set it in the config"


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def _period(begin: int, end: int, lang: Lang) -> str:
    """Report periods end at the next midnight, so the last day shown is ``end - 1``."""
    first, last = _day(begin), _day(max(begin, end - 1))
    return first if first == last else f"{first}{_WORDS[lang]['period_sep']}{last}"


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


def _ptr(fs: Sequence[Finding]) -> str | None:
    """The first PTR name of the source that is a plain host name (others are left out)."""
    return next((name for f in fs if (name := host_name(f.ptr))), None)


def _source_label(fs: Sequence[Finding]) -> str:
    ptr = _ptr(fs)
    return f"{fs[0].source_ip} ({ptr})" if ptr else fs[0].source_ip


def _subject_sources(grouped: dict[str, list[Finding]], lang: Lang) -> str:
    """``192.0.2.15 lab1.example.ac.jp``, plus how many more sources the letter covers."""
    fs = next(iter(grouped.values()))
    ptr = _ptr(fs)
    first = f"{fs[0].source_ip} {ptr}" if ptr else fs[0].source_ip
    if len(grouped) == 1:
        return first
    return _WORDS[lang]["more"].format(first=first, n=len(grouped) - 1)


# --------------------------------------------------------------------------- what is true


@dataclass(frozen=True)
class _Outcome:
    """What the receivers did with the messages of some findings, counted once per record."""

    messages: int
    dmarc_pass: int
    quarantined: int
    rejected: int

    @property
    def dmarc_fail(self) -> int:
        return self.messages - self.dmarc_pass


def _unique(findings: Sequence[Finding]) -> list[tuple[str, Evidence]]:
    """Each record behind the findings once, with its source.

    An ``enforced`` finding repeats records of its source's cause finding, so the two are not
    added up. Two records of one report can still be equal in every shown field (Microsoft
    writes a source's mail as one record per recipient domain): both count. Per equal row, the
    cause findings' rows add up, and the enforced finding's count only where they are fewer.
    """
    causes: Counter[tuple[str, Evidence]] = Counter()
    enforced: Counter[tuple[str, Evidence]] = Counter()
    for f in findings:
        rows = enforced if f.kind == "enforced" else causes
        for e in f.evidence:
            rows[(f.source_ip, e)] += 1
    return [
        key
        for key in dict.fromkeys([*causes, *enforced])
        for _ in range(max(causes[key], enforced[key]))
    ]


def _outcome(findings: Sequence[Finding]) -> _Outcome:
    rows = [e for _, e in _unique(findings)]
    if not rows:
        return _Outcome(sum(f.messages for f in findings), 0, 0, 0)
    return _Outcome(
        messages=sum(e.count for e in rows),
        dmarc_pass=sum(e.count for e in rows if "pass" in (e.dkim, e.spf)),
        quarantined=sum(e.count for e in rows if e.disposition == "quarantine"),
        rejected=sum(e.count for e in rows if e.disposition == "reject"),
    )


def _kind_summary(kind: str, fs: Sequence[Finding], lang: Lang) -> str:
    out = _outcome(fs)
    ja = lang == "ja"
    if kind == "internal_no_dkim":
        if out.dmarc_fail == 0:
            return (
                "DKIM 署名なし（DMARC は SPF だけで通過）"
                if ja
                else "no DKIM signature (passes DMARC through SPF only)"
            )
        return (
            f"DKIM 署名なし（{out.dmarc_fail} 通は DMARC にも失敗）"
            if ja
            else f"no DKIM signature ({out.dmarc_fail} failed DMARC)"
        )
    if kind == "dkim_broken":
        return "途中で DKIM 署名が壊れている" if ja else "DKIM signature broken on the way"
    if kind == "unaligned_third_party":
        return "別のドメインとしてのみ認証" if ja else "authenticated only as another domain"
    parts = []
    if out.quarantined:
        parts.append(f"{out.quarantined} 通が隔離" if ja else f"{out.quarantined} quarantined")
    if out.rejected:
        parts.append(f"{out.rejected} 通が拒否" if ja else f"{out.rejected} rejected")
    if not parts:
        return "受信側で隔離・拒否" if ja else "quarantined or rejected by receivers"
    return ("受信側で" + "・".join(parts)) if ja else ("by receivers: " + ", ".join(parts))


def _source_lines(grouped: dict[str, list[Finding]], lang: Lang) -> str:
    bullet = "・" if lang == "ja" else "- "
    sep = "、" if lang == "ja" else "; "
    lines = []
    for fs in grouped.values():
        messages = _WORDS[lang]["messages"].format(n=max(f.messages for f in fs))
        kinds = sep.join(
            _kind_summary(k, [f for f in fs if f.kind == k], lang)
            for k in ADVICE_KINDS
            if any(f.kind == k for f in fs)
        )
        lines.append(f"  {bullet}{_source_label(fs)}: {messages} — {kinds}")
    return "\n".join(lines)


def _status(kind: str, findings: Sequence[Finding], lang: Lang, header_from: str) -> str:
    """The advice's ``${status}``: what the reports say about these messages and DMARC."""
    out = _outcome(findings)
    ja = lang == "ja"
    if kind == "internal_no_dkim":
        if out.dmarc_fail == 0:
            return (
                f"これらのメールが現在 DMARC を通過しているのは、このサーバが {header_from} の"
                " SPF レコードの範囲内（学内ネットワーク）にあるためだけです。転送されると"
                "（転送先のサーバは SPF レコードに含まれないため）、また SPF レコードが変われば、"
                "DMARC に失敗します。"
                if ja
                else f"This mail passes DMARC today only because these servers are covered by"
                f" the SPF record of {header_from} (our campus network is listed there). It will"
                " fail DMARC once it is forwarded (a forwarding server is not in our SPF"
                " record), or if the SPF record changes."
            )
        return (
            f"レポートでは、このうち {out.dmarc_fail} 通が SPF でも認証されず、すでに DMARC に"
            f"失敗しています（{out.dmarc_pass} 通は SPF だけで通過）。"
            if ja
            else f"In the reports, {out.dmarc_fail} of these {out.messages} messages already"
            f" failed DMARC because SPF did not pass either ({out.dmarc_pass} passed through"
            " SPF only)."
        )
    if kind == "enforced":
        if not (out.quarantined or out.rejected):
            return (
                "このサーバからのメールが、受信側で隔離されたか、受信を拒否されています。"
                if ja
                else "Receivers quarantined or rejected messages from these servers."
            )
        return (
            f"このサーバから送られたメールのうち {_counted(out, lang)}。"
            if ja
            else f"Receivers {_counted(out, lang)} of the messages from these servers."
        )
    if out.dmarc_fail == 0:
        return (
            f"レポートでは、これらの {out.messages} 通は SPF によってまだ DMARC を通過しています。"
            if ja
            else f"In the reports, these {out.messages} messages still passed DMARC through SPF."
        )
    return (
        f"レポートでは、{out.messages} 通のうち {out.dmarc_fail} 通が DMARC に失敗しています。"
        if ja
        else f"In the reports, {out.dmarc_fail} of these {out.messages} messages failed DMARC."
    )


def _advice(findings: Sequence[Finding], lang: Lang, config: Config) -> str:
    blocks = []
    for kind in ADVICE_KINDS:
        of_kind = [f for f in findings if f.kind == kind]
        if not of_kind:
            continue
        template, origin = load_advice(kind, lang, config.templates_dir)
        header_from = ", ".join(sorted({f.header_from for f in of_kind}))
        out = _outcome(of_kind)
        values = {
            "sources": _WORDS[lang]["list_sep"].join(
                _source_label(fs) for fs in _per_source(of_kind).values()
            ),
            "header_from": header_from,
            "messages": str(sum(f.messages for f in of_kind)),
            "status": _status(kind, of_kind, lang, header_from),
            "quarantined": str(out.quarantined),
            "rejected": str(out.rejected),
        }
        blocks.append(fill(template, values, origin))
    return "\n\n".join(blocks)


_ACTION = {"ja": {"quarantine": "隔離", "reject": "拒否"}, "en": {}}


def _counted(out: _Outcome, lang: Lang) -> str:
    """``3 quarantined and 2 rejected`` (only the non-zero parts)."""
    if lang == "ja":
        parts = [f"{out.quarantined} 通が隔離"] if out.quarantined else []
        parts += [f"{out.rejected} 通が拒否"] if out.rejected else []
        return "され、".join(parts) + "されています"
    parts = [f"quarantined {out.quarantined}"] if out.quarantined else []
    parts += [f"rejected {out.rejected}"] if out.rejected else []
    return " and ".join(parts)


_STRENGTH = {"none": 0, "quarantine": 1, "reject": 2}


def policy_text(
    findings: Sequence[Finding],
    config: Config,
    lang: Lang,
    policies: Mapping[str, str] | None,
    today: date,
) -> str:
    """The ``${policy}`` paragraph: the policy the reports show, what happened, the plan.

    Args:
        policies: policy domain -> the ``p=`` of the latest report quoting these sources
            (:func:`dmarctui.letter_policy.policies_in_reports`); None when unknown.
        today: the letter's date; a planned date before it is not repeated.
    """
    ja = lang == "ja"
    out = _outcome(findings)
    plan = config.notice.planned_policy
    when = config.notice.planned_date
    domains = dict(policies or {}) or {
        (config.own_domain_for(f.header_from) or f.header_from): "" for f in findings
    }
    sentences = []
    for domain, p in sorted(domains.items()):
        if p == "none":
            sentences.append(
                f"レポートによると、{domain} の DMARC ポリシーは現在 p=none（監視のみ）で、"
                "受信側にメールの隔離や拒否を求めてはいません。"
                if ja
                else f"The reports show the DMARC policy of {domain} as p=none (monitoring only):"
                " it does not ask receivers to quarantine or reject this mail."
            )
            if out.quarantined or out.rejected:
                sentences.append(
                    f"それでも、このサーバからのメールのうち {_counted(out, lang)}"
                    "（受信側の独自の判断です）。"
                    if ja
                    else f"Even so, receivers {_counted(out, lang)} of the messages from these"
                    " servers by their own rules."
                )
        elif p in ("quarantine", "reject"):
            action = _ACTION["ja"][p] if ja else p
            sentences.append(
                f"レポートによると、{domain} の DMARC ポリシーはすでに p={p} で、DMARC に"
                f"失敗したメールの{action}を受信側に求めています。"
                if ja
                else f"The reports show the DMARC policy of {domain} as p={p} already: receivers"
                f" are asked to {action} mail that fails DMARC."
            )
            if out.quarantined or out.rejected:
                sentences.append(
                    f"このサーバからのメールのうち {_counted(out, lang)}。"
                    if ja
                    else f"They {_counted(out, lang)} of the messages from these servers."
                )
            else:
                sentences.append(
                    "レポートの範囲では、このサーバからのメールが隔離・拒否された記録は"
                    "まだありません。"
                    if ja
                    else "The reports show none of the messages from these servers"
                    " quarantined or rejected so far."
                )
        elif out.quarantined or out.rejected:
            sentences.append(
                f"このサーバからのメールのうち {_counted(out, lang)}。"
                if ja
                else f"Receivers {_counted(out, lang)} of the messages from these servers."
            )
        if plan and _STRENGTH[plan] > _STRENGTH.get(p, 0):
            dated = when is not None and when >= today
            action = _ACTION["ja"][plan] if ja else plan
            if ja:
                lead = f"{when.isoformat()} に" if dated and when else "今後、"
                sentences.append(
                    f"{lead}{domain} の DMARC ポリシーを p={plan} に変更する予定です。"
                    f"変更後は、DMARC に失敗したメールの{action}を受信側に求めることになります。"
                )
            else:
                on = f" on {when.isoformat()}" if dated and when else ""
                sentences.append(
                    f"We plan to change the DMARC policy of {domain} to p={plan}{on}; from then"
                    f" on, receivers are asked to {action} mail that fails DMARC."
                )
    return ("" if ja else " ").join(sentences)


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


def _validated(findings: Sequence[Finding]) -> None:
    """Refuse a finding whose source IP is not an address: it would reach the Subject."""
    for f in findings:
        try:
            source_ip(f.source_ip)
        except LetterError as exc:
            raise NoticeError(str(exc)) from exc


def build_notice(
    findings: Sequence[Finding],
    config: Config,
    *,
    lang: Lang | None = None,
    to: str | None = None,
    cc: str | None = None,
    now: datetime | None = None,
    reports_period: tuple[int, int] | None = None,
    follow_up_of: NoticeRecord | None = None,
    policies: Mapping[str, str] | None = None,
) -> EmailMessage:
    """Compose the notice (or, with ``follow_up_of``, the follow-up) for ``findings``.

    Args:
        findings: findings of one or more sources; ``forwarded`` and ``outside_spoofing`` ones
            are left out of the letter.
        config: contacts, From, signature, planned policy and the user's templates folder.
        lang: ``ja`` or ``en``; default: the contact's language.
        to, cc: address lists (``Name <a@x>, b@y``); default: the contacts map.
        now: the Date of the letter; default: now, in local time.
        reports_period: (begin, end) epoch seconds to state; default: span of the findings.
        follow_up_of: the earlier notice this one follows up; sets In-Reply-To/References.
        policies: the ``p=`` the reports show per policy domain (see :func:`policy_text`).

    Raises:
        NoticeError: only informational findings, no recipient, several recipients, an invalid
            address, no From, or a value that cannot go into a header.
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
    _validated(usable)
    rcpt = recipient_for(usable, config, to, cc)
    language: Lang = lang or rcpt.lang
    words = _WORDS[language]
    sender = sender_address(
        config, sorted(policies or {}) or sorted({f.header_from for f in usable})
    )
    from_domain = sender.domain
    when = (now or datetime.now()).astimezone()
    grouped = _per_source(usable)
    begin, end = reports_period or (
        min(f.first_seen for f in usable),
        max(f.last_seen for f in usable),
    )
    values = {
        "recipient": words["dear"].format(name=rcpt.name) if rcpt.name else words["dear_unknown"],
        "from_domain": from_domain,
        "header_from": ", ".join(sorted({f.header_from for f in usable})),
        "period": _period(begin, end, language),
        "reporters": _join(sorted({r for f in usable for r in f.reporters}), language),
        "total_messages": str(sum(max(f.messages for f in fs) for fs in grouped.values())),
        "subject_sources": _subject_sources(grouped, language),
        "sources": _source_lines(grouped, language),
        "policy": policy_text(usable, config, language, policies, when.date()),
        "advice": _advice(usable, language, config),
        "evidence": evidence_table(
            {_source_label(fs): _unique(fs) for fs in grouped.values()}, language
        ),
        "signature": config.notice.signature.strip("\n") or str(sender),
        "first_date": follow_up_of.day if follow_up_of else "",
        "first_subject": follow_up_of.subject if follow_up_of else "",
        "since_messages": str(_messages_since(grouped, follow_up_of.day)) if follow_up_of else "",
    }
    template = load_letter("followup" if follow_up_of else "notice", language, config.templates_dir)
    try:
        subject = plain_text(fill(template.subject, values, template.origin).strip(), "Subject")
        msg = EmailMessage(policy=LETTER_POLICY)
        msg["From"] = sender
        msg["To"] = rcpt.to
        if rcpt.cc:
            msg["Cc"] = rcpt.cc
        msg["Subject"] = subject
        msg["Date"] = format_datetime(when)
        msg["Message-ID"] = make_msgid(domain=from_domain)
        if follow_up_of is not None:
            first = message_id(follow_up_of.message_id)
            refs = [message_id(r) for r in follow_up_of.references]
            msg["In-Reply-To"] = first
            msg["References"] = " ".join((*refs, first))
        body = wrap_text(fill(template.body, values, template.origin))
        msg.set_content(body, charset="utf-8")
        msg["Content-Language"] = language  # after set_content, which drops Content-* headers
        check_letter(msg)
    except LetterError as exc:
        raise NoticeError(str(exc)) from exc
    return msg


def preview_text(msg: EmailMessage) -> str:
    """The letter as a person reads it: the main headers, decoded, then the body."""
    lines = [
        f"{name}: {msg[name]}" for name in ("From", "To", "Cc", "Subject", "Date") if msg[name]
    ]
    return "\n".join(lines) + "\n\n" + body_text(msg)


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def with_edits(msg: EmailMessage, *, body: str, subject: str | None = None) -> EmailMessage:
    """A copy of ``msg`` with the body (and subject) the user edited; other headers kept."""
    edited = EmailMessage(policy=LETTER_POLICY)
    edited.set_content(body, charset="utf-8")
    for name, value in msg.items():
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            edited[name] = subject if subject is not None and name.lower() == "subject" else value
    return edited


def recipients(msg: EmailMessage) -> list[str]:
    """Every address the message goes to (To, Cc), for the confirmation prompt."""
    values = [str(v) for name in ("To", "Cc") for v in msg.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr]
