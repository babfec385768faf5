"""The digest as plain text (≤ 72 columns, a CJK character counting two) in English or Japanese.

Everything taken from reports (reporter names, PTR names, intake reasons) is shown with control
and bidi characters escaped, so a stranger's bytes cannot move the reader's cursor.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence

from dmarctui.config import Lang
from dmarctui.digest import READINESS_DAYS, Digest, ReadinessLine

WIDTH = 72
LISTED = 30
"""Most items a section lists; the heading says how many there are (``--json`` has all)."""

KIND: dict[Lang, dict[str, str]] = {
    "en": {
        "internal_no_dkim": "internal sender without DKIM",
        "dkim_broken": "DKIM broken in transit",
        "unaligned_third_party": "unaligned third-party sender",
        "enforced": "enforced",
    },
    "ja": {
        "internal_no_dkim": "DKIM 署名のない内部サーバ",
        "dkim_broken": "転送中に壊れた DKIM 署名",
        "unaligned_third_party": "整合しない外部サービス",
        "enforced": "隔離・拒否",
    },
}
ADVICE: dict[Lang, dict[str, str]] = {
    "en": {
        "internal_no_dkim": "Submit via the department server, or use the lab's own From.",
        "dkim_broken": "Do not modify messages, or rewrite From and sign as the list.",
        "unaligned_third_party": "Set up DKIM for our domain at that service.",
    },
    "ja": {
        "internal_no_dkim": "部局のメールサーバ経由で送るか、研究室自身の From を使う。",
        "dkim_broken": "メールを改変しないか、From を書き換えてリストとして署名する。",
        "unaligned_third_party": "そのサービスで自ドメインの DKIM 署名を設定する。",
    },
}
INTAKE: dict[Lang, dict[str, str]] = {
    "en": {
        "unreadable": "unreadable",
        "collision": "report_id collision",
        "recovered": "recovered",
    },
    "ja": {
        "unreadable": "読めないメール",
        "collision": "report_id の衝突",
        "recovered": "修復した XML",
    },
}
WORDS: dict[Lang, dict[str, str]] = {
    "en": {
        "title": "DMARC digest",
        "for": " for {domains}",
        "since": "Since {since}; reports up to {last}.",
        "first": "First digest; reports up to {last}.",
        "count": "{problems}, {reports} reports from {reporters} reporters.",
        "problems": "{n} new problems",
        "problem": "1 new problem",
        "nothing": "Nothing new.",
        "first_of": "{title} ({shown} of {total} listed; --json has all)",
        "new": "New sources that need action",
        "messages": "{n} messages",
        "message": "1 message",
        "again": "failing again",
        "contact": "contact: {who}",
        "known": "known sender: {label}",
        "worse": "Sources that got worse",
        "worse_line": "{ip}: {before:.1f} -> {after:.1f} failing messages/day",
        "fixed": "Sources now fixed",
        "fixed_notice": "{ip}: no failing mail since its notice of {day}",
        "fixed_quiet": "{ip}: no failing mail since {day}",
        "losses": "New enforced losses (quarantined or rejected)",
        "loss_line": "{ip}: {msgs} quarantined or rejected",
        "reporters": "New reporters: {names}",
        "disagree": "Receivers disagree on the policy of {domain}:",
        "intake": "Intake problems",
        "followups": "Notices due for a follow-up",
        "followup_line": "{ip}: notified {day} ({to}); {n} failing messages since due",
        "spoofing": "Outside spoofing: {m} from {s} on the new days.",
        "sources": "{n} sources",
        "source": "1 source",
        "readiness": "Readiness",
        "ready": "{domain} ({policy}): ready for {step}",
        "ready_top": "{domain} ({policy}): no legitimate mail fails DMARC",
        "not_ready": (
            "{domain} ({policy}): not ready for {step}: {n} messages from legitimate"
            " sources failed in the last {days} days"
        ),
        "changed": " (changed)",
        "decision": "decision: {text}",
        "subject": "DMARC digest{domains}: {problems}",
    },
    "ja": {
        "title": "DMARC ダイジェスト",
        "for": " ({domains})",
        "since": "{since} 以降の変化。レポートは {last} まで。",
        "first": "初回のダイジェスト。レポートは {last} まで。",
        "count": "{problems}。報告者 {reporters} 社のレポート {reports} 通。",
        "problems": "新しい問題 {n} 件",
        "problem": "新しい問題 1 件",
        "nothing": "新しいことはありません。",
        "first_of": "{title} ({total} 件中 {shown} 件。全件は --json で)",
        "new": "対応が必要な新しい送信元",
        "messages": "{n} 通",
        "message": "1 通",
        "again": "再発",
        "contact": "連絡先: {who}",
        "known": "既知の送信者: {label}",
        "worse": "悪化した送信元",
        "worse_line": "{ip}: 1 日あたりの失敗 {before:.1f} → {after:.1f} 通",
        "fixed": "解決した送信元",
        "fixed_notice": "{ip}: {day} の通知以降、失敗なし",
        "fixed_quiet": "{ip}: {day} 以降、失敗なし",
        "losses": "新たに隔離・拒否されたメール",
        "loss_line": "{ip}: {msgs}が隔離・拒否された",
        "reporters": "新しい報告者: {names}",
        "disagree": "{domain} の公開ポリシーについて受信側の見方が一致しない:",
        "intake": "取り込みの問題",
        "followups": "再通知の時期を迎えた通知",
        "followup_line": "{ip}: {day} に通知 ({to})。期限後も {n} 通が失敗",
        "spoofing": "外部からのなりすまし: 新しい日に {s}から {m}。",
        "sources": "{n} 送信元",
        "source": "1 送信元",
        "readiness": "ポリシー強化の準備",
        "ready": "{domain} ({policy}): {step} に進める",
        "ready_top": "{domain} ({policy}): 正当なメールの失敗なし",
        "not_ready": (
            "{domain} ({policy}): {step} にはまだ早い。直近 {days} 日に正当な送信元の"
            "メール {n} 通が DMARC に失敗"
        ),
        "changed": " (変化あり)",
        "decision": "判断: {text}",
        "subject": "DMARC ダイジェスト{domains}: {problems}",
    },
}


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def text_width(text: str) -> int:
    return sum(char_width(c) for c in text)


def shown(text: str) -> str:
    """Untrusted text on one line: controls, bidi controls and line breaks escaped."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != " ":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


