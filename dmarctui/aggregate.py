"""Parse DMARC aggregate (rua) XML into ``model.AggregateReport``.

Accepts RFC 7489 (no namespace), RFC 9990 (``urn:ietf:params:xml:ns:dmarc-2.0``) and the draft
schemas by local element names; the namespace and ``<version>`` are kept only as hints. Values are
normalised (case, ``hardfail`` → ``fail`` ...) and every change is recorded, so the report's own
spelling stays visible. Documents a strict parser rejects are repaired when the fault is one the
``xmlrepair`` module knows, and marked as recovered; otherwise the error names line, column and
the offending bytes. DTDs and entities are refused before anything is expanded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from json.encoder import encode_basestring as _encode_str  # type: ignore[attr-defined]
from typing import Any, TypeVar
from xml.etree.ElementTree import Element, ParseError, XMLParser

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden

from dmarctui import xmlrepair
from dmarctui.model import (
    AggregateReport,
    DateRange,
    DkimAuthResult,
    Identifiers,
    Normalisation,
    PolicyEvaluated,
    PolicyOverrideReason,
    PolicyPublished,
    Record,
    Repair,
    ReportMetadata,
    SpfAuthResult,
)
from dmarctui.record_split import MARK, TAIL, PlainRecord, split_records
from dmarctui.source_address import canonical_address

LATEST_EPOCH = 253_402_300_799
"""9999-12-31T23:59:59Z: later "epochs" are garbage, and would not fit the index."""
MAX_COUNT = 2**63 - 1
"""The largest message count SQLite can store; a larger one is garbage."""


class AggregateError(ValueError):
    """The data is meant to be an aggregate report but cannot be read; str() is one line."""


class NotAggregate(ValueError):
    """Well-formed XML that is not a DMARC ``<feedback>`` document (a sitemap, an RSS feed ...)."""


RESULT_SYNONYMS = {"hardfail": "fail", "unknown": "temperror", "error": "permerror"}
"""Non-standard auth results and their RFC 7489 names (the RFC itself notes the last two)."""


# --------------------------------------------------------------------------- entry point


MAX_RECORDS = 100_000
"""Records per report read by default (``Limits.max_records``): each costs about 700 bytes."""


def parse_aggregate(data: bytes, *, max_records: int = MAX_RECORDS) -> AggregateReport:
    """Parse one aggregate report document.

    Args:
        data: the XML bytes, already decompressed.
        max_records: a document with more ``<record>`` elements is refused before parsing, so
            memory stays bounded whatever a reporter sends.

    Returns:
        The report; ``report.repairs`` lists what had to be repaired to read it.

    Raises:
        AggregateError: not XML, refused (DTD / entities), not repairable, or a required value
            is missing or malformed.
        NotAggregate: well-formed XML whose root is not ``<feedback>``.
    """
    _refuse_obvious_non_xml(data)
    records = data.count(b"<record") + data.count(b":record")  # an upper bound, never less
    if records > max_records:
        raise AggregateError(
            f"the report holds about {records:,} records, more than the limit of"
            f" {max_records:,}; not read"
        )
    if _no_dtd_possible(data):
        report = _read_plain(data)
        if report is not None:
            return report
    repairs: list[Repair] = []
    try:
        root = _parse_xml(data)
    except (ParseError, LookupError) as strict_error:
        repaired = xmlrepair.repair(data)
        if repaired is None:
            raise AggregateError(_describe(strict_error, data)) from None
        text, repairs = repaired
        try:
            root = _parse_xml(text)
        except ParseError as second_error:
            kinds = ", ".join(sorted({r.kind for r in repairs}))
            raise AggregateError(
                f"{_describe(second_error, data)} (still invalid after repairs: {kinds})"
            ) from None
    feedback, namespace = _feedback_root(root)
    return _Reader(repairs).report(feedback, namespace)


_DTD_MARKUP = re.compile(rb"<!(?i:doctype|entity)")
_DTD_MARKUP_TEXT = re.compile(r"<!(?i:doctype|entity)")
_EXPAT_SAFE_ENCODINGS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}
)
"""Encodings expat reads natively and in which ``<!DOCTYPE`` is spelt with ASCII bytes."""


def _read_plain(data: bytes) -> AggregateReport | None:
    """The report read through ``record_split`` (records by regex, the rest as a tree); None
    when the document is not written plainly enough for that, or is not well-formed."""
    split = split_records(data, _plain_parts.rests)
    if split is None:
        return None
    skeleton, matches = split
    parser = XMLParser()
    try:
        parser.feed(skeleton)
        root = parser.close()
        feedback, namespace = _feedback_root(root)
    except (ParseError, LookupError, ValueError):  # NotAggregate included: the full path says so
        return None
    tags = [child.tag for child in feedback]
    if MARK not in tags or "record" in tags:  # a record spelt otherwise (<d:record>) is left
        return None
    reader = _Reader([])
    records = reader.plain_records(matches)
    if records is None:
        return None
    return reader.report(feedback, namespace, records)


def _parse_xml(data: bytes | str) -> Element:
    """Parse with the C parser when the document provably has no DTD, else with defusedxml."""
    if _no_dtd_possible(data):
        parser = XMLParser()
        try:
            parser.feed(data)
            root = parser.close()
        except (ParseError, LookupError, ValueError):
            pass  # the careful path below gives the error (or the refusal) its usual wording
        else:
            return root
    return _parse_defused(data)


def _no_dtd_possible(data: bytes | str) -> bool:
    """True when ``data`` cannot declare entities, so the C-accelerated parser is safe.

    Entities (XXE, billion laughs) can only be declared in a DTD, and a DTD only in a
    ``<!DOCTYPE`` declaration. Text read as str, or bytes in UTF-8 / ASCII / Latin-1 (no UTF-16
    or UTF-32 byte-order mark, no NUL byte, no other declared encoding), spells that markup in
    ASCII, so when neither ``<!DOCTYPE`` nor ``<!ENTITY`` occurs in any case there is no DTD and
    expat has only the five predefined entities and character references to expand. Anything
    else, and any failure of the fast parser, goes through defusedxml, which refuses DTDs with a
    clear reason and reports errors exactly as before.
    """
    if isinstance(data, str):
        return _DTD_MARKUP_TEXT.search(data) is None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        return False
    encoding = xmlrepair.declared_encoding(data.removeprefix(b"\xef\xbb\xbf"))
    if encoding is not None and encoding not in _EXPAT_SAFE_ENCODINGS:
        return False
    return _DTD_MARKUP.search(data) is None


def _parse_defused(data: bytes | str) -> Element:
    try:
        return DefusedET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden as exc:
        raise AggregateError(
            f"refused: the document declares a DOCTYPE ({exc.name!r}); DTDs and entities are "
            "never processed (XXE and entity-expansion protection)"
        ) from None
    except EntitiesForbidden as exc:
        raise AggregateError(
            f"refused: the document declares the entity {exc.name!r}; entities are never expanded"
        ) from None
    except DefusedXmlException as exc:
        raise AggregateError(f"refused: {exc}") from None
    except ValueError as exc:  # expat: "multi-byte encodings are not supported" (UTF-7 ...)
        declared = xmlrepair.declared_encoding(data) if isinstance(data, bytes) else None
        raise AggregateError(
            f"the XML declaration names an encoding the XML parser cannot read"
            f" ({declared or 'not named'}): {exc}"
        ) from None


def _refuse_obvious_non_xml(data: bytes) -> None:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise AggregateError("empty document" if not data.strip() else "only whitespace")
    if head.rstrip() == b"unused":
        raise AggregateError(
            "the attachment holds the literal text 'unused' instead of a report "
            "(a known Yahoo/AOL glitch): nothing to read"
        )
    if head.startswith(b"\x1f\x8b"):
        raise AggregateError("gzip-compressed data, not XML (it must be unpacked first)")
    if head.startswith(b"PK\x03\x04"):
        raise AggregateError("zip archive, not XML (it must be unpacked first)")
    if head[:1] in (b"{", b"["):
        raise AggregateError("JSON, not XML (an SMTP TLS report?)")
    if head.startswith((b"<", b"\xff\xfe", b"\xfe\xff", b"\x00<")):
        return
    if head.startswith(b"\x00\x05\x16\x07"):
        raise AggregateError("macOS AppleDouble metadata (a __MACOSX zip member), not XML")
    if any(byte < 0x09 for byte in head[:16]):
        raise AggregateError(f"binary data (starts with {head[:8].hex(' ')}), not XML")
    raise AggregateError(f"not XML: the data starts with {_preview(head)}")


def _preview(head: bytes) -> str:
    first_line = head.split(b"\n", 1)[0][:40]
    return repr(first_line.decode("utf-8", errors="backslashreplace"))


def _describe(error: ParseError | LookupError, source: bytes | str) -> str:
    """One line: expat's reason, line, 1-based column and the offending text in context.

    The context always comes from the original bytes (repairs keep line numbers), so foreign
    bytes show as ``\\xNN`` exactly where the user will find them in the file.
    """
    if isinstance(error, LookupError):
        return f"the XML declaration names an encoding Python does not know ({error})"
    line, column0 = error.position
    reason = str(error).split(": line ", 1)[0]
    text = source if isinstance(source, str) else xmlrepair.decode_for_repair(source)
    lines = text.split("\n")
    context = ""
    if 1 <= line <= len(lines):
        context = ": " + xmlrepair.show_context(lines[line - 1].rstrip("\r"), column0 + 1)
    return f"{reason} at line {line}, column {column0 + 1}{context}"


def _feedback_root(root: Element) -> tuple[Element, str | None]:
    """The ``<feedback>`` element with its namespace stripped from every tag, and that namespace.

    Elements of other namespaces (RFC 9990 extensions) keep their ``{uri}`` and are ignored.
    """
    namespace, local = _split(root.tag)
    if local != "feedback":
        # A report wrapped in a stray <xs:schema> ... </xs:schema> still counts.
        inner = next((child for child in root if _split(child.tag)[1] == "feedback"), None)
        if inner is None:
            raise NotAggregate(
                f"XML whose root element is <{local}>, not <feedback>: not a DMARC aggregate report"
            )
        root = inner
        namespace, local = _split(root.tag)
    if namespace:
        prefix = "{" + namespace + "}"
        cut = len(prefix)
        for element in root.iter():
            tag = element.tag
            if isinstance(tag, str) and tag.startswith(prefix):
                element.tag = tag[cut:]
    return root, namespace


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


# --------------------------------------------------------------------------- element reading


def _children(parent: Element) -> dict[str, Element]:
    """Children by tag, the first one winning (as ``find`` would): one pass, no ElementPath."""
    return {child.tag: child for child in reversed(parent)}


def _texts(parent: Element) -> dict[str, str]:
    """Stripped text of each child by tag, the first one winning."""
    return {child.tag: (child.text or "").strip() for child in reversed(parent)}


def _stripped(element: Element | None) -> str | None:
    return None if element is None else (element.text or "").strip()


def _text(parent: Element, name: str) -> str | None:
    """Stripped text of the first child called ``name``; None when the child is absent."""
    child = parent.find(name)
    if child is None:
        return None
    return (child.text or "").strip()


_CLEAN_LIMIT = 4096
"""Entries kept in ``_clean``; it is emptied when full (a report repeats the same few values)."""
_CLEAN_KEY_CHARS = 512
"""Only short texts are remembered, so a hostile report cannot pin large strings."""
_clean: dict[tuple[str | None, ...], Any] = {}
"""Sub-objects of records (identifiers, evaluated policy, auth results) built from child texts
that needed no normalisation, by kind and texts. Records repeat them over and over; the objects
are frozen, so one instance can stand for all (building them was a third of a scan's time)."""


_Part = TypeVar("_Part")
"""A record part (identifiers, an auth result) as ``_Reader.clean`` shares it."""


def _remember(key: tuple[str | None, ...], value: Any) -> Any:
    if sum(len(text) for text in key if text) <= _CLEAN_KEY_CHARS:
        if len(_clean) >= _CLEAN_LIMIT:
            _clean.clear()
        _clean[key] = value
    return value


class _Reader:
    """Turns a namespace-free ``<feedback>`` tree into the model, logging every normalisation."""

    def __init__(self, repairs: list[Repair]) -> None:
        self.repairs = repairs
        self.normalised: list[Normalisation] = []

    def note(self, where: str, original: str, value: str) -> None:
        self.normalised.append(Normalisation(where, original, value))

    def lower(self, where: str, raw: str | None, synonyms: dict[str, str] | None = None) -> str:
        """Lower-case a keyword (and map a synonym); empty or absent gives ``""``."""
        if not raw:
            return ""
        value = raw.lower()
        if synonyms:
            value = synonyms.get(value, value)
        if value != raw:
            self.note(where, raw, value)
        return value

    def optional(self, where: str, raw: str | None) -> str | None:
        return self.lower(where, raw) or None

    # ----------------------------------------------------------------- sections

    def report(
        self, root: Element, namespace: str | None, records: tuple[Record, ...] | None = None
    ) -> AggregateReport:
        """The report of a ``<feedback>`` tree; ``records`` are its records when they were
        already read (``plain_records``), else its ``<record>`` children are."""
        metadata = root.find("report_metadata")
        if metadata is None:
            raise AggregateError("no <report_metadata> in the <feedback> document")
        policy = root.find("policy_published")
        if policy is None:
            raise AggregateError("no <policy_published> in the <feedback> document")
        if records is None:
            records = tuple(
                self.record(index, element)
                for index, element in enumerate(child for child in root if child.tag == "record")
            )
        return AggregateReport(
            report_metadata=self.metadata(metadata),
            policy_published=self.policy(policy),
            records=records,
            version=_text(root, "version") or None,
            namespace=namespace,
            normalised=tuple(self.normalised),
            repairs=tuple(self.repairs),
        )

    def metadata(self, element: Element) -> ReportMetadata:
        report_id = _text(element, "report_id")
        if not report_id:
            raise AggregateError("report_metadata has no <report_id>")
        email = _text(element, "email")
        if email is None:
            self.note("report_metadata/email", "(missing)", "")
            email = ""
        elif email.startswith("<") and email.endswith(">"):
            self.note("report_metadata/email", email, email[1:-1].strip())
            email = email[1:-1].strip()
        date_range = element.find("date_range")
        if date_range is None:
            raise AggregateError(f"report {report_id!r}: report_metadata has no <date_range>")
        errors = tuple(
            (e.text or "").strip() for e in element.iterfind("error") if (e.text or "").strip()
        )
        return ReportMetadata(
            org_name=_text(element, "org_name") or "",
            email=email,
            report_id=report_id,
            date_range=DateRange(
                self.epoch(report_id, date_range, "begin"), self.epoch(report_id, date_range, "end")
            ),
            extra_contact_info=_text(element, "extra_contact_info") or None,
            error=errors,
            generator=_text(element, "generator") or None,
        )

    def epoch(self, report_id: str, date_range: Element, name: str) -> int:
        raw = _text(date_range, name)
        where = f"report_metadata/date_range/{name}"
        if not raw:
            raise AggregateError(f"report {report_id!r}: <date_range> has no <{name}>")
        noted = False
        try:
            value = int(raw)
        except ValueError:
            try:
                value = int(float(raw))
            except (ValueError, OverflowError):  # "abc", "nan", "inf", "1e400"
                raise AggregateError(
                    f"report {report_id!r}: {where} is {raw!r}, not seconds since the epoch"
                ) from None
            noted = True
        if not 0 <= value <= LATEST_EPOCH:
            raise AggregateError(
                f"report {report_id!r}: {where} is {raw!r}, outside the years 1970 to 9999"
            )
        if noted:
            self.note(where, raw, str(value))
        return value

    def policy(self, element: Element) -> PolicyPublished:
        domain = _text(element, "domain")
        if not domain:
            raise AggregateError("policy_published has no <domain>")
        p = _text(element, "p")
        if p is None:
            self.note("policy_published/p", "(missing)", "")
        pct_raw = _text(element, "pct")
        pct: int | None = None
        if pct_raw:
            try:
                pct = int(pct_raw)
            except ValueError:
                self.note("policy_published/pct", pct_raw, "(ignored: not a whole number)")
        return PolicyPublished(
            domain=self.lower("policy_published/domain", domain),
            p=self.lower("policy_published/p", p),
            adkim=self.optional("policy_published/adkim", _text(element, "adkim")),
            aspf=self.optional("policy_published/aspf", _text(element, "aspf")),
            sp=self.optional("policy_published/sp", _text(element, "sp")),
            np=self.optional("policy_published/np", _text(element, "np")),
            pct=pct,
            fo=_text(element, "fo") or None,
            testing=self.optional("policy_published/testing", _text(element, "testing")),
            discovery_method=self.optional(
                "policy_published/discovery_method", _text(element, "discovery_method")
            ),
        )

    def record(self, index: int, element: Element) -> Record:
        where = f"record[{index}]"
        parts = _children(element)
        row = parts.get("row")
        if row is None:
            raise AggregateError(f"{where} has no <row>")
        row_parts = _children(row)
        written = _stripped(row_parts.get("source_ip"))
        if not written:
            raise AggregateError(f"{where} has no <source_ip>")
        source_ip = canonical_address(written)
        if source_ip is None:
            raise AggregateError(
                f"{where}: source_ip {written[:60]!r} is not an IPv4 or IPv6 address"
            )
        if source_ip != written:
            self.note(f"{where}/row/source_ip", written, source_ip)
        count_raw = _stripped(row_parts.get("count"))
        try:
            count = int(count_raw or "")
        except ValueError:
            raise AggregateError(
                f"{where} (source_ip {source_ip}): count {count_raw!r} is not a whole number"
            ) from None
        if not 0 <= count <= MAX_COUNT:
            raise AggregateError(
                f"{where} (source_ip {source_ip}): count {count_raw!r} is out of range"
            )
        dkim, spf = self.auth(where, parts.get("auth_results"))
        return Record(
            source_ip=source_ip,
            count=count,
            policy_evaluated=self.evaluated(where, row_parts.get("policy_evaluated")),
            identifiers=self.identifiers(where, parts.get("identifiers")),
            dkim=dkim,
            spf=spf,
        )

    def plain_records(self, matches: list[PlainRecord]) -> tuple[Record, ...] | None:
        """Records from ``record_split``, with the same values and notes as ``record`` gives;
        None when one of them is not clean (``record`` then says why)."""
        records = []
        parts = _plain_parts
        known = parts.rests
        for index, (ip, count_raw, rest, matched) in enumerate(matches):
            written = ip.strip().decode("ascii")
            try:
                count = int(count_raw)
            except ValueError:
                return None
            source_ip = canonical_address(written)
            if source_ip is None or not 0 <= count <= MAX_COUNT:
                return None  # the element tree path gives the reason
            if source_ip != written:
                self.note(f"record[{index}]/row/source_ip", written, source_ip)
            found = known.get(rest)
            if found is None:
                try:
                    found = parts.read_rest(rest, matched)
                except ParseError:  # TAIL only passes well-formed parts: a safety net
                    return None
                if found is None:
                    return None
            (policy_evaluated, ids, dkim, spf), notes = found
            if notes:
                where = f"record[{index}]"
                for note in notes:
                    self.note(where + note.where, note.original, note.value)
            records.append(Record(source_ip, count, policy_evaluated, ids, dkim, spf))
        return tuple(records)

    def auth(
        self, where: str, element: Element | None
    ) -> tuple[tuple[DkimAuthResult, ...], tuple[SpfAuthResult, ...]]:
        dkim: list[DkimAuthResult] = []
        spf: list[SpfAuthResult] = []
        for result in () if element is None else element:
            if result.tag == "dkim":
                dkim.append(self.dkim(where, len(dkim), result))
            elif result.tag == "spf":
                spf.append(self.spf(where, len(spf), result))
        return tuple(dkim), tuple(spf)

    def evaluated(self, where: str, element: Element | None) -> PolicyEvaluated:
        if element is None:
            self.note(f"{where}/row/policy_evaluated", "(missing)", "")
            return PolicyEvaluated(disposition="", dkim="", spf="")
        texts = _texts(element)
        if "reason" not in texts:
            key = ("evaluated", texts.get("disposition"), texts.get("dkim"), texts.get("spf"))
            hit = _clean.get(key)
            if hit is not None:
                return hit  # type: ignore[no-any-return]
        else:
            key = None
        where = f"{where}/row/policy_evaluated"
        noted = len(self.normalised)
        reasons: list[PolicyOverrideReason] = []
        for child in element:
            if child.tag != "reason":
                continue
            at = f"{where}/reason[{len(reasons)}]/type"
            reason_type = self.lower(at, _text(child, "type"))
            if not reason_type:
                self.note(at, "", "other")
                reason_type = "other"
            reasons.append(PolicyOverrideReason(reason_type, _text(child, "comment") or None))
        evaluated = PolicyEvaluated(
            disposition=self.lower(f"{where}/disposition", texts.get("disposition")),
            dkim=self.lower(f"{where}/dkim", texts.get("dkim"), RESULT_SYNONYMS),
            spf=self.lower(f"{where}/spf", texts.get("spf"), RESULT_SYNONYMS),
            reason=tuple(reasons),
        )
        if key is None or len(self.normalised) != noted:
            return evaluated
        return _remember(key, evaluated)  # type: ignore[no-any-return]

    def identifiers(self, where: str, element: Element | None) -> Identifiers:
        if element is None:
            self.note(f"{where}/identifiers", "(missing)", "")
            return Identifiers(header_from="")
        get = _texts(element).get
        at = f"{where}/identifiers"
        return self.clean(
            ("identifiers", get("header_from"), get("envelope_from"), get("envelope_to")),
            lambda: Identifiers(
                header_from=self.lower(f"{at}/header_from", get("header_from")),
                envelope_from=self.optional(f"{at}/envelope_from", get("envelope_from")),
                envelope_to=self.optional(f"{at}/envelope_to", get("envelope_to")),
            ),
        )

    def dkim(self, where: str, index: int, element: Element) -> DkimAuthResult:
        get = _texts(element).get
        at = f"{where}/auth_results/dkim[{index}]"
        return self.clean(
            ("dkim", get("domain"), get("result"), get("selector"), get("human_result")),
            lambda: DkimAuthResult(
                domain=self.lower(f"{at}/domain", get("domain")),
                result=self.lower(f"{at}/result", get("result"), RESULT_SYNONYMS),
                selector=get("selector") or None,
                human_result=get("human_result") or None,
            ),
        )

    def spf(self, where: str, index: int, element: Element) -> SpfAuthResult:
        get = _texts(element).get
        at = f"{where}/auth_results/spf[{index}]"
        return self.clean(
            ("spf", get("domain"), get("result"), get("scope"), get("human_result")),
            lambda: SpfAuthResult(
                domain=self.lower(f"{at}/domain", get("domain")),
                result=self.lower(f"{at}/result", get("result"), RESULT_SYNONYMS),
                scope=self.optional(f"{at}/scope", get("scope")),
                human_result=get("human_result") or None,
            ),
        )

    def clean(self, key: tuple[str | None, ...], build: Callable[[], _Part]) -> _Part:
        """The part ``build`` makes, shared through ``_clean`` when building it needed no
        normalisation (a part that did is the record's own: its notes name the record)."""
        hit = _clean.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        noted = len(self.normalised)
        part = build()
        if len(self.normalised) != noted:
            return part
        return _remember(key, part)  # type: ignore[no-any-return]


class _PlainParts:
    """The parts of plain records (evaluated policy, identifiers, auth results) by their exact
    bytes, read once with the element-tree methods and kept with the notes reading them made
    (their places relative to the record). Records repeat a few spellings thousands of times,
    and whole rests (everything after the count) nearly as often."""

    def __init__(self) -> None:
        self.known: dict[str, dict[bytes | None, tuple[Any, tuple[Normalisation, ...]]]] = {
            "auth_results": {},
            "policy_evaluated": {},
            "identifiers": {},
        }
        self.rests: dict[bytes, tuple[Any, tuple[Normalisation, ...]]] = {}
        """(evaluated policy, identifiers, DKIM results, SPF results) and notes by rest; only
        rests that ``TAIL`` matched are here (``split_records`` trusts them)."""

    def read_rest(
        self, rest: bytes, matched: re.Match[bytes] | None
    ) -> tuple[Any, tuple[Normalisation, ...]] | None:
        """The parts of a rest not in ``rests``; None when ``TAIL`` does not match it."""
        if matched is None:  # known when the record was split, forgotten since
            matched = TAIL.fullmatch(rest)
            if matched is None:
                return None
        auth, evaluated, identifiers = matched.group("auth", "evaluated", "identifiers")
        (dkim, spf), auth_notes = self.part("auth_results", auth)
        policy_evaluated, evaluated_notes = self.part("policy_evaluated", evaluated)
        ids, ids_notes = self.part("identifiers", identifiers)
        found = ((policy_evaluated, ids, dkim, spf), (*auth_notes, *evaluated_notes, *ids_notes))
        if len(rest) <= 2 * _CLEAN_KEY_CHARS:
            if len(self.rests) >= _CLEAN_LIMIT:
                self.rests.clear()
            self.rests[rest] = found
        return found

    def part(self, tag: str, content: bytes | None) -> tuple[Any, tuple[Normalisation, ...]]:
        """One part, read with the element-tree methods the first time it is seen."""
        known = self.known[tag]
        hit = known.get(content)
        if hit is not None:
            return hit
        reader = _Reader([])
        element = None
        if content is not None:  # only <auth_results> may be absent
            parser = XMLParser()
            parser.feed(b"<%s>%s</%s>" % (tag.encode(), content, tag.encode()))
            element = parser.close()
        if tag == "auth_results":
            value: Any = reader.auth("", element)
        elif tag == "policy_evaluated":
            value = reader.evaluated("", element)
        else:
            value = reader.identifiers("", element)
        found = (value, tuple(reader.normalised))
        if content is None or len(content) <= _CLEAN_KEY_CHARS:
            if len(known) >= _CLEAN_LIMIT:
                known.clear()
            known[content] = found
        return found


_plain_parts = _PlainParts()


# --------------------------------------------------------------------------- derived views


def reporter_name(report: AggregateReport) -> str:
    """The reporter's ``org_name``, or the domain of its ``<email>`` when org_name is empty.

    The model keeps the XML's own (possibly empty) org_name; lists and notices use this.
    """
    metadata = report.report_metadata
    if metadata.org_name:
        return metadata.org_name
    return metadata.email.rpartition("@")[2]


def report_to_dict(report: AggregateReport) -> dict[str, Any]:
    """A JSON-ready dict using the RFC element names (for ``--json`` output and the TUI)."""
    return {
        "version": report.version,
        "namespace": report.namespace,
        "status": report.status,
        **_content(report),
        "normalised": [
            {"where": n.where, "original": n.original, "value": n.value} for n in report.normalised
        ],
        "repairs": [
            {"kind": r.kind, "line": r.line, "column": r.column, "detail": r.detail}
            for r in report.repairs
        ],
    }


def _content(report: AggregateReport, records: Any = None) -> dict[str, Any]:
    """The report's content by RFC element names; ``records`` replaces the record dicts."""
    metadata = report.report_metadata
    policy = report.policy_published
    return {
        "report_metadata": {
            "org_name": metadata.org_name,
            "email": metadata.email,
            "extra_contact_info": metadata.extra_contact_info,
            "report_id": metadata.report_id,
            "date_range": {"begin": metadata.date_range.begin, "end": metadata.date_range.end},
            "error": list(metadata.error),
            "generator": metadata.generator,
        },
        "policy_published": {
            "domain": policy.domain,
            "adkim": policy.adkim,
            "aspf": policy.aspf,
            "p": policy.p,
            "sp": policy.sp,
            "np": policy.np,
            "pct": policy.pct,
            "fo": policy.fo,
            "testing": policy.testing,
            "discovery_method": policy.discovery_method,
        },
        "records": (
            [_record_dict(record) for record in report.records] if records is None else records
        ),
    }


def _record_dict(record: Record) -> dict[str, Any]:
    evaluated = record.policy_evaluated
    identifiers = record.identifiers
    return {
        "row": {
            "source_ip": record.source_ip,
            "count": record.count,
            "policy_evaluated": {
                "disposition": evaluated.disposition,
                "dkim": evaluated.dkim,
                "spf": evaluated.spf,
                "reason": [{"type": r.type, "comment": r.comment} for r in evaluated.reason],
            },
        },
        "identifiers": {
            "header_from": identifiers.header_from,
            "envelope_from": identifiers.envelope_from,
            "envelope_to": identifiers.envelope_to,
        },
        "auth_results": {
            "dkim": [
                {
                    "domain": d.domain,
                    "selector": d.selector,
                    "result": d.result,
                    "human_result": d.human_result,
                }
                for d in record.dkim
            ],
            "spf": [
                {
                    "domain": s.domain,
                    "scope": s.scope,
                    "result": s.result,
                    "human_result": s.human_result,
                }
                for s in record.spf
            ],
        },
    }


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""Encoders made once: ``json.dumps`` with options builds a new one for every call."""


_last_digest: tuple[AggregateReport, tuple[str, ...], str] | None = None
"""The last report digested, its record lines and their canonical JSON: ``content_key`` and
then ``records_key`` of the same report (as the scan asks for them) serialise its records once."""


def _records_digest(report: AggregateReport) -> tuple[str, ...]:
    """Records serialised one by one (positional, compact) and sorted, so a reordered resend
    keeps its key."""
    return _digested(report)[1]


def _records_json(report: AggregateReport) -> str:
    """``_canonical(_records_digest(report))``, made once per report."""
    return _digested(report)[2]


def _digested(report: AggregateReport) -> tuple[AggregateReport, tuple[str, ...], str]:
    global _last_digest
    last = _last_digest
    if last is not None and last[0] is report:
        return last
    lines = []
    for r in report.records:
        if isinstance(r.source_ip, str) and type(r.count) is int:
            parts = _digest_parts(r.policy_evaluated, r.identifiers, r.dkim, r.spf)
            lines.append(f"[{_encode_str(r.source_ip)},{r.count!r},{parts}]")
        else:  # not what the parser makes: let the encoder say how it is spelt
            lines.append(_compact(_digest_fields(r)))
    digest = tuple(sorted(lines))
    _last_digest = (report, digest, _canonical(digest))
    return _last_digest


def _digest_fields(r: Record) -> list[Any]:
    evaluated, ids = r.policy_evaluated, r.identifiers
    return [
        r.source_ip,
        r.count,
        [evaluated.disposition, evaluated.dkim, evaluated.spf],
        [[reason.type, reason.comment] for reason in evaluated.reason],
        [ids.header_from, ids.envelope_from, ids.envelope_to],
        [[d.domain, d.selector, d.result, d.human_result] for d in r.dkim],
        [[s.domain, s.scope, s.result, s.human_result] for s in r.spf],
    ]


_digest_memo: dict[tuple[object, ...], tuple[object, str]] = {}
"""The JSON of a record's parts after its address and count, by those parts: records repeat
them (and share the objects, see ``_clean``), and encoding them was a tenth of a scan.

Looked up first by the parts' identities, which is cheap (hashing the frozen dataclasses by
value cost more than the lookup saved), then by value. An entry holds its key objects, so
while it exists no other object can have their ids."""


def _digest_parts(
    evaluated: PolicyEvaluated,
    ids: Identifiers,
    dkim: tuple[DkimAuthResult, ...],
    spf: tuple[SpfAuthResult, ...],
) -> str:
    same = (id(evaluated), id(ids), id(dkim), id(spf))
    hit = _digest_memo.get(same)
    if hit is not None:
        return hit[1]
    key = (evaluated, ids, dkim, spf)
    hit = _digest_memo.get(key)
    if hit is not None:
        text = hit[1]
    else:
        fields = _digest_fields(Record("", 0, evaluated, ids, dkim, spf))
        text = _compact(fields[2:])[1:-1]
    if len(text) <= _CLEAN_KEY_CHARS:
        if len(_digest_memo) >= 2 * _CLEAN_LIMIT:
            _digest_memo.clear()
        _digest_memo[same] = _digest_memo[key] = (key, text)
    return text


_EMPTY_RECORDS = '"records":[]'


def content_key(report: AggregateReport) -> str:
    """sha256 of metadata + policy + records (normalised values, no repairs or version hints).

    The same report sent twice, relayed by a second MX or re-compressed has the same key.
    """
    # The records' JSON is made once (records_key needs it too) and put in the place of the
    # empty list: a quoted "records" followed by ":[]" can only be that key, as quotes inside
    # strings are escaped and the other objects' keys are fixed.
    text = _canonical(_content(report, records=()))
    text = text.replace(_EMPTY_RECORDS, '"records":' + _records_json(report), 1)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def records_key(report: AggregateReport) -> str:
    """sha256 of the records alone: equal keys with different content keys mean only the
    metadata (e.g. the date range) differs."""
    return hashlib.sha256(_records_json(report).encode("utf-8")).hexdigest()
