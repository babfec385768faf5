"""A labelled campus report folder in the seed's layout, built as the reporters send it.

An outside-style acceptance folder, independent of dmarctui's own synthetic generator and of its
triage code: every record is written from what each server *is* (a lab server sending with the
department address, the department server signing, a forwarder, a spoofer...), and the expected
labels (source IP -> kind -> messages) are summed here from those roles while the XML is
written, never by classifying records.

The layout (the seed, §5.3 and §6.1):

* the university ``example.ac.jp`` publishes ``p=none``;
* the department ``sub.example.ac.jp`` publishes its own ``p=quarantine; sp=none`` and its mail
  server signs with DKIM as the department;
* lab servers inside the campus networks (IPv4 and IPv6) send with the department address in
  From: SPF passes through the campus include, there is no DKIM signature. These are the servers
  the seed had to find and notify; one lab does the same with the university address, one sits
  in a campus network the config does not list (only SPF says it is ours), one belongs to another
  department (``ee.example.ac.jp``, unlisted, publishing its own ``p=none``);
* lab 1 followed the advice and uses its own subdomain From (``lab1.sub.example.ac.jp``, SPF
  pass, no DKIM): clean;
* outside: a forwarder and a newsletter service signing for the department (both pass DMARC
  through DKIM), a mailing list that adds a footer (DKIM broken, quarantined), a registration
  service signing only as itself (unaligned), and spoofers (IPv4 and IPv6).

Reports come daily for six weeks from Google (zip), Outlook.com and Enterprise Outlook (gzip in a
multipart/related HTML mail, ``envelope_to`` rows), Yahoo (a single-part gzip body) and Mail.Ru
(single-line XML, SPF-only auth results), each in the shape of the real reports of
``corpus/public``. One report arrives twice (the seed: reporters resend the same file).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from mailbuild import gzip_bytes, mail, mime_part, multipart, zip_bytes

UNIV = "example.ac.jp"
DEPT = "sub.example.ac.jp"
EE = "ee.example.ac.jp"
LAB1 = "lab1.sub.example.ac.jp"

CAMPUS_NETWORKS = ("192.0.2.0/24", "2001:db8:100::/48")
"""The campus networks the config lists as internal."""
SATELLITE_NETWORK = "203.0.113.0/26"
"""A campus network in the campus SPF include that the config does not list."""

FIRST_DAY = datetime(2024, 10, 7, tzinfo=UTC)
DAYS = 42
DAY = 86_400

POLICIES = {
    UNIV: {"p": "none", "sp": None},
    DEPT: {"p": "quarantine", "sp": "none"},
    EE: {"p": "none", "sp": None},
}


@dataclass(frozen=True)
class Server:
    """One sending server and what it is; ``kind`` is the label a mail admin gives it."""

    ip: str
    name: str
    header_from: str
    kind: str | None
    """``internal_no_dkim`` etc. for a server needing action; None when it is benign."""
    rate: float
    """Probability that a given reporter has mail from it on a given day."""
    volume: tuple[int, int]
    dkim: tuple[tuple[str, str], ...] = ()
    """(domain, result) of the DKIM signatures the receivers verified."""
    spf: tuple[str, str] = ("", "fail")
    """(envelope domain, SPF result)."""
    contact: tuple[str, str, str] | None = None
    """(name, e-mail, language) of the server's admin, for notices."""
    days: tuple[int, ...] | None = None
    """Only on these day numbers (a server seen once or twice)."""


def _dept_servers() -> list[Server]:
    signed = ((DEPT, "pass"),)
    return [
        Server("192.0.2.25", "department mail server", DEPT, None, 0.95, (8, 40), signed,
               (DEPT, "pass")),
        Server("2001:db8:100::25", "department mail server (IPv6)", DEPT, None, 0.8, (4, 20),
               signed, (DEPT, "pass")),
    ]  # fmt: skip


