"""Report e-mails as real receivers send them, built from model objects for demos and benchmarks.

Everything here is deterministic: callers pass a seeded ``random.Random`` and fixed timestamps, and
compression uses fixed header times, so the same inputs always give the same bytes. Messages use
LF line endings, as files in a Maildir or MH folder on a Unix mail server do.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import random
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from dmarctui.model import (
    AggregateReport,
    DkimAuthResult,
    Identifiers,
    PolicyEvaluated,
    PolicyPublished,
    Record,
    SpfAuthResult,
)

NS_DMARC2 = "urn:ietf:params:xml:ns:dmarc-2.0"
RECIPIENT = "dmarc-reports@cs.univ.example"
LOCAL_MX = "mx.cs.univ.example"

Packaging = Literal["zip", "gzip", "xml"]
IdStyle = Literal["digits", "hex32", "yahoo", "uuid", "dotted"]


@dataclass(frozen=True)
class Reporter:
    """How one receiver packages its aggregate reports (MIME type, names, ids, XML dialect)."""

    key: str
    org_name: str
    email: str
    domain: str
    packaging: Packaging
    content_type: str
    id_style: IdStyle
    subject_prefix: str = ""
    namespace: str | None = None
    version: str | None = "1.0"
    inclusive_end: bool = False
    """Google ends its day at 23:59:59 instead of the next midnight."""
    alternative_body: bool = False
    """Microsoft sends a text and an HTML body beside the attachment."""
    split_filename: bool = False
    """Amazon SES splits the filename with RFC 2231 continuations."""
    extra_contact_info: str | None = None


REPORTERS: dict[str, Reporter] = {
    r.key: r
    for r in (
        Reporter(
            "google",
            "google.com",
            "noreply-dmarc-support@google.com",
            "google.com",
            "zip",
            "application/zip",
            "digits",
            inclusive_end=True,
            extra_contact_info="https://support.google.com/a/answer/2466580",
        ),
        Reporter(
            "microsoft",
            "Enterprise Outlook",
            "dmarcreport@microsoft.com",
            "enterprise.protection.outlook.com",
            "gzip",
            "application/gzip",
            "hex32",
            subject_prefix="[Preview] ",
            alternative_body=True,
        ),
        Reporter(
            "yahoo",
            "Yahoo",
            "dmarchelp@yahooinc.com",
            "yahoo.com",
            "gzip",
            "application/gzip",
            "yahoo",
            version=None,
        ),
        Reporter(
            "mailru",
            "Mail.Ru",
            "dmarc_support@corp.mail.ru",
            "mail.ru",
            "gzip",
            "application/gzip",
            "digits",
            namespace=NS_DMARC2,
            extra_contact_info="https://help.mail.ru/mail/security/dmarc",
        ),
        Reporter(
            "amazonses",
            "AMAZON-SES",
            "postmaster@amazonses.com",
            "amazonses.com",
            "gzip",
            "application/octet-stream",
            "uuid",
            split_filename=True,
        ),
        Reporter(
            "trendmicro",
            "Trend Micro",
            "dmarc-report@tmes.trendmicro.com",
            "tmes.trendmicro.com",
            "zip",
            "application/octet-stream",
            "dotted",
        ),
        Reporter(
            "courriel",
            "Société Courriel",
            "dmarc@courriel.example",
            "courriel.example",
            "xml",
            "text/xml",
            "digits",
            version=None,
        ),
    )
}


# --------------------------------------------------------------------------- records


def organisational_domain(domain: str) -> str:
    """Enough of the Public Suffix List for the demo's domains (``*.ac.jp`` and plain TLDs,
    including the reserved ``.example``)."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and labels[-1] == "jp" and len(labels[-2]) == 2 else 2
    return ".".join(labels[-keep:])


def aligned(auth_domain: str, header_from: str, mode: str | None) -> bool:
    if mode == "s":
        return auth_domain.lower() == header_from.lower()
    return organisational_domain(auth_domain) == organisational_domain(header_from)


