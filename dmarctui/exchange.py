"""Reports in the shapes the DMARC ecosystem ingests: parsedmarc's JSON and flat CSV rows, and
Elasticsearch/OpenSearch bulk NDJSON with the documents parsedmarc's dashboards query.

Field names, nesting and value spellings follow parsedmarc 11 (``parsed_*_to_csv_rows``, its
``elastic.py`` documents), so dashboards built for it work unchanged. Where parsedmarc departs
from the report (it lower-cases org names, cuts report ids at ``@``, invents an envelope_from,
looks up countries) we write what the report says; ``tests/test_export_parsedmarc.py`` lists
every such difference with its reason. Everything here works on one report at a time: the
export streams.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring as _encode_str  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from dmarctui.csv_cells import FORMULA_STARTS
from dmarctui.model import FailureReport, TlsReport

AGGREGATE_CSV_FIELDS = (
    "xml_schema", "org_name", "org_email", "org_extra_contact_info", "report_id",
    "begin_date", "end_date", "normalized_timespan", "errors", "domain", "adkim", "aspf", "p",
    "sp", "np", "pct", "fo", "testing", "discovery_method", "source_ip_address",
    "source_country", "source_reverse_dns", "source_base_domain", "source_name", "source_type",
    "source_asn", "source_as_name", "source_as_domain", "count", "spf_aligned", "dkim_aligned",
    "dmarc_aligned", "disposition", "policy_override_reasons", "policy_override_comments",
    "envelope_from", "header_from", "envelope_to", "dkim_domains", "dkim_selectors",
    "dkim_results", "spf_domains", "spf_scopes", "spf_results",
)  # fmt: skip
"""parsedmarc's aggregate CSV header, in its order."""

FAILURE_CSV_FIELDS = (
    "feedback_type", "user_agent", "version", "original_envelope_id", "original_mail_from",
    "original_rcpt_to", "arrival_date", "arrival_date_utc", "subject", "message_id",
    "authentication_results", "dkim_domain", "source_ip_address", "source_country",
    "source_reverse_dns", "source_base_domain", "source_name", "source_type", "source_asn",
    "source_as_name", "source_as_domain", "delivery_result", "auth_failure", "reported_domain",
    "authentication_mechanisms", "sample_headers_only",
)  # fmt: skip
"""parsedmarc's failure CSV header, in its order."""

TLS_CSV_FIELDS = (
    "organization_name", "begin_date", "end_date", "report_id", "result_type",
    "successful_session_count", "failed_session_count", "policy_domain", "policy_type",
    "policy_strings", "mx_host_patterns", "sending_mta_ip", "receiving_ip",
    "receiving_mx_hostname", "receiving_mx_helo", "additional_info_uri", "failure_reason_code",
)  # fmt: skip
"""parsedmarc's SMTP TLS CSV header, in its order."""

_NO_SOURCE_FACTS = dict.fromkeys(
    ("reverse_dns", "country", "base_domain", "name", "type", "asn", "as_name", "as_domain")
)
"""What parsedmarc learns about a source from DNS and IP databases: an export works offline."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class ReportHead(NamedTuple):
    """The report-level columns of one aggregate report, as the index stores them."""

    content_key: str
    org_name: str
    email: str
    report_id: str
    begin: int
    end: int
    extra_contact_info: str | None
    errors: str
    generator: str | None
    domain: str
    p: str
    adkim: str | None
    aspf: str | None
    sp: str | None
    np: str | None
    pct: int | None
    fo: str | None
    testing: str | None
    discovery_method: str | None
    version: str | None
    namespace: str | None


RecordRow = tuple[int, str, int, str, str, str, str, str, str | None, str | None, str, str]
"""idx, source_ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,
envelope_to, auth_dkim, auth_spf: the index's record columns (the last three JSON rows)."""


def human_utc(epoch: int | None) -> str | None:
    """parsedmarc's date spelling: ``YYYY-MM-DD HH:MM:SS`` in UTC."""
    return None if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def iso_utc(epoch: int | None) -> str | None:
    """A date field of a search-engine document."""
    return None if epoch is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