def _servers() -> list[Server]:
    no_dkim = "internal_no_dkim"
    return [
        # The university's own server signs as the university.
        Server("192.0.2.10", "university mail server", UNIV, None, 0.9, (5, 30),
               ((UNIV, "pass"),), (UNIV, "pass")),
        # Lab servers with the department address in From, SPF via the campus include, no DKIM.
        Server("192.0.2.71", "lab 2 server", DEPT, no_dkim, 0.6, (1, 9), (), (DEPT, "pass"),
               ("Lab 2 server admin", "admin@lab2.sub.example.ac.jp", "en")),
        Server("192.0.2.133", "lab 3 server", DEPT, no_dkim, 0.35, (1, 4), (),
               ("lab3.sub.example.ac.jp", "pass"),
               ("Lab 3 server admin", "root@lab3.sub.example.ac.jp", "ja")),
        Server("2001:db8:100:4::25", "lab 4 server (IPv6)", DEPT, no_dkim, 0.5, (1, 6), (),
               (DEPT, "pass"), ("Lab 4 server admin", "admin@lab4.sub.example.ac.jp", "en")),
        Server("192.0.2.177", "lab 6 server (rarely used)", DEPT, no_dkim, 1.0, (1, 1), (),
               (DEPT, "pass"), ("Lab 6 server admin", "admin@lab6.sub.example.ac.jp", "en"),
               days=(9, 30)),
        Server("203.0.113.17", "lab 7 server (satellite campus)", DEPT, no_dkim, 0.3, (1, 5),
               (), (DEPT, "pass"), ("Lab 7 server admin", "admin@lab7.sub.example.ac.jp", "en")),
        # A lab with the university address in From.
        Server("192.0.2.150", "lab 5 server", UNIV, no_dkim, 0.4, (1, 7), (), (UNIV, "pass"),
               ("Lab 5 server admin", "admin@lab5.example.ac.jp", "en")),
        # A lab of another department, which publishes its own policy and is not listed.
        Server("2001:db8:100:ee::25", "EE lab server (IPv6)", EE, no_dkim, 0.3, (1, 5), (),
               (EE, "pass"), ("EE lab server admin", "admin@lab.ee.example.ac.jp", "en")),
        # Lab 1 followed the advice: its own subdomain in From, authenticated by its SPF.
        Server("192.0.2.90", "lab 1 server", LAB1, None, 0.5, (1, 8), (), (LAB1, "pass")),
        Server("2001:db8:100:1::25", "lab 1 server (IPv6)", LAB1, None, 0.3, (1, 4), (),
               (LAB1, "pass")),
        # Outside, legitimate: our DKIM survives.
        Server("198.51.100.20", "alumni forwarder", DEPT, None, 0.4, (1, 5), ((DEPT, "pass"),),
               (DEPT, "fail")),
        Server("198.51.100.60", "newsletter service", DEPT, None, 0.2, (20, 120),
               ((DEPT, "pass"), ("esp.example.net", "pass")), ("bounce.esp.example.net", "pass")),
        # A society's mailing list adds a footer: our DKIM arrives broken.
        Server("198.51.100.80", "society mailing list", DEPT, "dkim_broken", 0.35, (1, 6),
               ((DEPT, "fail"),), ("lists.society.example.org", "pass"),
               ("Society list admin", "listmaster@society.example.org", "en")),
        # A registration service signs only as itself.
        Server("198.51.100.100", "registration service", DEPT, "unaligned_third_party", 0.25,
               (2, 15), (("regsvc.example.com", "pass"),), ("mail.regsvc.example.com", "pass")),
        # Spoofers.
        Server("198.51.100.213", "spoofer", UNIV, "outside_spoofing", 0.3, (1, 30), (),
               (UNIV, "fail")),
        Server("203.0.113.200", "spoofer", DEPT, "outside_spoofing", 0.25, (1, 12), (),
               (DEPT, "softfail")),
        Server("2001:db8:bad::66", "spoofer (IPv6)", DEPT, "outside_spoofing", 0.2, (1, 10),
               (("spam.example", "fail"),), ("spam.example", "none")),
    ]  # fmt: skip


