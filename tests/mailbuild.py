"""Build DMARC report e-mails and mail folders in code, packaged the ways real reporters do it.

Messages are assembled as text by hand, not with ``email.generator``, so a test can reproduce the
exact quirks seen in the wild (RFC 2231 split names, broken base64 padding, a ``ContentType:``
typo) byte for byte. Typical use::

    xml = aggregate_xml(Rec("192.0.2.10", 12, dkim="fail"), report_id="r1")
    raw = report_mail(xml, packaging="octet-zip")
    write_maildir(tmp_path / "dmarc", [raw, plain_mail()], new=[1])
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import quopri
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

OUR_DOMAIN = "example.ac.jp"
BEGIN = 1_719_792_000  # 2024-07-01T00:00:00Z
DAY = 86_400

PACKAGINGS = (
    "gzip",
    "zip",
    "octet-gzip",
    "octet-zip",
    "x-gzip",
    "x-zip-compressed",
    "textxml-b64",
    "textxml-qp",
    "textxml-7bit",
    "appxml-b64",
    "single-part-zip",
    "single-part-gzip",
    "rfc822-wrapped",
    "rfc2231-split-name",
    "contenttype-typo",
    "broken-padding",
    "gzip-in-zip",
    "zip-two-members-macosx",
    "tlsrpt-gzip",
    "tlsrpt-json",
)
"""Every ``report_mail`` packaging; REPORTS.md §3 and DESIGN.md §1 name where each comes from."""


# --------------------------------------------------------------------------- report documents


@dataclass(frozen=True)
class Rec:
    """One ``<record>``; auth results default to our domain with the aligned results."""

    source_ip: str = "192.0.2.10"
    count: int = 1
    header_from: str = OUR_DOMAIN
    disposition: str = "none"
    dkim: str = "pass"
    spf: str = "pass"
    envelope_from: str | None = None
    dkim_auth: tuple[tuple[str, str], ...] | None = None
    """(domain, result) pairs; None means one result for header_from with ``dkim``."""
    spf_auth: tuple[tuple[str, str], ...] | None = None
    reasons: tuple[str, ...] = ()

    def xml(self) -> str:
        dkim_auth = (
            self.dkim_auth if self.dkim_auth is not None else ((self.header_from, self.dkim),)
        )
        spf_auth = self.spf_auth if self.spf_auth is not None else ((self.header_from, self.spf),)
        reasons = "".join(f"<reason><type>{escape(r)}</type></reason>" for r in self.reasons)
        envelope = (
            f"<envelope_from>{escape(self.envelope_from)}</envelope_from>"
            if self.envelope_from
            else ""
        )
        dkims = "".join(
            f"<dkim><domain>{escape(d)}</domain><selector>s1</selector><result>{r}</result></dkim>"
            for d, r in dkim_auth
        )
        spfs = "".join(
            f"<spf><domain>{escape(d)}</domain><scope>mfrom</scope><result>{r}</result></spf>"
            for d, r in spf_auth
        )
        return (
            "  <record>\n"
            f"    <row><source_ip>{self.source_ip}</source_ip><count>{self.count}</count>"
            f"<policy_evaluated><disposition>{self.disposition}</disposition>"
            f"<dkim>{self.dkim}</dkim><spf>{self.spf}</spf>{reasons}</policy_evaluated></row>\n"
            f"    <identifiers><header_from>{escape(self.header_from)}</header_from>{envelope}"
            "</identifiers>\n"
            f"    <auth_results>{dkims}{spfs}</auth_results>\n"
            "  </record>\n"
        )


def aggregate_xml(
    *records: Rec,
    org_name: str = "google.com",
    email: str = "noreply-dmarc-support@google.com",
    report_id: str = "12345678901234567890",
    begin: int = BEGIN,
    end: int | None = None,
    domain: str = OUR_DOMAIN,
    p: str = "none",
    sp: str | None = None,
    pct: int | None = 100,
    namespace: str | None = None,
    encoding: str = "UTF-8",
) -> bytes:
    """An RFC 7489 aggregate report (RFC 9990 shape when ``namespace`` is given)."""
    end = begin + DAY - 1 if end is None else end
    rows = records or (Rec(),)
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    optional = (f"<sp>{sp}</sp>" if sp else "") + (f"<pct>{pct}</pct>" if pct is not None else "")
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f"<feedback{xmlns}>\n"
        "  <version>1.0</version>\n"
        f"  <report_metadata><org_name>{escape(org_name)}</org_name>"
        f"<email>{escape(email)}</email><report_id>{escape(report_id)}</report_id>"
        f"<date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>\n"
        f"  <policy_published><domain>{escape(domain)}</domain><adkim>r</adkim><aspf>r</aspf>"
        f"<p>{p}</p>{optional}</policy_published>\n"
        + "".join(record.xml() for record in rows)
        + "</feedback>\n"
    )
    return text.encode(encoding)


def tls_json(
    *,
    organization: str = "Google Inc.",
    report_id: str = "2024-07-01T00:00:00Z_example.ac.jp",
    domain: str = OUR_DOMAIN,
    successful: int = 10,
    failed: int = 0,
) -> bytes:
    """An RFC 8460 SMTP TLS report."""
    report = {
        "organization-name": organization,
        "date-range": {
            "start-datetime": "2024-07-01T00:00:00Z",
            "end-datetime": "2024-07-01T23:59:59Z",
        },
        "contact-info": "smtp-tls-reporting@google.com",
        "report-id": report_id,
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: testing"],
                    "policy-domain": domain,
                    "mx-host": [f"mx1.{domain}"],
                },
                "summary": {
                    "total-successful-session-count": successful,
                    "total-failure-session-count": failed,
                },
            }
        ],
    }
    return json.dumps(report, indent=2).encode()


# --------------------------------------------------------------------------- archives


def gzip_bytes(data: bytes, *, name: str | None = None) -> bytes:
    """Deterministic gzip (mtime 0), with the original file name in the header when given."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buffer, mtime=0) as file:
        file.write(data)
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes] | Iterable[tuple[str, bytes]]) -> bytes:
    """A deflated zip; member names are written verbatim (``../x.xml`` and ``dir/`` included)."""
    items = members.items() if isinstance(members, dict) else members
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in items:
            info = zipfile.ZipInfo(name, date_time=(2024, 7, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def gzip_bomb(inflated_size: int) -> bytes:
    """A gzip of an XML start tag and ``inflated_size`` spaces, built in bounded memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b'<?xml version="1.0"?>\n<feedback>')]
    block = b" " * (1 << 20)
    remaining = inflated_size
    while remaining > 0:
        parts.append(compressor.compress(block[: min(remaining, len(block))]))
        remaining -= len(block)
    parts.append(compressor.flush())
    return b"".join(parts)


def zip_bomb(inflated_size: int, name: str = "report.xml") -> bytes:
    """A zip with one member of ``inflated_size`` spaces, streamed so memory stays small."""
    buffer = io.BytesIO()
    block = b" " * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        remaining = inflated_size
        while remaining > 0:
            member.write(block[: min(remaining, len(block))])
            remaining -= len(block)
    return buffer.getvalue()


# --------------------------------------------------------------------------- MIME pieces


def b64_lines(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")


def mime_part(
    data: bytes,
    content_type: str = "application/octet-stream",
    *,
    filename: str | None = None,
    cte: str = "base64",
    disposition: str | None = "attachment",
    header_name: str = "Content-Type",
) -> str:
    """One body part as text: headers, blank line, encoded body.

    ``header_name`` lets a test write the ``ContentType:`` typo; ``cte=""`` omits the header.
    """
    params = f'; name="{filename}"' if filename else ""
    headers = [f"{header_name}: {content_type}{params}"]
    if cte:
        headers.append(f"Content-Transfer-Encoding: {cte}")
    if disposition:
        dparams = f'; filename="{filename}"' if filename else ""
        headers.append(f"Content-Disposition: {disposition}{dparams}")
    if cte == "base64":
        body = b64_lines(data)
    elif cte == "quoted-printable":
        body = quopri.encodestring(data).decode("ascii").replace("\n", "\r\n")
    else:
        text = data.decode("utf-8", errors="surrogateescape")
        body = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if not body.endswith("\r\n"):
        body += "\r\n"
    return "\r\n".join(headers) + "\r\n\r\n" + body


def multipart(*parts: str, subtype: str = "mixed", boundary: str | None = None) -> str:
    """A multipart body (with its Content-Type header) holding already-rendered parts.

    The default boundary is derived from the content, so nested multiparts never share one.
    """
    if boundary is None:
        digest = hashlib.sha256("".join(parts).encode("utf-8", errors="surrogateescape"))
        boundary = f"=_dmarctui_{digest.hexdigest()[:16]}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n']
    out.append("This is a multi-part message in MIME format.\r\n")
    for part in parts:
        out.append(f"--{boundary}\r\n{part}")
    out.append(f"--{boundary}--\r\n")
    return "".join(out)


def mail(
    body_entity: str,
    *,
    subject: str = "Report domain: example.ac.jp Submitter: google.com Report-ID: 1234567890",
    sender: str = "noreply-dmarc-support@google.com",
    to: str = "dmarc@example.ac.jp",
    date: str = "Tue, 02 Jul 2024 09:00:00 +0000",
    message_id: str = "<report-1@google.com>",
    extra_headers: Sequence[str] = (),
) -> bytes:
    """A complete message: top-level headers followed by a rendered entity (headers + body)."""
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        *extra_headers,
    ]
    return ("\r\n".join(headers) + "\r\n" + body_entity).encode("utf-8", errors="surrogateescape")


def plain_mail(
    subject: str = "Server maintenance on Saturday",
    body: str = "The mail server will be down from 9:00 to 12:00.\n",
    **headers: str,
) -> bytes:
    """An ordinary text message that is not a report."""
    entity = mime_part(body.encode(), "text/plain; charset=utf-8", cte="8bit", disposition=None)
    return mail(entity, subject=subject, **headers)


# --------------------------------------------------------------------------- report mails


def report_mail(
    document: bytes,
    packaging: str = "gzip",
    filename: str | None = None,
    **headers: str,
) -> bytes:
    """A report e-mail carrying ``document`` (XML or JSON) the way ``packaging`` says.

    ``filename`` defaults to the reporter convention ``receiver!domain!begin!end.xml[.gz|.zip]``
    with the extension that fits the packaging. Extra keyword arguments go to ``mail``.
    """
    if packaging not in PACKAGINGS:
        raise ValueError(f"unknown packaging {packaging!r}; choose from {', '.join(PACKAGINGS)}")
    stem = f"google.com!{OUR_DOMAIN}!{BEGIN}!{BEGIN + DAY - 1}"
    text = mime_part(
        b"This is an aggregate report from google.com.\n",
        "text/plain; charset=us-ascii",
        cte="7bit",
        disposition=None,
    )
    zipped_name = filename or f"{stem}.zip"
    gz_name = filename or f"{stem}.xml.gz"
    xml_name = filename or f"{stem}.xml"
    member = (filename or xml_name).removesuffix(".zip").removesuffix(".gz")

    def with_text(attachment: str) -> bytes:
        return mail(multipart(text, attachment), **headers)

    if packaging in ("gzip", "x-gzip", "octet-gzip"):
        ctype = {"gzip": "application/gzip", "x-gzip": "application/x-gzip"}.get(
            packaging, "application/octet-stream"
        )
        return with_text(mime_part(gzip_bytes(document), ctype, filename=gz_name))
    if packaging in ("zip", "x-zip-compressed", "octet-zip"):
        ctype = {"zip": "application/zip", "x-zip-compressed": "application/x-zip-compressed"}.get(
            packaging, "application/octet-stream"
        )
        return with_text(mime_part(zip_bytes({member: document}), ctype, filename=zipped_name))
    if packaging.startswith("textxml-"):
        cte = {"b64": "base64", "qp": "quoted-printable", "7bit": "7bit"}[packaging[8:]]
        return with_text(mime_part(document, "text/xml", filename=xml_name, cte=cte))
    if packaging == "appxml-b64":
        return with_text(mime_part(document, "application/xml", filename=xml_name))
    if packaging == "single-part-zip":  # Google's older style: the whole body is the zip
        entity = mime_part(zip_bytes({member: document}), "application/zip", filename=zipped_name)
        return mail(entity, **headers)
    if packaging == "single-part-gzip":  # Yahoo: the whole body is the gzip
        return mail(
            mime_part(gzip_bytes(document), "application/gzip", filename=gz_name), **headers
        )
    if packaging == "rfc822-wrapped":  # a report forwarded as an attachment
        inner = report_mail(document, "zip", filename).decode("utf-8", errors="surrogateescape")
        wrapped = mime_part(
            inner.encode("utf-8", errors="surrogateescape"),
            "message/rfc822",
            cte="7bit",
            disposition="attachment",
        )
        note = mime_part(
            b"Forwarding the report below.\n", "text/plain", cte="7bit", disposition=None
        )
        return mail(multipart(note, wrapped), subject="Fwd: DMARC report", **_no_subject(headers))
    if packaging == "rfc2231-split-name":  # Amazon SES: name*0="...xm"; name*1="l.gz"
        head, tail = gz_name[:-4], gz_name[-4:]
        attachment = (
            f'Content-Type: application/octet-stream; name*0="{head}"; name*1="{tail}"\r\n'
            "Content-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename*0="{head}"; filename*1="{tail}"\r\n\r\n'
            + b64_lines(gzip_bytes(document))
        )
        return with_text(attachment)
    if packaging == "contenttype-typo":  # Trustwave SEG writes "ContentType:"
        attachment = mime_part(
            gzip_bytes(document),
            "application/gzip",
            filename=gz_name,
            header_name="ContentType",
            disposition=None,
        )
        return with_text(attachment)
    if packaging == "broken-padding":  # base64 with its '=' padding cut off
        encoded = base64.b64encode(gzip_bytes(document)).rstrip(b"=").decode()
        attachment = (
            f'Content-Type: application/gzip; name="{gz_name}"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
            + "\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
            + "\r\n"
        )
        return with_text(attachment)
    if packaging == "gzip-in-zip":
        archive = zip_bytes({f"{member}.gz": gzip_bytes(document)})
        return with_text(mime_part(archive, "application/zip", filename=zipped_name))
    if packaging == "zip-two-members-macosx":
        archive = zip_bytes(
            [
                ("reports/", b""),
                (f"reports/{member}", document),
                (f"__MACOSX/reports/._{member}", b"\x00\x05\x16\x07AppleDouble junk"),
                ("reports/second.xml", document),
            ]
        )
        return with_text(mime_part(archive, "application/zip", filename=zipped_name))
    # TLS-RPT (RFC 8460): multipart/report; report-type=tlsrpt
    json_name = filename or f"google.com!{OUR_DOMAIN}!{BEGIN}!{BEGIN + DAY - 1}!001.json"
    if packaging == "tlsrpt-gzip":
        attachment = mime_part(
            gzip_bytes(document), "application/tlsrpt+gzip", filename=f"{json_name}.gz"
        )
    else:
        attachment = mime_part(document, "application/tlsrpt+json", filename=json_name)
    body = multipart(text, attachment, subtype="report; report-type=tlsrpt")
    return mail(
        body, **{"subject": f"Report Domain: {OUR_DOMAIN} Submitter: google.com", **headers}
    )


def _no_subject(headers: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != "subject"}


# --------------------------------------------------------------------------- folders


def write_maildir(
    directory: Path, messages: Sequence[bytes], *, new: Iterable[int] = ()
) -> list[Path]:
    """A Maildir with ``messages`` in ``cur/`` (seen), except the indices in ``new``."""
    in_new = set(new)
    for sub in ("cur", "new", "tmp"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    paths = []
    for index, raw in enumerate(messages):
        unique = f"{1_719_800_000 + index}.M{index:06d}P4242Q{index}.mx1"
        path = (
            directory / "new" / unique if index in in_new else directory / "cur" / f"{unique}:2,S"
        )
        path.write_bytes(raw)
        paths.append(path)
    return paths


def write_mh(
    directory: Path, messages: Sequence[bytes], *, sequences: bool = True, mew: bool = False
) -> list[Path]:
    """An MH folder numbered from 1; ``mew=True`` adds Mew's dot files the way Mew leaves them."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, raw in enumerate(messages, 1):
        path = directory / str(number)
        path.write_bytes(raw)
        paths.append(path)
    if sequences:
        (directory / ".mh_sequences").write_text(f"cur: {len(messages)}\n")
    if mew:
        (directory / ".mew-summary").write_bytes(b"\x00mew-summary binary cache\n")
        (directory / ".mew-mtime").write_text("(26245 12345)\n")
    return paths


def write_mbox(path: Path, messages: Sequence[bytes]) -> Path:
    """An mboxrd file: ``From `` separators, ``>*From `` body lines quoted with one more ``>``."""
    out = bytearray()
    for raw in messages:
        out += b"From MAILER-DAEMON Mon Jul  1 00:00:00 2024\n"
        for line in raw.splitlines(keepends=True):
            out += b">" + line if line.lstrip(b">").startswith(b"From ") else line
        if not raw.endswith(b"\n"):
            out += b"\n"
        out += b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