def make_record(
    source_ip: str,
    count: int,
    header_from: str,
    policy: PolicyPublished,
    *,
    dkim: Sequence[DkimAuthResult] = (),
    spf: SpfAuthResult,
    envelope_to: str | None = None,
    pass_disposition: str = "none",
) -> Record:
    """A record whose ``policy_evaluated`` follows from its auth results, as RFC 7489 §6.6 says."""
    dkim_ok = any(d.result == "pass" and aligned(d.domain, header_from, policy.adkim) for d in dkim)
    spf_ok = spf.result == "pass" and aligned(spf.domain, header_from, policy.aspf)
    if dkim_ok or spf_ok:
        disposition = pass_disposition
    elif header_from.lower() != policy.domain.lower() and policy.sp:
        disposition = policy.sp
    else:
        disposition = policy.p
    return Record(
        source_ip=source_ip,
        count=count,
        policy_evaluated=PolicyEvaluated(
            disposition, "pass" if dkim_ok else "fail", "pass" if spf_ok else "fail"
        ),
        identifiers=Identifiers(header_from, envelope_from=spf.domain, envelope_to=envelope_to),
        dkim=tuple(dkim),
        spf=(spf,),
    )


def new_report_id(rng: random.Random, style: IdStyle, begin: int) -> str:
    if style == "digits":
        return str(rng.randrange(10**18, 10**20))
    if style == "hex32":
        return f"{rng.getrandbits(128):032x}"
    if style == "yahoo":
        return f"{begin + rng.randrange(3600, 40000)}.{rng.randrange(10**6):06d}"
    if style == "uuid":
        h = f"{rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
    return f"{rng.getrandbits(40):010x}.{begin}"


# --------------------------------------------------------------------------- XML


def _el(lines: list[str], depth: int, tag: str, value: object | None) -> None:
    if value is not None:
        lines.append(f"{'  ' * depth}<{tag}>{escape(str(value))}</{tag}>")


def aggregate_xml(report: AggregateReport) -> str:
    """Serialise a report as RFC 7489 Appendix C XML, or RFC 9990 XML when it has that namespace."""
    meta, pol = report.report_metadata, report.policy_published
    ns = f' xmlns="{report.namespace}"' if report.namespace else ""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f"<feedback{ns}>"]
    _el(lines, 1, "version", report.version)
    lines.append("  <report_metadata>")
    _el(lines, 2, "org_name", meta.org_name)
    _el(lines, 2, "email", meta.email)
    _el(lines, 2, "extra_contact_info", meta.extra_contact_info)
    _el(lines, 2, "report_id", meta.report_id)
    lines.append("    <date_range>")
    _el(lines, 3, "begin", meta.date_range.begin)
    _el(lines, 3, "end", meta.date_range.end)
    lines.append("    </date_range>")
    _el(lines, 2, "generator", meta.generator)
    lines.append("  </report_metadata>")
    lines.append("  <policy_published>")
    for tag in (
        "domain",
        "discovery_method",
        "adkim",
        "aspf",
        "p",
        "sp",
        "np",
        "testing",
        "pct",
        "fo",
    ):
        _el(lines, 2, tag, getattr(pol, tag))
    lines.append("  </policy_published>")
    for rec in report.records:
        _record_xml(lines, rec)
    lines.append("</feedback>")
    return "\n".join(lines) + "\n"


