"""Round two of the scan's fast paths: each gives exactly the careful path's answer."""

from __future__ import annotations

from dmarctui.aggregate import parse_aggregate
from dmarctui.model import DkimAuthResult, Identifiers, Normalisation

RECORD = (
    "<record><row><source_ip>{ip}</source_ip><count>1</count><policy_evaluated>"
    "<disposition>{disposition}</disposition><dkim>fail</dkim><spf>{spf}</spf>"
    "</policy_evaluated></row><identifiers><header_from>{header_from}</header_from>"
    "</identifiers><auth_results><dkim><domain>{header_from}</domain><result>{dkim}</result>"
    "</dkim><spf><domain>example.org</domain><result>pass</result></spf></auth_results></record>"
)


def _report(*records: str) -> bytes:
    return (
        "<feedback><report_metadata><org_name>x</org_name><email>a@x.example</email>"
        "<report_id>r</report_id><date_range><begin>1</begin><end>2</end></date_range>"
        "</report_metadata><policy_published><domain>example.org</domain><p>none</p>"
        f"</policy_published>{''.join(records)}</feedback>"
    ).encode()


def _record(ip: str, header_from: str = "example.org", **values: str) -> str:
    fields = {"disposition": "none", "spf": "pass", "dkim": "fail", **values}
    return RECORD.format(ip=ip, header_from=header_from, **fields)


def test_repeated_record_parts_still_log_each_records_own_normalisation() -> None:
    """A clean spelling seen before does not hide a later record's different spelling."""
    report = parse_aggregate(
        _report(
            _record("192.0.2.1"),
            _record("192.0.2.2", "Example.ORG", disposition="None", dkim="hardfail"),
            _record("192.0.2.3"),
            _record("192.0.2.4", "Example.ORG", disposition="None", dkim="hardfail"),
        )
    )
    records = report.records
    assert [r.identifiers for r in records] == [Identifiers("example.org")] * 4
    assert {r.dkim for r in records} == {(DkimAuthResult("example.org", "fail"),)}
    assert [r.policy_evaluated.disposition for r in records] == ["none"] * 4
    expected = [
        Normalisation(f"record[{i}]/{where}", original, value)
        for i in (1, 3)
        for where, original, value in (
            ("row/policy_evaluated/disposition", "None", "none"),
            ("identifiers/header_from", "Example.ORG", "example.org"),
            ("auth_results/dkim[0]/domain", "Example.ORG", "example.org"),
            ("auth_results/dkim[0]/result", "hardfail", "fail"),
        )
    ]
    assert set(report.normalised) == set(expected)
    assert len(report.normalised) == len(expected)


def test_a_report_parsed_twice_gives_equal_reports() -> None:
    data = _report(_record("192.0.2.1"), _record("192.0.2.2", "Example.ORG"))
    assert parse_aggregate(data) == parse_aggregate(data)
