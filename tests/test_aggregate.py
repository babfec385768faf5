"""Aggregate report parsing: schemas, normalisation, repairs, refusals and content keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dmarctui.aggregate import (
    AggregateError,
    NotAggregate,
    content_key,
    parse_aggregate,
    records_key,
    report_to_dict,
    reporter_name,
)

DATA = Path(__file__).parent / "data"


def feedback(
    *,
    metadata: str = "",
    policy: str = "<domain>example.ac.jp</domain><p>none</p>",
    records: str = "",
    root: str = "<feedback>",
    declaration: str = '<?xml version="1.0" encoding="UTF-8"?>\n',
    begin: str = "1720224000",
) -> str:
    """An aggregate report document built in code; callers replace the parts a test is about."""
    metadata = metadata or (
        "<org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>"
        "<report_id>12345</report_id>"
    )
    return (
        f"{declaration}{root}\n<report_metadata>{metadata}\n"
        f"<date_range><begin>{begin}</begin><end>1720310399</end></date_range>"
        f"</report_metadata>\n<policy_published>{policy}</policy_published>\n{records}\n"
        "</feedback>\n"
    )


def record(
    ip: str = "192.0.2.15",
    count: str = "3",
    *,
    evaluated: str = "<disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>",
    identifiers: str = "<header_from>example.ac.jp</header_from>",
    auth: str = "<spf><domain>example.ac.jp</domain><result>pass</result></spf>",
) -> str:
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
        f"<policy_evaluated>{evaluated}</policy_evaluated></row>"
        f"<identifiers>{identifiers}</identifiers><auth_results>{auth}</auth_results></record>"
    )


def parse(text: str) -> object:
    return parse_aggregate(text.encode("utf-8"))


# --------------------------------------------------------------------------- schemas


def test_rfc7489_report_keeps_every_field() -> None:
    doc = feedback(
        policy="<domain>example.ac.jp</domain><adkim>r</adkim><aspf>s</aspf><p>quarantine</p>"
        "<sp>none</sp><pct>50</pct><fo>1</fo>",
        records=record(
            evaluated="<disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf>"
            "<reason><type>mailing_list</type><comment>lab-announce</comment></reason>",
            identifiers="<header_from>example.ac.jp</header_from>"
            "<envelope_from>lists.example.ac.jp</envelope_from>"
            "<envelope_to>receiver.example</envelope_to>",
            auth="<dkim><domain>example.ac.jp</domain><selector>s1</selector><result>fail</result>"
            "<human_result>body hash mismatch</human_result></dkim>"
            "<dkim><domain>lists.example.ac.jp</domain><result>pass</result></dkim>"
            "<spf><domain>lists.example.ac.jp</domain><scope>mfrom</scope><result>pass</result></spf>",
        ),
    )
    report = parse_aggregate(doc.encode())
    policy = report.policy_published
    assert (policy.domain, policy.p, policy.adkim, policy.aspf, policy.sp, policy.pct) == (
        "example.ac.jp",
        "quarantine",
        "r",
        "s",
        "none",
        50,
    )
    (row,) = report.records
    assert row.count == 3 and row.source_ip == "192.0.2.15"
    assert row.policy_evaluated.reason[0].type == "mailing_list"
    assert row.policy_evaluated.reason[0].comment == "lab-announce"
    assert row.identifiers.envelope_to == "receiver.example"
    assert [(d.domain, d.selector, d.result) for d in row.dkim] == [
        ("example.ac.jp", "s1", "fail"),
        ("lists.example.ac.jp", None, "pass"),
    ]
    assert row.dkim[0].human_result == "body hash mismatch"
    assert row.spf[0].scope == "mfrom"
    assert report.status == "ok" and report.normalised == () and report.namespace is None


def test_rfc9990_namespace_extensions_and_lang_attributes() -> None:
    ns = "urn:ietf:params:xml:ns:dmarc-2.0"
    doc = feedback(
        root=f'<feedback xmlns="{ns}" xmlns:x="urn:example:ext">',
        metadata="<org_name>GMX</org_name><email>noreply@gmx.net</email>"
        '<extra_contact_info lang="de">https://postmaster.gmx.net</extra_contact_info>'
        "<report_id>6d2b</report_id>",
        policy="<domain>example.ac.jp</domain><p>reject</p><np>reject</np><testing>n</testing>"
        "<discovery_method>psl</discovery_method>",
        records="<extension><x:thing>ignored</x:thing></extension>"
        + record(
            evaluated="<disposition>pass</disposition><dkim>pass</dkim><spf>pass</spf>"
        ).replace("</record>", "<x:record><x:count>99</x:count></x:record></record>"),
    )
    report = parse(doc)
    assert report.namespace == ns
    assert report.report_metadata.extra_contact_info == "https://postmaster.gmx.net"
    assert report.policy_published.discovery_method == "psl"
    assert report.policy_published.np == "reject"
    assert report.records[0].policy_evaluated.disposition == "pass"
    assert report.messages_total == 3


def test_real_rfc9990_sample_from_tests_data() -> None:
    report = parse_aggregate((DATA / "pm__rfc9990-sample.xml").read_bytes())
    assert report.version == "1.0"
    assert report.namespace == "urn:ietf:params:xml:ns:dmarc-2.0"
    assert report.report_metadata.generator == "Example DMARC Aggregate Reporter v1.2"
    assert report.policy_published.testing == "n"
    assert report.records[0].dkim[0].selector == "abc123"
    assert report.messages_total == 123


def test_draft_namespace_version_is_only_a_hint() -> None:
    doc = feedback(root='<feedback xmlns="http://dmarc.org/dmarc-xml/0.2">').replace(
        "<report_metadata>", "<version>2.0</version><report_metadata>", 1
    )
    report = parse(doc)
    assert (report.version, report.namespace) == ("2.0", "http://dmarc.org/dmarc-xml/0.2")


def test_metadata_in_any_order_schema_tag_email_attribute_and_standalone() -> None:
    doc = feedback(
        declaration='<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
        metadata='<report_id>r-1</report_id><email type="x">dmarc@example.net</email>'
        "<org_name>Example</org_name>",
    )
    report = parse(doc)
    assert report.report_metadata.email == "dmarc@example.net"
    assert report.report_metadata.report_id == "r-1"


def test_windows_1252_declaration_reads_its_own_bytes() -> None:
    doc = feedback(
        declaration='<?xml version="1.0" encoding="windows-1252"?>\n',
        metadata="<org_name>\x91Caf\xe9\x92</org_name><email>a@example.net</email>"
        "<report_id>w</report_id>",
    )
    report = parse_aggregate(doc.encode("latin-1"))
    assert report.report_metadata.org_name == "‘Café’"
    assert report.status == "ok"


def test_no_records_is_still_a_report() -> None:
    report = parse(feedback())
    assert report.records == () and report.messages_total == 0


# --------------------------------------------------------------------------- normalisation


def test_non_standard_values_are_normalised_and_logged() -> None:
    doc = feedback(
        begin="1720224000.000",
        policy="<domain>Example.AC.JP</domain><p>None</p>",
        records=record(
            evaluated="<disposition>none</disposition><dkim>Pass</dkim><spf>fail</spf>"
            "<reason><type></type><comment></comment></reason>",
            auth="<dkim><domain>example.ac.jp</domain><result>unknown</result></dkim>"
            "<dkim><domain>example.ac.jp</domain><result>error</result></dkim>"
            "<spf><domain>example.ac.jp</domain><result>hardfail</result></spf>",
        ),
    )
    report = parse(doc)
    row = report.records[0]
    assert report.report_metadata.date_range.begin == 1720224000
    assert report.policy_published.domain == "example.ac.jp"
    assert row.policy_evaluated.dkim == "pass"
    assert [d.result for d in row.dkim] == ["temperror", "permerror"]
    assert row.spf[0].result == "fail"
    assert row.policy_evaluated.reason[0].type == "other"
    assert row.policy_evaluated.reason[0].comment is None
    logged = {(n.where, n.original, n.value) for n in report.normalised}
    assert logged == {
        ("report_metadata/date_range/begin", "1720224000.000", "1720224000"),
        ("policy_published/domain", "Example.AC.JP", "example.ac.jp"),
        ("policy_published/p", "None", "none"),
        ("record[0]/row/policy_evaluated/dkim", "Pass", "pass"),
        ("record[0]/row/policy_evaluated/reason[0]/type", "", "other"),
        ("record[0]/auth_results/dkim[0]/result", "unknown", "temperror"),
        ("record[0]/auth_results/dkim[1]/result", "error", "permerror"),
        ("record[0]/auth_results/spf[0]/result", "hardfail", "fail"),
    }
    assert report.status == "ok", "normalising values is not a repair"


def test_real_hardfail_report_reads_as_fail() -> None:
    report = parse_aggregate((DATA / "cry__hardfail.xml").read_bytes())
    row = report.records[0]
    assert row.spf[0].result == "fail"
    assert (row.dkim[0].domain, row.dkim[0].selector) == ("", None)
    assert report.normalised[0].original == "hardfail"


def test_missing_email_is_accepted_and_noted() -> None:
    report = parse(feedback(metadata="<org_name>X</org_name><report_id>1</report_id>"))
    assert report.report_metadata.email == ""
    assert ("report_metadata/email", "(missing)", "") in {
        (n.where, n.original, n.value) for n in report.normalised
    }


def test_missing_envelope_from_stays_none() -> None:
    report = parse(feedback(records=record()))
    assert report.records[0].identifiers.envelope_from is None


def test_empty_org_name_is_kept_and_reporter_name_falls_back_to_email_domain() -> None:
    report = parse(
        feedback(
            metadata="<org_name></org_name><email>admin@accurateplastics.com</email>"
            "<report_id>1</report_id>"
        )
    )
    assert report.report_metadata.org_name == ""
    assert reporter_name(report) == "accurateplastics.com"


@pytest.mark.parametrize(("count", "shown"), [("", "''"), ("many", "'many'"), ("1.5", "'1.5'")])
def test_bad_count_names_the_record(count: str, shown: str) -> None:
    doc = feedback(records=record() + record("198.51.100.7", count))
    with pytest.raises(
        AggregateError, match=rf"record\[1\] \(source_ip 198\.51\.100\.7\): count {shown}"
    ):
        parse(doc)


# --------------------------------------------------------------------------- repairs


def test_latin1_org_name_in_utf8_document_is_recovered_with_position() -> None:
    doc = feedback(
        metadata="<org_name>Soci\xe9t\xe9 G\xe9n\xe9rale</org_name><email>n@gmx.net</email>"
        "<report_id>c</report_id>"
    ).encode("latin-1")
    report = parse_aggregate(doc)
    assert report.report_metadata.org_name == "Société Générale"
    assert report.status == "recovered"
    assert {r.kind for r in report.repairs} == {"reencoded"}
    first = report.repairs[0]
    assert (first.line, first.column) == (3, 32)
    assert "\\xe9" in first.detail and "'é'" in first.detail


def test_0x91_in_a_url_is_read_as_windows_1252_quote() -> None:
    doc = feedback(
        metadata="<org_name>x</org_name><email>a@x.net</email>"
        "<extra_contact_info>http://x.net/\x91dmarc\x92</extra_contact_info><report_id>q</report_id>"
    ).encode("latin-1")
    report = parse_aggregate(doc)
    assert report.report_metadata.extra_contact_info == "http://x.net/‘dmarc’"


def test_bel_in_a_comment_is_dropped_and_marked() -> None:
    doc = feedback(
        records=record(
            evaluated="<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf>"
            "<reason><type>local_policy</type><comment>arc=pass\x07 as.1.google.com</comment>"
            "</reason>"
        )
    )
    report = parse(doc)
    assert report.records[0].policy_evaluated.reason[0].comment == "arc=pass as.1.google.com"
    assert [r.kind for r in report.repairs] == ["control_chars"]
    assert "\\x07" in report.repairs[0].detail


def test_unescaped_angle_brackets_and_ampersands_are_escaped() -> None:
    doc = feedback(
        metadata="<org_name>x</org_name><email><dmarc@uwaterloo.ca></email>"
        "<extra_contact_info>https://x.example/?a=1&b=2</extra_contact_info>"
        "<report_id>u</report_id>"
    )
    report = parse(doc)
    assert report.report_metadata.email == "dmarc@uwaterloo.ca"
    assert report.report_metadata.extra_contact_info == "https://x.example/?a=1&b=2"
    assert {r.kind for r in report.repairs} == {"escaped_markup"}


def test_stray_schema_tag_and_quote_before_root_are_dropped() -> None:
    doc = feedback(
        declaration='<?xml version="1.0"?>"\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">\n'
    )
    report = parse(doc)
    assert report.report_metadata.report_id == "12345"
    assert sorted(r.kind for r in report.repairs) == ["stray_tag", "stray_text"]


def test_unrepairable_document_names_line_column_and_bytes() -> None:
    doc = feedback(
        metadata="<org_name>google.com</org_name><email>x@y</email><report_id>123450000/report_id>"
    )
    with pytest.raises(AggregateError) as caught:
        parse(doc)
    message = str(caught.value)
    assert message.startswith("mismatched tag at line 4, column 74: …")
    assert message.endswith("</date_range></report_metadata>") and "\n" not in message


def test_error_shows_foreign_bytes_escaped_in_context() -> None:
    doc = b'<?xml version="1.0" encoding="us-ascii"?>\n<feedback><org_name>Soci\xe9t\xe9 G</x>'
    with pytest.raises(AggregateError) as caught:
        parse_aggregate(doc)
    assert str(caught.value) == (
        "mismatched tag at line 2, column 32: …feedback><org_name>Soci\\xe9t\\xe9 G</x> "
        "(still invalid after repairs: reencoded)"
    )


def test_unknown_declared_encoding_is_read_as_utf8_and_marked() -> None:
    doc = feedback(declaration='<?xml version="1.0" encoding="x-unknown-8bit"?>\n')
    report = parse(doc)
    assert report.report_metadata.report_id == "12345"
    assert report.repairs[0].kind == "reencoded"
    assert "x-unknown-8bit" in report.repairs[0].detail


# --------------------------------------------------------------------------- refusals


def test_external_entity_is_refused_not_read() -> None:
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        + feedback(declaration="").replace("google.com</org_name>", "&xxe;</org_name>")
    )
    with pytest.raises(AggregateError, match="refused: the document declares a DOCTYPE"):
        parse(doc)


def test_billion_laughs_is_refused_before_expansion() -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    doc = f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]><feedback>&lol9;</feedback>'
    with pytest.raises(AggregateError, match="entity-expansion"):
        parse(doc)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty document"),
        (b"unused", "literal text 'unused'"),
        (b"This is not XML at all\nJust text", "not XML: the data starts with 'This is not XML"),
        (b'{"organization-name": "x"}', "JSON, not XML"),
        (b"\x1f\x8b\x08\x00", "gzip-compressed"),
    ],
)
def test_clear_reasons_for_data_that_is_not_a_report(data: bytes, reason: str) -> None:
    with pytest.raises(AggregateError, match=reason.replace("(", r"\(")):
        parse_aggregate(data)


def test_sitemap_is_not_an_aggregate_report() -> None:
    sitemap = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://example.ac.jp/</loc></url></urlset>"
    )
    with pytest.raises(NotAggregate, match="<urlset>"):
        parse_aggregate(sitemap)


# --------------------------------------------------------------------------- keys and dicts


def test_content_key_ignores_layout_namespace_and_record_order() -> None:
    two = record() + record("198.51.100.7", "5")
    swapped = record("198.51.100.7", "5") + record()
    plain = parse(feedback(records=two))
    relayed = parse(
        feedback(
            root='<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">', records=swapped
        ).replace("><", ">\n  <")
    )
    assert content_key(plain) == content_key(relayed)
    changed = parse(feedback(records=record() + record("198.51.100.7", "6")))
    assert content_key(changed) != content_key(plain)


def test_records_key_tells_a_date_range_only_collision() -> None:
    first = parse(feedback(records=record()))
    moved = parse(feedback(records=record(), begin="1720137600"))
    assert content_key(first) != content_key(moved)
    assert records_key(first) == records_key(moved)


def test_report_to_dict_uses_rfc_names_and_is_json_ready() -> None:
    doc = feedback(
        records=record(auth="<spf><domain>example.ac.jp</domain><result>hardfail</result></spf>")
    )
    as_dict = report_to_dict(parse(doc))
    json.dumps(as_dict)
    row = as_dict["records"][0]
    assert row["row"]["policy_evaluated"]["disposition"] == "none"
    assert row["auth_results"]["spf"][0] == {
        "domain": "example.ac.jp",
        "scope": None,
        "result": "fail",
        "human_result": None,
    }
    assert as_dict["report_metadata"]["date_range"] == {"begin": 1720224000, "end": 1720310399}
    assert as_dict["normalised"][0]["original"] == "hardfail"
    assert as_dict["status"] == "ok"


def test_a_source_address_is_told_apart_as_ipaddress_tells_it() -> None:
    """The dotted-quad fast path accepts exactly what ``ipaddress`` accepts."""
    import ipaddress

    from dmarctui.source_address import is_address

    texts = [
        "192.0.2.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
        "1.2.3.4\n", " 1.2.3.4", "1.2.3.04", "1.2.3.4%eth0", "١.٢.٣.٤", "1.2.3.٤",
        "199.200.249.250",
        "2001:db8::1", "2001:db8::1%eth0", "::ffff:192.0.2.1", "", "1..2.3", "999.0.0.0",
    ]  # fmt: skip
    for octets in ((a, b) for a in range(0, 300, 7) for b in ("0", "00", "09", "10", "255")):
        texts.append(f"{octets[0]}.{octets[1]}.1.2")

    def reference(text: str) -> bool:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return False
        return "%" not in text

    assert [is_address(t) for t in texts] == [reference(t) for t in texts]
    assert is_address("192.0.2.1") and not is_address("01.2.3.4")