def _record_xml(lines: list[str], rec: Record) -> None:
    pe, ids = rec.policy_evaluated, rec.identifiers
    lines += ["  <record>", "    <row>"]
    _el(lines, 3, "source_ip", rec.source_ip)
    _el(lines, 3, "count", rec.count)
    lines.append("      <policy_evaluated>")
    _el(lines, 4, "disposition", pe.disposition)
    _el(lines, 4, "dkim", pe.dkim)
    _el(lines, 4, "spf", pe.spf)
    for reason in pe.reason:
        lines.append("        <reason>")
        _el(lines, 5, "type", reason.type)
        _el(lines, 5, "comment", reason.comment)
        lines.append("        </reason>")
    lines += ["      </policy_evaluated>", "    </row>", "    <identifiers>"]
    _el(lines, 3, "envelope_to", ids.envelope_to)
    _el(lines, 3, "envelope_from", ids.envelope_from)
    _el(lines, 3, "header_from", ids.header_from)
    lines += ["    </identifiers>", "    <auth_results>"]
    for d in rec.dkim:
        lines.append("      <dkim>")
        _el(lines, 4, "domain", d.domain)
        _el(lines, 4, "selector", d.selector)
        _el(lines, 4, "result", d.result)
        _el(lines, 4, "human_result", d.human_result)
        lines.append("      </dkim>")
    for s in rec.spf:
        lines.append("      <spf>")
        _el(lines, 4, "domain", s.domain)
        _el(lines, 4, "scope", s.scope)
        _el(lines, 4, "result", s.result)
        lines.append("      </spf>")
    lines += ["    </auth_results>", "  </record>"]