class _Fragments:
    """Text that records share, rendered once: the auth columns (the same few dozen
    combinations recur in a million records) as parsedmarc's lists, as JSON and as CSV cells.
    The export builds each record's text from these, so a record costs a few string joins."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.tables: dict[str, dict[str, Any]] = {}

    def table(self, what: str) -> dict[str, Any]:
        """The rendered ``what`` (kind + form, e.g. ``dbulk``) by column text: a renderer looks
        its hits up here directly, and calls :meth:`_get` only for a miss."""
        return self.tables.setdefault(what, {})

    def _get(self, what: str, column: str) -> Any:
        table = self.table(what)
        hit = table.get(column)
        if hit is None:
            if len(table) >= self.limit:
                table.clear()  # in place: renderers hold the table itself
            hit = table[column] = self._make(what, column)
        return hit

    def _make(self, what: str, column: str) -> Any:
        kind, form = what[0], what[1:]
        if form == "list":
            rows = json.loads(column)
            if kind == "r":
                return [{"type": t, "comment": c} for t, c in rows]
            second = "selector" if kind == "d" else "scope"
            return [{"domain": d, second: s, "result": r, "human_result": h} for d, r, s, h in rows]
        items = self._get(kind + "list", column)
        if form == "json":
            return _dumps(items)
        if form == "bulk":  # parsedmarc's document fields, empty lists left out
            if not items:
                return ""
            if kind == "r":
                return f',"policy_overrides":{_dumps(items)}'
            name, second, default = (
                ("dkim", "selector", "none") if kind == "d" else ("spf", "scope", "mfrom")
            )
            combined = [f"{i[second] or default} / {i['domain']} / {i['result']}" for i in items]
            return f',"{name}_results":{_dumps(items)},"{name}_results_combined":{_dumps(combined)}'
        # csv: the joined cells parsedmarc writes, made safe and quoted as CSV needs
        if kind == "r":
            cells: tuple[str, ...] = (
                ",".join(o["type"] or "none" for o in items),
                "|".join(o["comment"] or "none" for o in items),
            )
        else:
            second = "selector" if kind == "d" else "scope"
            cells = tuple(
                ",".join(_lower(item[name]) for item in items)
                for name in ("domain", second, "result")
            )
        return ",".join(csv_text(cell) for cell in cells)

    def json(self, kind: str, column: str) -> str:
        return self._get(kind + "json", column)  # type: ignore[no-any-return]

    def bulk(self, kind: str, column: str) -> str:
        return self._get(kind + "bulk", column)  # type: ignore[no-any-return]

    def csv(self, kind: str, column: str) -> str:
        return self._get(kind + "csv", column)  # type: ignore[no-any-return]


_ALIGNMENT = {
    (spf, dkim): _dumps({"spf": spf, "dkim": dkim, "dmarc": spf or dkim})
    for spf in (False, True)
    for dkim in (False, True)
}
_NO_SOURCE_JSON = _dumps(_NO_SOURCE_FACTS)[1:-1]
_NO_SOURCE_CSV = "," * (len(_NO_SOURCE_FACTS) - 1)


_FORMULA_FIRST = frozenset(FORMULA_STARTS)


def _js(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


def csv_text(value: object) -> str:
    """One CSV cell as Python's csv module writes it (minimal quoting), made safe first."""
    if value is None:
        return ""
    if value.__class__ is str:
        text = "'" + value if value[:1] in _FORMULA_FIRST else value  # type: ignore[index,operator]
    else:
        text = str(value)  # numbers and booleans are never neutralised
    if '"' in text or "," in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