CLOSERS = frozenset(")）」』】〕、。，．,.:;!?％%")
OPENERS = frozenset("(（「『【〔")


def _glued(tokens: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Tokens with closing punctuation kept on the line before it, and opening punctuation on
    the line after it (a line never starts with ``)`` or ``、`` nor ends with ``(``)."""
    out: list[tuple[str, bool]] = []
    for token, space in tokens:
        if out and not space and (token[0] in CLOSERS or out[-1][0][-1] in OPENERS):
            out[-1] = (out[-1][0] + token, out[-1][1])
        else:
            out.append((token, space))
    return out


def _tokens(text: str) -> Iterator[tuple[str, bool]]:
    """Words (runs of narrow characters) and single wide characters, each with whether a space
    came before it; a line may break at a space or next to a wide character."""
    buf, buf_space, space = "", False, False
    for ch in text:
        if ch == " ":
            if buf:
                yield buf, buf_space
                buf = ""
            space = True
        elif char_width(ch) == 2:
            if buf:
                yield buf, buf_space
                buf = ""
            yield ch, space
            space = False
        else:
            if not buf:
                buf_space, space = space, False
            buf += ch
    if buf:
        yield buf, buf_space


def wrap(text: str, first: str = "", rest: str | None = None, width: int = WIDTH) -> list[str]:
    """Lines of at most ``width`` columns; ``first`` and ``rest`` are the indents."""
    rest = first if rest is None else rest
    lines: list[str] = []
    line, used = first, text_width(first)
    empty = True
    for token, space in _glued(_tokens(text)):
        need = text_width(token) + (1 if space and not empty else 0)
        if not empty and used + need > width:
            lines.append(line)
            line, used, empty = rest, text_width(rest), True
            need = text_width(token)
        if empty and used + need > width:  # one token longer than a line: cut it
            for ch in token:
                if used + char_width(ch) > width:
                    lines.append(line)
                    line, used = rest, text_width(rest)
                line += ch
                used += char_width(ch)
            empty = False
            continue
        if space and not empty:
            line += " "
        line += token
        used += need
        empty = False
    lines.append(line)
    return lines


def subject(digest: Digest, lang: Lang, domains: Sequence[str] = ()) -> str:
    """A stable Subject: the same shape every day, the count of new problems in it."""
    words = WORDS[lang]
    named = words["for"].format(domains=", ".join(domains)) if domains else ""
    return words["subject"].format(domains=named, problems=_count(digest.problems, "problem", lang))


def render(digest: Digest, lang: Lang, domains: Sequence[str] = ()) -> str:
    """The digest as text; every line fits in ``WIDTH`` columns."""
    w = WORDS[lang]
    out: list[str] = []
    add: Callable[..., None] = lambda text, first="", rest=None: out.extend(  # noqa: E731
        wrap(text, first, rest)
    )
    named = w["for"].format(domains=", ".join(domains)) if domains else ""
    add(w["title"] + named)
    last = digest.last_day or "-"
    if digest.since:
        add(w["since"].format(since=digest.since, last=last))
    else:
        add(w["first"].format(last=last))
    add(
        w["count"].format(
            problems=_count(digest.problems, "problem", lang),
            reports=f"{digest.reports:,}",
            reporters=digest.reporters_total,
        )
    )
    if not digest.has_news:
        add(w["nothing"])

    if digest.new_sources:
        out += ["", _head(w["new"], len(digest.new_sources), lang)]
        for n in digest.new_sources[:LISTED]:
            name = f" ({shown(n.ptr.rstrip('.'))})" if n.ptr else ""
            again = f", {w['again']}" if n.again else ""
            msgs = _messages(n.messages, lang)
            add(f"{n.source_ip}{name}: {KIND[lang][n.kind]}, {msgs}{again}", "  ", "    ")
            if n.contact:
                add(w["contact"].format(who=shown(n.contact)), "    ", "      ")
            if n.label:
                add(w["known"].format(label=shown(n.label)), "    ", "      ")
            add(ADVICE[lang][n.kind], "    ", "    ")
    if digest.worse:
        out += ["", _head(w["worse"], len(digest.worse), lang)]
        for x in digest.worse[:LISTED]:
            kinds = ", ".join(KIND[lang][k] for k in x.kinds)
            line = w["worse_line"].format(ip=x.source_ip, before=x.before, after=x.after)
            add(f"{line} ({kinds})" if kinds else line, "  ", "    ")
            if x.decision:
                add(w["decision"].format(text=shown(x.decision)), "    ", "      ")
    if digest.losses:
        out += ["", _head(w["losses"], len(digest.losses), lang)]
        for loss in digest.losses[:LISTED]:
            kinds = ", ".join(KIND[lang][k] for k in loss.kinds)
            line = w["loss_line"].format(ip=loss.source_ip, msgs=_messages(loss.messages, lang))
            add(f"{line} ({kinds})" if kinds else line, "  ", "    ")
            if loss.decision:
                add(w["decision"].format(text=shown(loss.decision)), "    ", "      ")
    if digest.fixed:
        out += ["", _head(w["fixed"], len(digest.fixed), lang)]
        for f in digest.fixed[:LISTED]:
            key = "fixed_notice" if f.notice else "fixed_quiet"
            add(w[key].format(ip=f.source_ip, day=f.since), "  ", "    ")
    if digest.follow_ups:
        out += ["", _head(w["followups"], len(digest.follow_ups), lang)]
        for d in digest.follow_ups[:LISTED]:
            to = ", ".join(shown(r) for r in d.recipients) or "-"
            add(
                w["followup_line"].format(ip=d.source_ip, day=d.notified, to=to, n=d.failing),
                "  ",
                "    ",
            )
    if digest.intake:
        out += ["", _head(w["intake"], len(digest.intake), lang)]
        for p in digest.intake[:LISTED]:
            add(f"{INTAKE[lang][p.kind]}: {shown(p.where)}: {shown(p.detail)}", "  ", "    ")
    if digest.new_reporters or digest.disagreements:
        out.append("")
    if digest.new_reporters:
        add(w["reporters"].format(names=", ".join(shown(r) for r in digest.new_reporters)))
    for dis in digest.disagreements:
        add(w["disagree"].format(domain=shown(dis.domain)))
        for text, who in dis.variants:
            add(f"{shown(text)}: {', '.join(shown(r) for r in who)}", "  ", "    ")
    if digest.spoofing_sources and digest.has_news:
        out.append("")
        add(
            w["spoofing"].format(
                m=_messages(digest.spoofing_messages, lang),
                s=_count(digest.spoofing_sources, "source", lang),
            )
        )
    if digest.readiness:
        out += ["", w["readiness"]]
        for r in digest.readiness:
            add(_readiness(r, lang), "  ", "    ")
    return "\n".join(out) + "\n"


def _head(title: str, total: int, lang: Lang) -> str:
    if total <= LISTED:
        return title
    return WORDS[lang]["first_of"].format(title=title, shown=LISTED, total=f"{total:,}")


def _count(n: int, noun: str, lang: Lang) -> str:
    """``1 message`` / ``3 messages``, by the ``noun`` and ``nouns`` entries of WORDS."""
    w = WORDS[lang]
    return w[noun] if n == 1 else w[noun + "s"].format(n=f"{n:,}")


def _messages(n: int, lang: Lang) -> str:
    return _count(n, "message", lang)


def _readiness(r: ReadinessLine, lang: Lang) -> str:
    w = WORDS[lang]
    domain = shown(r.domain)
    if r.ready:
        text = (
            w["ready"].format(domain=domain, policy=r.policy, step=r.next_step)
            if r.next_step
            else w["ready_top"].format(domain=domain, policy=r.policy)
        )
    else:
        text = w["not_ready"].format(
            domain=domain,
            policy=r.policy,
            step=r.next_step or r.policy,
            n=f"{r.failed_legit:,}",
            days=READINESS_DAYS,
        )
    return text + (w["changed"] if r.changed else "")