# --------------------------------------------------------------------------- packaging


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def compress(data: bytes, packaging: Packaging, member: str, ts: int) -> bytes:
    """Gzip or zip ``data`` with header times fixed to ``ts`` (so output is reproducible)."""
    if packaging == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=ts)
    if packaging == "zip":
        buf = io.BytesIO()
        info = zipfile.ZipInfo(member, date_time=_utc(ts).timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(info, data)
        return buf.getvalue()
    return data


def report_filename(reporter: Reporter, domain: str, begin: int, end: int) -> str:
    suffix = {"zip": ".zip", "gzip": ".xml.gz", "xml": ".xml"}[reporter.packaging]
    return f"{reporter.domain}!{domain}!{begin}!{end}{suffix}"


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _headers(
    sender: str,
    subject: str,
    date: int,
    message_id: str,
    hops: str,
    extra: Iterable[tuple[str, str]] = (),
    from_header: str | None = None,
) -> list[str]:
    received = (
        f"Received: from {hops} ({hops})\n\tby {LOCAL_MX} (Postfix) with ESMTPS;\n"
        f"\t{format_datetime(_utc(date))}"
    )
    lines = [
        f"Return-Path: <{sender}>",
        received,
        "MIME-Version: 1.0",
        f"Date: {format_datetime(_utc(date))}",
        f"From: {from_header or sender}",
        f"To: {RECIPIENT}",
        f"Subject: {subject}",
        f"Message-ID: <{message_id}>",
    ]
    lines += [f"{k}: {v}" for k, v in extra]
    return lines


def _filename_params(filename: str, split: bool) -> tuple[str, str]:
    """``name``/``filename`` parameters; RFC 2231 continuations when ``split``."""
    if not split:
        return f'name="{filename}"', f'filename="{filename}"'
    cut = len(filename) - 4
    a, b = filename[:cut], filename[cut:]
    return (f'\n\tname*0="{a}";\n\tname*1="{b}"', f'\n\tfilename*0="{a}";\n\tfilename*1="{b}"')


def attachment_part(content_type: str, filename: str, data: bytes, split: bool = False) -> str:
    name, fname = _filename_params(filename, split)
    return (
        f"Content-Type: {content_type}; {name}\nContent-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; {fname}\n\n{_b64(data)}"
    )


def _multipart(kind: str, boundary: str, parts: Sequence[str], params: str = "") -> str:
    body = "".join(f"--{boundary}\n{part}\n" for part in parts)
    return (
        f'Content-Type: multipart/{kind}; boundary="{boundary}"{params}\n\n{body}--{boundary}--\n'
    )


def report_email(
    reporter: Reporter,
    report: AggregateReport,
    *,
    delivered: int,
    rng: random.Random,
    payload: bytes | None = None,
) -> bytes:
    """The e-mail carrying ``report``; ``payload`` overrides the attachment bytes (broken cases)."""
    meta = report.report_metadata
    domain = report.policy_published.domain
    xml = aggregate_xml(report).encode("utf-8")
    filename = report_filename(reporter, domain, meta.date_range.begin, meta.date_range.end)
    member = filename.removesuffix(".zip") + ".xml"
    data = (
        payload
        if payload is not None
        else compress(xml, reporter.packaging, member, meta.date_range.end)
    )
    subject = (
        f"{reporter.subject_prefix}Report Domain: {domain} Submitter: {reporter.domain} "
        f"Report-ID: {meta.report_id}"
    )
    boundary = f"----=_Part_{rng.getrandbits(48):012x}"
    head = _headers(
        meta.email,
        subject,
        delivered,
        f"{rng.getrandbits(64):016x}@{reporter.domain}",
        f"outbound.{reporter.domain}",
    )
    attach = attachment_part(reporter.content_type, filename, data, reporter.split_filename)
    text = (
        f"This is an aggregate report from {reporter.domain}.\n\n"
        f"Report domain: {domain}\nSubmitter: {reporter.domain}\n"
        f"Report-ID: {meta.report_id}\n"
    )
    plain = f'Content-Type: text/plain; charset="us-ascii"\n\n{text}'
    parts: list[str]
    if reporter.alternative_body:
        html = "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line)
        alt = _multipart(
            "alternative",
            boundary + "_alt",
            [plain, f'Content-Type: text/html; charset="us-ascii"\n\n{html}\n'],
        )
        parts = [alt, attach]
    elif reporter.key == "google":
        parts = [attach]
    else:
        parts = [plain, attach]
    return ("\n".join(head) + "\n" + _multipart("mixed", boundary, parts)).encode("ascii")


def failure_email(
    *,
    source_ip: str,
    header_from: str,
    arrival: int,
    delivered: int,
    rng: random.Random,
    reporter: str = "mx.receiver.example",
) -> bytes:
    """An ARF (RFC 6591) DMARC failure report about one spoofed message, headers only."""
    boundary = f"arf_{rng.getrandbits(48):012x}"
    orig_id = f"{rng.getrandbits(64):016x}@{header_from}"
    human = (
        f"This is an authentication failure report for an email message received from IP\n"
        f"{source_ip} on {format_datetime(_utc(arrival))}.\n"
    )
    feedback = "\n".join(
        [
            "Feedback-Type: auth-failure",
            "User-Agent: demo-arf/1.0",
            "Version: 1",
            f"Original-Mail-From: <billing@{header_from}>",
            f"Original-Rcpt-To: <user@{reporter}>",
            f"Arrival-Date: {format_datetime(_utc(arrival))}",
            f"Source-IP: {source_ip}",
            f"Reported-Domain: {header_from}",
            f"Reporting-MTA: dns; {reporter}",
            "Auth-Failure: dmarc",
            "Delivery-Result: delivered",
            "Identity-Alignment: none",
            f"Authentication-Results: {reporter}; dmarc=fail header.from={header_from};"
            f" spf=softfail smtp.mailfrom={header_from}; dkim=none",
        ]
    )
    original = "\n".join(
        [
            f"From: Accounting <billing@{header_from}>",
            f"To: <user@{reporter}>",
            "Subject: Invoice overdue",
            f"Date: {format_datetime(_utc(arrival))}",
            f"Message-ID: <{orig_id}>",
        ]
    )
    parts = [
        f'Content-Type: text/plain; charset="us-ascii"\n\n{human}',
        f"Content-Type: message/feedback-report\n\n{feedback}\n",
        f"Content-Type: text/rfc822-headers\n\n{original}\n",
    ]
    head = _headers(
        f"dmarc-ruf@{reporter}",
        f"DMARC Failure Report for {header_from}",
        delivered,
        f"{rng.getrandbits(64):016x}@{reporter}",
        reporter,
    )
    body = _multipart("report", boundary, parts, params="; report-type=feedback-report")
    return ("\n".join(head) + "\n" + body).encode("ascii")


def tls_email(
    *,
    domain: str,
    begin: int,
    delivered: int,
    rng: random.Random,
    successful: int,
    failed: int,
    mx: str,
) -> bytes:
    """A Google-style SMTP TLS report (RFC 8460) with a gzipped JSON attachment."""
    end = begin + 86399
    start_s = _utc(begin).strftime("%Y-%m-%dT%H:%M:%SZ")
    end_s = _utc(end).strftime("%Y-%m-%dT%H:%M:%SZ")
    report_id = f"{_utc(begin).strftime('%Y-%m-%dT%H:%M:%SZ')}_{domain}"
    doc = {
        "organization-name": "Google Inc.",
        "date-range": {"start-datetime": start_s, "end-datetime": end_s},
        "contact-info": "smtp-tls-reporting@google.com",
        "report-id": report_id,
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-domain": domain,
                    "mx-host": [mx],
                    "policy-string": [
                        "version: STSv1",
                        "mode: testing",
                        f"mx: {mx}",
                        "max_age: 86400",
                    ],
                },
                "summary": {
                    "total-successful-session-count": successful,
                    "total-failure-session-count": failed,
                },
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "209.85.220.41",
                        "receiving-mx-hostname": mx,
                        "failed-session-count": failed,
                    }
                ]
                if failed
                else [],
            }
        ],
    }
    data = gzip.compress(json.dumps(doc, indent=1).encode("utf-8"), mtime=end)
    filename = f"google.com!{domain}!{begin}!{end}!001.json.gz"
    boundary = f"{rng.getrandbits(64):016x}"
    head = _headers(
        "noreply-smtp-tls-reporting@google.com",
        f"Report Domain: {domain} Submitter: google.com Report-ID: <{report_id}>",
        delivered,
        f"{rng.getrandbits(64):016x}@google.com",
        "mail-sor-f69.google.com",
        extra=[("TLS-Report-Domain", domain), ("TLS-Report-Submitter", "google.com")],
    )
    parts = [
        'Content-Type: text/plain; charset="UTF-8"\n\nThis is an aggregate TLS report '
        "from google.com\n",
        attachment_part("application/tlsrpt+gzip", filename, data),
    ]
    body = _multipart("report", boundary, parts, params="; report-type=tlsrpt")
    return ("\n".join(head) + "\n" + body).encode("ascii")


