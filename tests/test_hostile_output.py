"""Text from a mail never becomes a header, a formula or a forged line (issue 11, items 3, 7, 8).

The class-level fixes: a source IP must parse as an address when the report is read (else the
report is an error with a reason), every CSV goes through ``csv_cells``, and the headless
commands' output goes through ``display_text.visible``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from dmarctui.aggregate import AggregateError, parse_aggregate
from dmarctui.cli import main
from dmarctui.csv_cells import SafeCsvWriter, safe_cell
from dmarctui.display_text import VisibleWriter, visible
from tests.mailbuild import Rec, aggregate_xml, report_mail, write_maildir

INJECTIONS = [
    "198.51.100.7 =?utf-8?q?=0ABcc:_attacker@evil.example=0AX-A:?=",
    "198.51.100.7&#10;Bcc: attacker@evil.example",
    "198.51.100.7&#13;&#10;  2. [urgent] enforced  192.0.2.99",
    "fe80::1%&#10;Bcc: x",
    "@SUM(1+1)",
    "[/]",
]


def _report(source_ip_xml: str, plain: bool) -> bytes:
    good = aggregate_xml(Rec(source_ip="192.0.2.77"))
    marker = b"<source_ip>192.0.2.77</source_ip>"
    data = good.replace(marker, f"<source_ip>{source_ip_xml}</source_ip>".encode())
    return data if plain else data.replace(b"<record>", b"<record >")  # the element tree path


@pytest.mark.parametrize("plain", [True, False], ids=["record_split", "tree"])
@pytest.mark.parametrize("value", INJECTIONS)
def test_a_source_ip_that_is_not_an_address_makes_the_report_an_error(
    value: str, plain: bool
) -> None:
    with pytest.raises(AggregateError, match="is not an IPv4 or IPv6 address"):
        parse_aggregate(_report(value.replace("[", "&#91;"), plain))


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 2001:db8::1 ", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ],
)
def test_real_addresses_are_still_read(value: str, read: str) -> None:
    """Read as one spelling per address (an IPv4 address mapped into IPv6 is the IPv4 one)."""
    assert parse_aggregate(_report(value, True)).records[0].source_ip == read


def _folder(tmp_path: Path) -> Path:
    spoof = Rec(source_ip="203.0.113.5", dkim="fail", spf="fail", disposition="reject")
    forged_org = aggregate_xml(
        spoof, org_name='=HYPERLINK("http://evil.example","x")\n  2. [urgent] forged\x1b[2J'
    )
    forged_ip = aggregate_xml(Rec(source_ip="192.0.2.7"), report_id="forged").replace(
        b"192.0.2.7", b"192.0.2.7&#10;  3. [urgent] enforced  192.0.2.99"
    )
    return write_maildir(tmp_path / "Maildir", [report_mail(forged_org), report_mail(forged_ip)])[
        0
    ].parent.parent


def test_flagged_text_has_no_forged_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    assert main(["flagged", str(folder), "--no-dns", "--no-index"]) == 0
    out = capsys.readouterr().out
    numbered = [line for line in out.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert [line.split()[-1] for line in numbered] == ["203.0.113.5"] * len(numbered) != []
    assert "192.0.2.99" not in out
    assert "\x1b" not in out
    assert "\\x0a  2. [urgent] forged" in out


def test_flagged_csv_cells_are_never_formulas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    assert main(["flagged", str(folder), "--no-dns", "--no-index", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and all(row["reporters"].startswith("'=HYPERLINK(") for row in rows)
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


@pytest.mark.parametrize(
    ("cell", "written"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (-3, -3), (7, 7)],
)  # fmt: skip
def test_csv_cells_are_neutralised_as_owasp_recommends(cell: object, written: object) -> None:
    assert safe_cell(cell) == written
    out = io.StringIO()
    SafeCsvWriter(out).writerow([cell, "next"])
    assert out.getvalue().startswith(str(written))


def test_every_control_and_bidi_character_is_shown_escaped() -> None:
    text = "a\x1b]52;c;cHduZWQ=\x07b\u202ec\x7fd\x9be\u2066f\u200eg\u061ch\nI\tJ"
    assert visible(text) == (
        "a\\x1b]52;c;cHduZWQ=\\x07b\\u202ec\\u007fd\\u009be\\u2066f\\u200eg\\u061ch\\x0aI\\x09J"
    )
    assert visible(text, multiline=True).endswith("h\nI\tJ")
    assert visible("日本語 report") == "日本語 report"


def test_the_cli_output_stream_escapes_and_keeps_json_valid() -> None:
    out = io.StringIO()
    VisibleWriter(out).write('{"org": "x\u202e\x85y"}\n')
    assert out.getvalue() == '{"org": "x\\u202e\\u0085y"}\n'
    import json

    assert json.loads(out.getvalue()) == {"org": "x\u202e\x85y"}


def test_a_bad_source_ip_stored_by_an_older_version_is_read_again(tmp_path: Path) -> None:
    from dmarctui.index import Index
    from dmarctui.scan import drain

    folder = write_maildir(tmp_path / "Maildir", [report_mail(aggregate_xml())])[0].parents[1]
    db = tmp_path / "index.sqlite"
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
        index._conn.execute(  # what an index written before the check holds
            "UPDATE combos SET source_ip = '192.0.2.10\nBcc: x@evil.example', ip_key = NULL"
        )
    with Index.open(folder, db=db) as index:
        stats = drain(index.update(workers=1))
        assert stats.bodies_read == 1
        sources = {r.source_ip for report in index.counted_reports() for r in report.records}
        assert sources == {"192.0.2.10"}


def test_undecodable_bytes_in_json_output_stay_valid_json() -> None:
    import json

    out = io.StringIO()
    VisibleWriter(out).write(json.dumps({"name": "caf\udce9"}, ensure_ascii=False))
    assert json.loads(out.getvalue()) == {"name": "caf\udce9"}
