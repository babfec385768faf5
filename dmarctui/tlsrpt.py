"""Read SMTP TLS reports (RFC 8460 JSON) into ``model.TlsReport``.

Reporters drift from the RFC's key names: ``mx-host`` (RFC example, Google; a string or a list)
versus ``mx-host-pattern`` (RFC text), ``additional-information`` versus ``additional-info-uri``,
and Microsoft leaves out ``sending-mta-ip``. All of these are accepted; anything that is JSON but
not a TLS report gets a ``TlsError`` naming what is missing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dmarctui.model import TlsFailureDetail, TlsPolicy, TlsReport


class TlsError(ValueError):
    """The data is not a readable RFC 8460 report; str() is one line saying why."""


def looks_like_tls(data: bytes) -> bool:
    """Cheap check: a JSON object mentioning the RFC 8460 keys near its start."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and b'"policies"' in data and b'"date-range"' in data


def parse_tls(data: bytes) -> TlsReport:
    """Parse one TLS-RPT JSON document (already inflated when it came as ``.json.gz``).

    Raises:
        TlsError: not JSON, or JSON that lacks the RFC 8460 structure.
    """
    if not data.strip():
        raise TlsError("empty document")
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TlsError(f"not UTF-8 text (byte {exc.start}): not a TLS report") from None
    except json.JSONDecodeError as exc:
        raise TlsError(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, [[[[… nested too deep
        raise TlsError(f"JSON this program will not read: {str(exc)[:120]}") from None
    if not isinstance(document, dict):
        raise TlsError(f"JSON {type(document).__name__}, not an object: not a TLS report")
    missing = [
        key
        for key in ("organization-name", "date-range", "report-id", "policies")
        if key not in document
    ]
    if missing:
        raise TlsError(f"JSON without {', '.join(missing)}: not an RFC 8460 TLS report")
    date_range = _object(document["date-range"], "date-range")
    policies = document["policies"]
    if not isinstance(policies, list):
        raise TlsError("policies is not a list")
    return TlsReport(
        organization_name=_string(document["organization-name"], "organization-name"),
        report_id=_string(document["report-id"], "report-id"),
        begin=_epoch(date_range.get("start-datetime"), "date-range/start-datetime"),
        end=_epoch(date_range.get("end-datetime"), "date-range/end-datetime"),
        contact_info=_optional_string(document.get("contact-info")),
        policies=tuple(_policy(index, item) for index, item in enumerate(policies)),
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TlsError(f"{where} is not an object")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TlsError(f"{where} is {value!r}, not a string")
    return value.strip()


def _optional_string(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:40] + "…"
        raise TlsError(f"{where} is {shown}, not a session count")
    return value


def _epoch(value: Any, where: str) -> int:
    """RFC 3339 date-time (``2016-04-01T00:00:00Z``) → seconds since the epoch."""
    if not isinstance(value, str):
        raise TlsError(f"{where} is {value!r}, not a date-time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise TlsError(f"{where} is {value!r}, not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise TlsError(f"{where} is {value!r}, a date-time without a time zone")
    return int(moment.timestamp())


def _policy(index: int, item: Any) -> TlsPolicy:
    where = f"policies[{index}]"
    item = _object(item, where)
    policy = _object(item.get("policy"), f"{where}/policy")
    summary = _object(item.get("summary"), f"{where}/summary")
    hosts = policy.get("mx-host", policy.get("mx-host-pattern", ()))
    if isinstance(hosts, str):
        hosts = [hosts]
    details = item.get("failure-details") or []
    if not isinstance(details, list):
        raise TlsError(f"{where}/failure-details is not a list")
    return TlsPolicy(
        policy_type=_string(policy.get("policy-type"), f"{where}/policy/policy-type"),
        policy_domain=_string(policy.get("policy-domain"), f"{where}/policy/policy-domain"),
        successful=_count(
            summary.get("total-successful-session-count"),
            f"{where}/summary/total-successful-session-count",
        ),
        failed=_count(
            summary.get("total-failure-session-count"),
            f"{where}/summary/total-failure-session-count",
        ),
        mx_hosts=tuple(str(host).strip() for host in hosts if str(host).strip()),
        failure_details=tuple(
            _detail(f"{where}/failure-details[{number}]", detail)
            for number, detail in enumerate(details)
        ),
    )


def _detail(where: str, item: Any) -> TlsFailureDetail:
    item = _object(item, where)
    return TlsFailureDetail(
        result_type=_string(item.get("result-type"), f"{where}/result-type"),
        failed_session_count=_count(
            item.get("failed-session-count"), f"{where}/failed-session-count"
        ),
        sending_mta_ip=_optional_string(item.get("sending-mta-ip")),
        receiving_mx_hostname=_optional_string(item.get("receiving-mx-hostname")),
        receiving_ip=_optional_string(item.get("receiving-ip")),
        additional_information=_optional_string(
            item.get("additional-information", item.get("additional-info-uri"))
        ),
        failure_reason_code=_optional_string(item.get("failure-reason-code")),
    )