def personal_email(
    *, sender: tuple[str, str], subject: str, body: str, delivered: int, rng: random.Random
) -> bytes:
    """An ordinary (non-report) message; non-ASCII name and subject are RFC 2047 encoded."""
    encoded = Header(subject, "utf-8").encode()
    head = _headers(
        sender[1],
        encoded,
        delivered,
        f"{rng.getrandbits(64):016x}@cs.univ.example",
        "mail.cs.univ.example",
        from_header=formataddr(sender, charset="utf-8"),
    )
    text = _b64(body.encode("utf-8"))
    return (
        "\n".join(head) + '\nContent-Type: text/plain; charset="UTF-8"\n'
        f"Content-Transfer-Encoding: base64\n\n{text}"
    ).encode("ascii")


# --------------------------------------------------------------------------- folders


def maildir_name(delivered: int, serial: int, seen: bool) -> str:
    """A Maildir unique name as Postfix/Dovecot write them; ``:2,S`` once a reader has seen it."""
    base = f"{delivered}.M{(serial * 7919) % 1000000:06d}P{4000 + serial % 900}Q{serial}.{LOCAL_MX}"
    return base + (":2,S" if seen else "")


def write_maildir(folder: Path, messages: Iterable[tuple[int, bytes]], unseen_after: int) -> int:
    """Create ``folder`` as a Maildir holding ``messages`` (delivery time, bytes); file mtimes are
    the delivery times and messages delivered at or after ``unseen_after`` stay in ``new/``."""
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    count = 0
    for count, (delivered, data) in enumerate(messages, start=1):
        seen = delivered < unseen_after
        path = folder / ("cur" if seen else "new") / maildir_name(delivered, count, seen)
        path.write_bytes(data)
        os.utime(path, (delivered, delivered))
    return count