class AggregateShapes:
    """Renders (report head, records) in parsedmarc's aggregate shapes, one report at a time.

    Records are rendered from pre-built fragments rather than dicts through ``json.dumps``:
    the export of a million records must stay within a few times a plain read of the rows.
    """

    def __init__(self, index_prefix: str = "") -> None:
        self.fragments = _Fragments()
        self.index_prefix = index_prefix

    @staticmethod
    def policy(head: ReportHead) -> dict[str, Any]:
        """``policy_published`` with the RFC defaults parsedmarc fills in (adkim, aspf, sp)."""
        return {
            "domain": head.domain,
            "adkim": head.adkim or "r",
            "aspf": head.aspf or "r",
            "p": head.p,
            "sp": head.sp or head.p,
            "pct": None if head.pct is None else str(head.pct),
            "fo": head.fo,
            "np": head.np,
            "testing": head.testing,
            "discovery_method": head.discovery_method,
        }

    # ------------------------------------------------------------------ parsedmarc JSON

    def report_json(self, head: ReportHead, records: Iterable[RecordRow]) -> str:
        """One report as parsedmarc's ``parse_aggregate_report_xml`` returns it, as JSON."""
        begin, end = human_utc(head.begin), human_utc(head.end)
        top = _dumps({
            "xml_schema": head.version or "draft",
            "xml_namespace": head.namespace,
            "report_metadata": {
                "org_name": head.org_name,
                "org_email": head.email,
                "org_extra_contact_info": head.extra_contact_info,
                "report_id": head.report_id,
                "begin_date": begin,
                "end_date": end,
                "timespan_requires_normalization": False,
                "original_timespan_seconds": head.end - head.begin,
                "errors": json.loads(head.errors),
                "generator": head.generator,
            },
            "policy_published": self.policy(head),
        })  # fmt: skip
        tail = (
            f',"normalized_timespan":false,"interval_begin":{_js(begin)},'
            f'"interval_end":{_js(end)}}}'
        )
        frag = self.fragments
        rendered = []
        for row in records:
            (_, ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,
             envelope_to, auth_dkim, auth_spf) = row  # fmt: skip
            rendered.append(
                f'{{"source":{{"ip_address":{_js(ip)},{_NO_SOURCE_JSON}}},"count":{count},'
                f'"alignment":{_ALIGNMENT[spf == "pass", dkim == "pass"]},'
                f'"policy_evaluated":{{"disposition":{_js(disposition)},"dkim":{_js(dkim)},'
                f'"spf":{_js(spf)},"policy_override_reasons":{frag.json("r", reasons)}}},'
                f'"identifiers":{{"envelope_from":{_js(envelope_from)},'
                f'"header_from":{_js(header_from)},"envelope_to":{_js(envelope_to)}}},'
                f'"auth_results":{{"dkim":{frag.json("d", auth_dkim)},'
                f'"spf":{frag.json("s", auth_spf)}}}{tail}'
            )
        return f'{top[:-1]},"records":[{",".join(rendered)}]}}'

    # ------------------------------------------------------------------ flat CSV rows

    def csv_lines(self, head: ReportHead, records: Iterable[RecordRow]) -> Iterator[str]:
        """parsedmarc's flat rows (``AGGREGATE_CSV_FIELDS``) as CSV lines, one per record, every
        text cell made safe for spreadsheets (as :func:`dmarctui.csv_cells.safe_cell`)."""
        policy = self.policy(head)
        front = ",".join(
            csv_text(v)
            for v in (
                head.version or "draft", head.org_name, head.email, head.extra_contact_info,
                head.report_id, human_utc(head.begin), human_utc(head.end), False,
                "|".join(json.loads(head.errors)), head.domain, policy["adkim"],
                policy["aspf"], head.p, policy["sp"], head.np, policy["pct"], head.fo,
                head.testing, head.discovery_method,
            )
        )  # fmt: skip
        frag = self.fragments
        r_table, d_table, s_table = frag.table("rcsv"), frag.table("dcsv"), frag.table("scsv")
        for row in records:
            (_, ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,
             envelope_to, auth_dkim, auth_spf) = row  # fmt: skip
            dkim_ok, spf_ok = dkim == "pass", spf == "pass"
            r = r_table.get(reasons)
            if r is None:
                r = frag.csv("r", reasons)
            d = d_table.get(auth_dkim)
            if d is None:
                d = frag.csv("d", auth_dkim)
            s = s_table.get(auth_spf)
            if s is None:
                s = frag.csv("s", auth_spf)
            yield (
                f"{front},{csv_text(ip)},{_NO_SOURCE_CSV},{count},{spf_ok},{dkim_ok},"
                f"{spf_ok or dkim_ok},{csv_text(disposition)},{r},"
                f"{csv_text(envelope_from)},{csv_text(header_from)},{csv_text(envelope_to)},"
                f"{d},{s}"
            )

    # ------------------------------------------------------------------ bulk NDJSON

    def bulk_lines(self, head: ReportHead, records: Iterable[RecordRow]) -> Iterator[str]:
        """Action and document lines of parsedmarc's per-record ``dmarc_aggregate`` documents
        (fields without a value left out, as its client stores them).

        The ``_id`` is the report's content key and the record's position, so loading the same
        export twice updates the documents instead of counting the messages twice.
        """
        begin, end = iso_utc(head.begin), iso_utc(head.end)
        index = _dumps(f"{self.index_prefix}dmarc_aggregate-{_day(head.begin)}")
        action = '{"index":{"_index":' + index + ',"_id":' + _dumps(head.content_key)[:-1]
        common = _dumps(_without_empty({
            "xml_schema": head.version or "draft",
            "xml_namespace": head.namespace,
            "org_name": head.org_name,
            "org_email": head.email,
            "org_extra_contact_info": head.extra_contact_info,
            "report_id": head.report_id,
            "date_range": [begin, end],
            "date_begin": begin,
            "date_end": end,
            "normalized_timespan": False,
            "original_timespan_seconds": head.end - head.begin,
            "errors": json.loads(head.errors),
            "published_policy": _without_empty(self.policy(head)),
            "np": head.np,
            "testing": head.testing,
            "discovery_method": head.discovery_method,
            "generator": head.generator,
        }))[:-1]  # fmt: skip
        frag = self.fragments
        r_table, d_table, s_table = frag.table("rbulk"), frag.table("dbulk"), frag.table("sbulk")
        for row in records:
            (idx, ip, count, disposition, dkim, spf, reasons, header_from, envelope_from,
             envelope_to, auth_dkim, auth_spf) = row  # fmt: skip
            dkim_ok, spf_ok = dkim == "pass", spf == "pass"
            r = r_table.get(reasons)
            if r is None:
                r = frag.bulk("r", reasons)
            d = d_table.get(auth_dkim)
            if d is None:
                d = frag.bulk("d", auth_dkim)
            s = s_table.get(auth_spf)
            if s is None:
                s = frag.bulk("s", auth_spf)
            optional = ""
            if envelope_from is not None:
                optional += f',"envelope_from":{_encode_str(envelope_from)}'
            if envelope_to is not None:
                optional += f',"envelope_to":{_encode_str(envelope_to)}'
            yield f'{action}-{idx}"}}}}'
            yield (
                f'{common},"source_ip_address":{_js(ip)},"message_count":{count},'
                f'"disposition":{_js(disposition)},"dkim_aligned":{_JSON_BOOL[dkim_ok]},'
                f'"spf_aligned":{_JSON_BOOL[spf_ok]},"passed_dmarc":{_JSON_BOOL[dkim_ok or spf_ok]}'
                f'{r},"header_from":{_js(header_from)}{optional}{d}{s}}}'
            )