@dataclass(frozen=True)
class Reporter:
    org_name: str
    email: str
    filename_host: str
    share: float
    """How much of our mail goes to this receiver."""
    style: str
    tree_walk: bool = False
    """Reports a subdomain From without a record under the nearest policy (DMARCbis)."""


REPORTERS = (
    Reporter("google.com", "noreply-dmarc-support@google.com", "google.com", 1.0, "google"),
    Reporter("Outlook.com", "dmarcreport@microsoft.com", "protection.outlook.com", 0.7,
             "outlook"),
    Reporter("Enterprise Outlook", "dmarcreport@microsoft.com",
             "enterprise.protection.outlook.com", 0.5, "enterprise"),
    Reporter("Yahoo", "dmarchelp@yahooinc.com", "yahoo.com", 0.4, "yahoo", tree_walk=True),
    Reporter("Mail.Ru", "dmarc_support@corp.mail.ru", "mail.ru", 0.15, "mailru"),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    server: Server
    count: int
    disposition: str
    dkim: str
    spf: str
    envelope_to: str | None = None
    reason: str | None = None


@dataclass
class CampusFolder:
    """The folder and its labels, summed from the servers' roles while the reports were written."""

    path: Path
    expected: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    """Every source that needs action: IP -> kind -> messages (``enforced`` included)."""
    benign: set[str] = field(default_factory=set)
    """Sources that send as our domains and need nothing (forwarded mail included)."""
    servers: dict[str, Server] = field(default_factory=dict)
    readiness: Counter[str] = field(default_factory=Counter)
    """Messages as ``readiness`` counts them: ``passed`` DMARC, ``failed_legit`` (a stricter
    policy would lose them), ``failed_outside`` (spoofing), ``enforced`` (quarantined/rejected)."""
    messages: int = 0
    """Mails in the folder."""
    reports: int = 0
    """Distinct reports (the resent one counted once)."""

    per_day: dict[tuple[str, str], Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    """(IP, kind) -> messages per day number (0 is :data:`FIRST_DAY`)."""

    def lab_servers(self) -> list[Server]:
        return [s for s in self.servers.values() if s.kind == "internal_no_dkim"]

    def expected_between(self, first: int, last: int) -> dict[str, dict[str, int]]:
        """The labels of the reports of days ``first`` to ``last`` (day numbers, inclusive)."""
        out: dict[str, dict[str, int]] = {}
        for (ip, kind), days in self.per_day.items():
            n = sum(m for day, m in days.items() if first <= day <= last)
            if n:
                out.setdefault(ip, {})[kind] = n
        return out


def _policy_domain(header_from: str, reporter: Reporter, dept_publishes: bool) -> str:
    if header_from == DEPT:
        return DEPT if dept_publishes else UNIV
    if header_from == LAB1 and reporter.tree_walk and dept_publishes:
        return DEPT
    return EE if header_from == EE else UNIV


def _disposition(server: Server, policy_domain: str, reporter: Reporter) -> tuple[str, str | None]:
    """What the receiver did: the policy of the domain unless DMARC passed; a mailing list
    override at Google (it recognises list traffic)."""
    policy = POLICIES[policy_domain]
    applied = policy["p"]
    if server.header_from != policy_domain:
        applied = policy["sp"] or policy["p"]
    if applied == "none" or _passes(server):
        return "none", None
    if server.kind == "dkim_broken" and reporter.style == "google":
        return "none", "mailing_list"
    return applied, None


def _passes(server: Server) -> bool:
    return _aligned_dkim(server) or _aligned_spf(server)


def _org(domain: str) -> str:
    """The organisational domain, for our domains (all under example.ac.jp) and the others."""
    return UNIV if domain == UNIV or domain.endswith("." + UNIV) else domain


def _aligned(domain: str, header_from: str) -> bool:
    """Relaxed alignment (``adkim=r; aspf=r``): the same organisational domain."""
    return _org(domain) == _org(header_from)


def _aligned_dkim(server: Server) -> bool:
    return any(r == "pass" and _aligned(d, server.header_from) for d, r in server.dkim)


def _aligned_spf(server: Server) -> bool:
    domain, result = server.spf
    return result == "pass" and _aligned(domain, server.header_from)


def build_campus_folder(
    path: Path,
    *,
    dept_publishes: bool = True,
    dept_signs: bool = True,
    seed: int = 2024,
) -> CampusFolder:
    """Write the Maildir at ``path`` and return it with its labels.

    ``dept_publishes`` False: the department has no DMARC record of its own, so its mail is
    reported under the university's. ``dept_signs`` False: the department server's signed mail
    is absent (the department domain is then shared only by what it publishes).
    """
    rng = random.Random(seed)
    servers = (_dept_servers() if dept_signs else []) + _servers()
    folder = CampusFolder(path, servers={s.ip: s for s in servers})
    mails: list[bytes] = []
    resend_at = None
    for day in range(DAYS):
        begin = int(FIRST_DAY.timestamp()) + day * DAY
        for reporter in REPORTERS:
            rows: dict[str, list[Row]] = defaultdict(list)
            for server in servers:
                if server.days is not None:
                    if day not in server.days or reporter.style != "google":
                        continue
                elif rng.random() >= server.rate * reporter.share:
                    continue
                total = rng.randint(*server.volume)
                domain = _policy_domain(server.header_from, reporter, dept_publishes)
                disposition, reason = _disposition(server, domain, reporter)
                rows[domain].extend(_rows(server, total, disposition, reason, reporter, rng))
                _label(folder, server, total, disposition, day)
            for domain in sorted(rows):
                raw = _report_mail(reporter, domain, begin, day, rows[domain], rng)
                mails.append(raw)
                folder.reports += 1
                if resend_at is None and day >= 20 and reporter.style == "yahoo":
                    resend_at = len(mails)
    if resend_at is not None:  # the same report again, a day later (the seed, §8.1)
        again = mails[resend_at - 1].replace(b"Message-ID: <", b"Message-ID: <resent.", 1)
        mails.append(again)
    rng.shuffle(mails)
    _write_maildir(path, mails)
    folder.messages = len(mails)
    return folder


def _label(folder: CampusFolder, server: Server, total: int, disposition: str, day: int) -> None:
    if _passes(server):
        folder.readiness["passed"] += total
    elif server.kind == "outside_spoofing":
        folder.readiness["failed_outside"] += total
    else:
        folder.readiness["failed_legit"] += total
    if disposition != "none":
        folder.readiness["enforced"] += total
    if server.kind is None:
        folder.benign.add(server.ip)
        return
    kinds = folder.expected[server.ip]
    found = [server.kind]
    if disposition != "none" and server.kind != "outside_spoofing":
        found.append("enforced")
    for kind in found:
        kinds[kind] = kinds.get(kind, 0) + total
        folder.per_day[(server.ip, kind)][day] += total


def _rows(
    server: Server,
    total: int,
    disposition: str,
    reason: str | None,
    reporter: Reporter,
    rng: random.Random,
) -> Iterator[Row]:
    """The records of one server in one report; Microsoft splits them by recipient domain."""
    dkim = "pass" if _aligned_dkim(server) else "fail"
    spf = "pass" if _aligned_spf(server) else "fail"
    if reporter.style in ("outlook", "enterprise") and total > 1:
        first = rng.randint(1, total - 1)
        to = (
            ("hotmail.com", "outlook.com")
            if reporter.style == "outlook"
            else ("partner.example", "vendor.example")
        )
        yield Row(server, first, disposition, dkim, spf, to[0], reason)
        yield Row(server, total - first, disposition, dkim, spf, to[1], reason)
        return
    to = {"outlook": "hotmail.com", "enterprise": "partner.example"}.get(reporter.style)
    yield Row(server, total, disposition, dkim, spf, to, reason)


# --------------------------------------------------------------------------- XML, per reporter


def _report_id(reporter: Reporter, domain: str, day: int, rng: random.Random) -> str:
    if reporter.style == "google":
        return str(rng.randrange(10**18, 10**19))
    if reporter.style in ("outlook", "enterprise"):
        return f"{rng.getrandbits(128):032x}"
    if reporter.style == "yahoo":
        return f"{1728000000 + day * DAY + rng.randrange(DAY)}.{rng.randrange(10**6):06d}"
    return str(rng.randrange(10**28, 10**29))


def _range(reporter: Reporter, begin: int) -> tuple[int, int]:
    if reporter.style in ("google", "yahoo"):
        return begin, begin + DAY - 1
    return begin, begin + DAY


def _record_xml(row: Row, style: str) -> str:
    s = row.server
    reason = f"<reason><type>{row.reason}</type></reason>" if row.reason else ""
    identifiers = ""
    if row.envelope_to:
        identifiers += f"<envelope_to>{row.envelope_to}</envelope_to>"
    if style in ("outlook", "enterprise"):
        identifiers += f"<envelope_from>{escape(s.spf[0])}</envelope_from>"
    identifiers += f"<header_from>{escape(s.header_from)}</header_from>"
    dkims = [(d, r, "s2024") for d, r in s.dkim]
    if not dkims and style == "enterprise":
        dkims = [(s.header_from, "none", "")]  # unsigned mail, written as a "none" result
    dkim_xml = "".join(
        f"<dkim><domain>{escape(d)}</domain>"
        + (f"<selector>{sel}</selector>" if sel else "")
        + f"<result>{r}</result></dkim>"
        for d, r, sel in dkims
        if style != "mailru" or r != "none"
    )
    scope = "<scope>mfrom</scope>" if style in ("outlook", "enterprise", "mailru") else ""
    spf_xml = f"<spf><domain>{escape(s.spf[0])}</domain>{scope}<result>{s.spf[1]}</result></spf>"
    return (
        f"<record><row><source_ip>{s.ip}</source_ip><count>{row.count}</count>"
        f"<policy_evaluated><disposition>{row.disposition}</disposition><dkim>{row.dkim}</dkim>"
        f"<spf>{row.spf}</spf>{reason}</policy_evaluated></row>"
        f"<identifiers>{identifiers}</identifiers>"
        f"<auth_results>{dkim_xml}{spf_xml}</auth_results></record>"
    )


def _report_xml(
    reporter: Reporter, domain: str, begin: int, report_id: str, rows: list[Row]
) -> bytes:
    start, end = _range(reporter, begin)
    policy = POLICIES[domain]
    sp = f"<sp>{policy['sp']}</sp>" if policy["sp"] else ""
    style = reporter.style
    fo = "<fo>1</fo>" if style in ("outlook", "enterprise") else ""
    extra = (
        "<extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>"
        if style == "google"
        else ""
    )
    head = {
        "google": '<?xml version="1.0" encoding="UTF-8" ?>\n<feedback>',
        "outlook": '<?xml version="1.0"?>\n<feedback xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><version>1.0</version>',
        "yahoo": '<?xml version="1.0"?>\n<feedback>',
        "mailru": "<?xml version='1.0' encoding='utf-8'?><feedback>",
    }[style if style != "enterprise" else "outlook"]
    body = (
        f"<report_metadata><org_name>{escape(reporter.org_name)}</org_name>"
        f"<email>{reporter.email}</email>{extra}<report_id>{report_id}</report_id>"
        f"<date_range><begin>{start}</begin><end>{end}</end></date_range></report_metadata>"
        f"<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf>"
        f"<p>{policy['p']}</p>{sp}<pct>100</pct>{fo}</policy_published>"
        + "".join(_record_xml(row, style) for row in rows)
        + "</feedback>"
    )
    if style != "mailru":  # one element per line, as the others indent
        body = body.replace("><", ">\n<")
        if style == "yahoo":
            body = body.replace("\n", "\t\n")
    return (head + "\n" + body + "\n").encode()


# --------------------------------------------------------------------------- mails, per reporter


def _report_mail(
    reporter: Reporter, domain: str, begin: int, day: int, rows: list[Row], rng: random.Random
) -> bytes:
    report_id = _report_id(reporter, domain, day, rng)
    xml = _report_xml(reporter, domain, begin, report_id, rows)
    start, end = _range(reporter, begin)
    stem = f"{reporter.filename_host}!{domain}!{start}!{end}"
    sent = datetime.fromtimestamp(begin + DAY + 3600 + rng.randrange(6 * 3600), UTC)
    digest = hashlib.sha256(xml).hexdigest()[:16]
    headers = {
        "to": "dmarc-reports@example.ac.jp",
        "date": format_datetime(sent),
    }
    style = reporter.style
    if style == "google":
        attachment = mime_part(zip_bytes({f"{stem}.xml": xml}), "application/zip",
                               filename=f"{stem}.zip")  # fmt: skip
        return mail(
            multipart(attachment),
            subject=f"Report domain: {domain} Submitter: google.com Report-ID: {report_id}",
            sender="noreply-dmarc-support@google.com",
            message_id=f"<{report_id}@google.com>",
            **headers,
        )
    if style in ("outlook", "enterprise"):
        html = mime_part(
            b"<div>This is a DMARC aggregate report from Microsoft Corporation.</div>",
            "text/html; charset=us-ascii",
            disposition=None,
        )
        related = multipart(multipart(html, subtype="alternative"), subtype="related")
        attachment = mime_part(
            gzip_bytes(xml), "application/gzip", filename=f"{stem}.xml.gz"
        ).replace(
            "Content-Disposition:", f"Content-Description: {stem}.xml.gz\r\nContent-Disposition:"
        )
        return mail(
            multipart(related, attachment),
            subject=(
                f"Report Domain: {domain} Submitter: {reporter.filename_host} "
                f"Report-ID: {report_id}"
            ),
            sender='"DMARC Aggregate Report" <dmarcreport@microsoft.com>',
            message_id=f"<{report_id}@microsoft.com>",
            **headers,
        )
    if style == "yahoo":
        return mail(
            mime_part(gzip_bytes(xml), "application/gzip", filename=f"{stem}.xml.gz"),
            subject=f"Report Domain: {domain} Submitter: yahoo.com Report-ID: <{report_id}>",
            sender="Yahoo DMARC <noreply@dmarc.yahoo.com>",
            message_id=f"<{digest}.{day}@dmarc.yahoo.com>",
            **headers,
        )
    text = mime_part(b"This is an aggregate report from Mail.Ru.", 'text/plain; charset="utf-8"',
                     disposition=None)  # fmt: skip
    attachment = mime_part(gzip_bytes(xml), "application/gzip").replace(
        "Content-Disposition: attachment",
        f'Content-Disposition: attachment;\r\n filename="{stem}.xml.gz"',
    )
    return mail(
        multipart(text, attachment),
        subject=f"Report Domain: {domain}; Submitter: Mail.Ru;\r\n Report-ID: {report_id}",
        sender="dmarc_support@corp.mail.ru",
        message_id=f"<dmarc-{start}-{digest}@corp.mail.ru>",
        extra_headers=("Auto-Submitted: auto-generated",),
        **headers,
    )


def _write_maildir(path: Path, mails: list[bytes]) -> None:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    for n, raw in enumerate(mails):
        name = f"{1728300000 + n * 97}.M{n:06d}P1234Q{n}.mail.example.ac.jp"
        target = path / "new" / name if n % 10 == 0 else path / "cur" / f"{name}:2,S"
        target.write_bytes(raw)