_JSON_BOOL = {False: "false", True: "true"}


def _lower(value: object) -> str:
    return str(value).lower()


def _without_empty(doc: dict[str, Any]) -> dict[str, Any]:
    """What a search-engine client stores: no nulls, no empty lists (elasticsearch-dsl's
    ``skip_empty``, which parsedmarc's documents go through)."""
    return {k: v for k, v in doc.items() if v is not None and v != [] and v != {}}


# --------------------------------------------------------------------------- failure reports


def failure_json(report: FailureReport) -> dict[str, Any]:
    """A failure report in parsedmarc's shape. dmarctui keeps no copy of the sample message,
    only its From, To, Subject and Message-ID, so ``sample`` is null."""
    return {
        "feedback_type": report.feedback_type,
        "user_agent": report.user_agent,
        "version": None,
        "original_envelope_id": None,
        "original_mail_from": report.original_mail_from,
        "original_rcpt_to": ",".join(report.original_rcpt_to) or None,
        "arrival_date": report.arrival_date,
        "arrival_date_utc": human_utc(report.arrival_epoch),
        "message_id": report.original_message_id,
        "authentication_results": report.authentication_results,
        "delivery_result": report.delivery_result,
        "auth_failure": list(report.auth_failure),
        "reported_domain": report.reported_domain[0] if report.reported_domain else None,
        "source": {"ip_address": report.source_ip, **_NO_SOURCE_FACTS},
        "authentication_mechanisms": [],
        "dkim_domain": report.dkim_domain,
        "sample_headers_only": None,
        "sample": None,
        "parsed_sample": {
            "subject": report.original_subject,
            "from": report.original_from,
            "to": report.original_to,
            "message-id": report.original_message_id,
        },
    }


def failure_csv_row(report: FailureReport) -> list[Any]:
    data = failure_json(report)
    source = data.pop("source")
    data.update({f"source_{k}": v for k, v in source.items()})
    data["source_ip_address"] = source["ip_address"]
    data["subject"] = report.original_subject
    data["auth_failure"] = ",".join(report.auth_failure)
    data["authentication_mechanisms"] = ""
    return [data.get(field) for field in FAILURE_CSV_FIELDS]


def failure_bulk_lines(report: FailureReport, doc_id: str, index_prefix: str = "") -> list[str]:
    """parsedmarc's ``dmarc_failure`` document of one failure report."""
    day = _day(report.arrival_epoch) if report.arrival_epoch is not None else "undated"
    headers = _without_empty({
        "from": report.original_from,
        "to": report.original_to,
        "subject": report.original_subject,
        "message-id": report.original_message_id,
    })  # fmt: skip
    doc = _without_empty({
        "feedback_type": report.feedback_type,
        "user_agent": report.user_agent,
        "original_mail_from": report.original_mail_from,
        "arrival_date": iso_utc(report.arrival_epoch),
        "domain": report.reported_domain[0] if report.reported_domain else None,
        "authentication_results": report.authentication_results,
        "delivery_results": report.delivery_result,
        "source_ip_address": report.source_ip,
        "source_auth_failures": list(report.auth_failure),
        "dkim_domain": report.dkim_domain,
        "original_rcpt_to": ",".join(report.original_rcpt_to) or None,
        "sample": _without_empty({"headers": headers, "subject": report.original_subject}),
    })  # fmt: skip
    index = f"{index_prefix}dmarc_failure-{day}"
    return [_dumps({"index": {"_index": index, "_id": doc_id}}), _dumps(doc)]


# --------------------------------------------------------------------------- SMTP TLS reports


def tls_json(report: TlsReport) -> dict[str, Any]:
    """An SMTP TLS report in parsedmarc's shape (policy strings are not kept by dmarctui)."""
    policies = []
    for policy in report.policies:
        entry: dict[str, Any] = {
            "policy_domain": policy.policy_domain,
            "policy_type": policy.policy_type,
            "successful_session_count": policy.successful,
            "failed_session_count": policy.failed,
        }
        if policy.mx_hosts:
            entry["mx_host_patterns"] = list(policy.mx_hosts)
        if policy.failure_details:
            entry["failure_details"] = [_tls_detail(d) for d in policy.failure_details]
        policies.append(entry)
    return {
        "organization_name": report.organization_name,
        "begin_date": iso_utc(report.begin),
        "end_date": iso_utc(report.end),
        "contact_info": report.contact_info,
        "report_id": report.report_id,
        "policies": policies,
    }


def _tls_detail(detail: Any) -> dict[str, Any]:
    return _without_empty({
        "result_type": detail.result_type,
        "failed_session_count": detail.failed_session_count,
        "sending_mta_ip": detail.sending_mta_ip,
        "receiving_ip": detail.receiving_ip,
        "receiving_mx_hostname": detail.receiving_mx_hostname,
        "additional_information_uri": detail.additional_information,
        "failure_reason_code": detail.failure_reason_code,
    })  # fmt: skip


def tls_csv_rows(report: TlsReport) -> Iterator[list[Any]]:
    """parsedmarc's flat rows: one per policy, then one per failure detail."""
    data = tls_json(report)
    common = {k: data[k] for k in ("organization_name", "begin_date", "end_date", "report_id")}
    for policy in data["policies"]:
        base = dict(common)
        if "mx_host_patterns" in policy:
            base["mx_host_patterns"] = "|".join(policy["mx_host_patterns"])
        summary = {
            **base,
            "policy_domain": policy["policy_domain"],
            "policy_type": policy["policy_type"],
            "successful_session_count": policy["successful_session_count"],
            "failed_session_count": policy["failed_session_count"],
        }
        yield [summary.get(field) for field in TLS_CSV_FIELDS]
        for detail in policy.get("failure_details", ()):
            row = {**base, **detail}
            row["additional_info_uri"] = row.pop("additional_information_uri", None)
            yield [row.get(field) for field in TLS_CSV_FIELDS]


def tls_bulk_lines(report: TlsReport, doc_id: str, index_prefix: str = "") -> list[str]:
    """parsedmarc's ``smtp_tls`` document of one TLS report."""
    data = tls_json(report)
    begin, end = data["begin_date"], data["end_date"]
    policies = []
    for policy in data["policies"]:
        entry = dict(policy)
        if "failure_details" in entry:
            entry["failure_details"] = [
                {**d, "ip_address": d.get("sending_mta_ip")} for d in entry["failure_details"]
            ]
        policies.append(entry)
    doc = _without_empty({
        "org_name": report.organization_name,
        "date_range": [begin, end],
        "date_begin": begin,
        "date_end": end,
        "contact_info": report.contact_info,
        "report_id": report.report_id,
        "policies": policies,
        "policies_combined": [f"{p.policy_domain} / {p.policy_type}" for p in report.policies],
    })  # fmt: skip
    index = f"{index_prefix}smtp_tls-{_day(report.begin)}"
    return [_dumps({"index": {"_index": index, "_id": doc_id}}), _dumps(doc)]
