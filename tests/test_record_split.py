"""Records read by regex (``record_split``) equal the element tree's, and only plain ones are."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dmarctui import aggregate
from dmarctui.aggregate import parse_aggregate
from dmarctui.record_split import MARK, split_records

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feedback{feedback_attrs}>\n  <version>1.0</version>\n'
    "  <report_metadata><org_name>Example Org</org_name><email>dmarc@example.net</email>\n"
    "    <report_id>r-1</report_id><date_range><begin>1700000000</begin>"
    "<end>1700086399</end></date_range></report_metadata>\n"
    "  <policy_published><domain>Example.ORG</domain><p>none</p><pct>100</pct>"
    "</policy_published>\n"
)
RECORDS = [
    """  <record>
    <row>
      <source_ip>192.0.2.1</source_ip>
      <count>3</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers><envelope_from>example.org</envelope_from><header_from>example.org</header_from>
    </identifiers>
    <auth_results>
      <dkim><domain>example.org</domain><selector>s1</selector><result>pass</result></dkim>
      <spf><domain>example.org</domain><scope>mfrom</scope><result>softfail</result></spf>
    </auth_results>
  </record>
""",
    """  <record><row><source_ip> 2001:db8::5 </source_ip><count> 12 </count><policy_evaluated>
    <disposition>Quarantine</disposition><dkim>FAIL</dkim><spf>hardfail</spf>
    <reason><type>Forwarded</type><comment>looks like a list</comment></reason>
    <reason><comment>no type</comment></reason><reason>bare</reason>
    </policy_evaluated></row>
    <identifiers><envelope_to>Example.NET</envelope_to><header_from>Example.ORG</header_from>
    <header_from>second.example</header_from></identifiers>
    <auth_results><spf><domain>Mail.Example.ORG</domain><result>unknown</result><human_result/></spf>
    <dkim><domain>example.org</domain><result>error</result><human_result></human_result></dkim>
    <dkim><domain>other.example</domain><result>pass</result><extra>x</extra></dkim>
    </auth_results></record>
""",
    """  <record><row><source_ip>198.51.100.7</source_ip><count>1</count><policy_evaluated>
    <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers></record>
""",
    """  <record><row><source_ip>198.51.100.9</source_ip><count>2</count><policy_evaluated>
    <disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers><auth_results>
    </auth_results></record>
""",
]
TAIL = "</feedback>\n"


def document(records: list[str] | None = None, feedback_attrs: str = "", tail: str = TAIL) -> str:
    chosen = RECORDS if records is None else records
    return HEAD.format(feedback_attrs=feedback_attrs) + "".join(chosen) + tail


def outcome(data: bytes, plain: bool) -> object:
    """What parse_aggregate gives (the report, or the error's type and words)."""
    original = aggregate._read_plain
    if not plain:
        aggregate._read_plain = lambda _data: None
    try:
        return parse_aggregate(data)
    except Exception as exc:  # the comparison is the point: any outcome must match
        return type(exc).__name__, str(exc)
    finally:
        aggregate._read_plain = original


def assert_same(data: bytes) -> None:
    assert outcome(data, plain=True) == outcome(data, plain=False), data[:400]


def test_plain_records_are_read_by_regex_and_equal_the_tree() -> None:
    data = document().encode()
    assert split_records(data) is not None
    plain = aggregate._read_plain(data)
    assert plain is not None  # the fast path is really taken for this document
    assert plain == outcome(data, plain=False)
    assert len(plain.records) == 4
    assert plain.records[1].source_ip == "2001:db8::5" and plain.records[1].count == 12
    assert [n.where for n in plain.normalised][:3] == [
        "record[1]/auth_results/spf[0]/domain",
        "record[1]/auth_results/spf[0]/result",
        "record[1]/auth_results/dkim[0]/result",
    ]


def test_notes_of_repeated_parts_name_each_record() -> None:
    data = document([RECORDS[1], RECORDS[0], RECORDS[1]]).encode()
    report = aggregate._read_plain(data)
    assert report is not None
    assert report == outcome(data, plain=False)
    wheres = [n.where for n in report.normalised]
    assert (
        sum(w.startswith("record[0]/") for w in wheres)
        == sum(w.startswith("record[2]/") for w in wheres)
        > 5
    )
    assert not any(w.startswith("record[1]/") for w in wheres)


NAMESPACE = ' xmlns="urn:ietf:params:xml:ns:dmarc-2.0"'

VARIANTS: dict[str, Callable[[str], str]] = {
    "default namespace": lambda d: d.replace("<feedback>", f"<feedback{NAMESPACE}>"),
    "prefixed feedback, records in no namespace": lambda d: d.replace(
        "<feedback>", '<d:feedback xmlns:d="urn:x">'
    ).replace("</feedback>", "</d:feedback>"),
    "prefixed feedback, records in another default namespace": lambda d: d.replace(
        "<feedback>", '<d:feedback xmlns:d="urn:x" xmlns="urn:y">'
    ).replace("</feedback>", "</d:feedback>"),
    "comment in a record": lambda d: d.replace("<count>3</count>", "<count>3</count><!-- c -->"),
    "comment holding the records": lambda d: d.replace("  <record>", "<!--<record>", 1).replace(
        "</record>\n", "</record>-->\n", 1
    ),
    "instruction holding a record": lambda d: d.replace("  <record>", "<?pi <record>", 1).replace(
        "</record>\n", "</record>?>\n", 1
    ),
    "marker in a comment": lambda d: d.replace("<version>", f"<!-- <{MARK}/> --><version>"),
    "marker as an element": lambda d: d.replace("<version>", f"<{MARK}/><version>"),
    "marker as an element after the records": lambda d: d.replace(TAIL, f"<{MARK}/>" + TAIL),
    "marker spelt in a record's value": lambda d: d.replace("s1</selector>", f"{MARK}</selector>"),
    "attribute on a record": lambda d: d.replace("<record>", '<record id="1">', 1),
    "prefixed record in feedback's namespace": lambda d: d.replace(
        "<feedback>", f'<feedback{NAMESPACE} xmlns:d="urn:ietf:params:xml:ns:dmarc-2.0">'
    ).replace(TAIL, RECORDS[2].replace("<", "<d:").replace("<d:/", "</d:") + TAIL),
    "prefixed record first": lambda d: (
        d.replace("<feedback>", '<d:feedback xmlns:d="urn:x">')
        .replace("</feedback>", "</d:feedback>")
        .replace(
            "  <record>", RECORDS[2].replace("<", "<d:").replace("<d:/", "</d:") + "  <record>", 1
        )
    ),
    "record tag with a space": lambda d: d.replace("<record>", "<record >", 1),
    "entity in a value": lambda d: d.replace("s1</selector>", "s&amp;1</selector>"),
    "character reference": lambda d: d.replace("s1</selector>", "s&#49;</selector>"),
    "CDATA": lambda d: d.replace("s1</selector>", "<![CDATA[s1]]></selector>"),
    "CR LF line ends": lambda d: d.replace("\n", "\r\n"),
    "CR inside a value": lambda d: d.replace("looks like", "looks\r\nlike"),
    "non-ASCII value": lambda d: d.replace("looks like", "ressemble à"),
    "tab in a value": lambda d: d.replace("looks like", "looks\tlike"),
    "records nested in another element": lambda d: d.replace(
        "  <record>", "<wrap><record>", 1
    ).replace(TAIL, "</wrap>" + TAIL),
    "record after another element": lambda d: d.replace(TAIL, "<extension/>" + RECORDS[2] + TAIL),
    "records split by another element": lambda d: d.replace(
        RECORDS[2], "<extension>x</extension>" + RECORDS[2]
    ),
    "text between records": lambda d: d.replace(RECORDS[2], "junk" + RECORDS[2]),
    "row children reordered": lambda d: d.replace(
        "<source_ip>192.0.2.1</source_ip>\n      <count>3</count>",
        "<count>3</count><source_ip>192.0.2.1</source_ip>",
    ),
    "mismatched end tag": lambda d: d.replace("</selector>", "</selectr>", 1),
    "unclosed record": lambda d: d.replace("</record>", "", 1),
    "empty source_ip": lambda d: d.replace("192.0.2.1", " "),
    "count with a sign": lambda d: d.replace("<count>3</count>", "<count>+3</count>"),
    "count with an underscore": lambda d: d.replace("<count>3</count>", "<count>3_0</count>"),
    "negative count": lambda d: d.replace("<count>3</count>", "<count>-3</count>"),
    "count too large": lambda d: d.replace("<count>3</count>", f"<count>{2**63}</count>"),
    "fractional count": lambda d: d.replace("<count>3</count>", "<count>3.0</count>"),
    "empty count": lambda d: d.replace("<count>3</count>", "<count></count>"),
    "no report_metadata": lambda d: d.replace("report_metadata>", "metadata>"),
    "no policy_published": lambda d: d.replace("policy_published>", "policy>"),
    "root is not feedback": lambda d: d.replace("feedback>", "rss>"),
    "wrapped in xs:schema": lambda d: d.replace(
        "<feedback>", '<xs:schema xmlns:xs="urn:s"><feedback>'
    ).replace(TAIL, "</feedback></xs:schema>\n"),
    "DOCTYPE": lambda d: d.replace("<feedback>", "<!DOCTYPE feedback><feedback>"),
    "latin-1 declared": lambda d: d.replace("UTF-8", "ISO-8859-1"),
    "UTF-16 declared": lambda d: d.replace("UTF-8", "UTF-16"),
    "unknown child of a record": lambda d: d.replace("</identifiers>", "</identifiers><x>1</x>", 1),
    "second row": lambda d: d.replace("</row>", "</row><row></row>", 1),
    "nested element in identifiers": lambda d: d.replace(
        "<header_from>example.org</header_from>\n", "<header_from><b>x</b></header_from>\n", 1
    ),
    "upper-case tag": lambda d: d.replace("<count>3</count>", "<Count>3</Count>"),
    "no records": lambda d: document([]),
    "empty containers written <x/>": lambda d: d.replace(
        RECORDS[2],
        "<record><row><source_ip>198.51.100.8</source_ip><count>0</count><policy_evaluated/>"
        "</row><identifiers/><auth_results/></record>",
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_unusual_shape_gives_the_trees_answer(name: str) -> None:
    data = VARIANTS[name](document()).encode("utf-8")
    assert data != document().encode() or name == "no records"
    assert_same(data)


@pytest.mark.parametrize(
    "name", ["default namespace", "prefixed feedback, records in no namespace"]
)
def test_namespaced_reports_still_take_the_fast_path(name: str) -> None:
    data = VARIANTS[name](document()).encode()
    assert aggregate._read_plain(data) is not None
    assert_same(data)


def test_random_damage_gives_the_trees_answer() -> None:
    """Byte flips, cuts and insertions in and around records: every outcome matches."""
    rng = random.Random(7)
    base = document().encode()
    alphabet = b"<>/&;!? \r\n\tabcdefrowsupiecount_0123456789\xc3\xa9\x00"
    first = base.find(b"<record>") - 40
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(first, len(data))
            action = rng.randrange(3)
            if action == 0:
                data[at] = rng.choice(alphabet)
            elif action == 1:
                del data[at : at + rng.randint(1, 12)]
            else:
                data[at:at] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))
        assert_same(bytes(data))


SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "public" / "raw" / "aggregate"


def _unpacked(path: Path) -> bytes:
    data = path.read_bytes()
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return archive.read(archive.namelist()[0])
    except (OSError, zipfile.BadZipFile, EOFError):
        pass
    return data


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/corpus is not beside the checkout")
def test_public_reports_give_the_trees_answer() -> None:
    files = sorted(p for p in SHARED.rglob("*") if p.is_file())
    taken = 0
    for path in files:
        data = _unpacked(path)
        assert_same(data)
        taken += aggregate._read_plain(data) is not None if data[:1] == b"<" else 0
    assert len(files) == 41
    assert taken >= 34  # the plain ones: all but comments in records, damage and repairs


def test_known_rests_are_not_matched_again_and_read_the_same() -> None:
    """A record whose rest was matched before is cut at its </record> without matching it
    again; when the memo was emptied in between, the rest is matched then."""
    data = document().encode()
    first = aggregate._read_plain(data)
    assert first is not None
    known = aggregate._plain_parts.rests
    split = split_records(data, known)
    assert split is not None and all(matched is None for *_, matched in split[1])
    assert aggregate._read_plain(data) == first == outcome(data, plain=False)
    known.clear()  # forgotten between the split and the reading
    again = aggregate._Reader([]).plain_records(split[1])
    assert again == first.records


def test_a_record_missing_its_end_tag_is_not_cut_at_the_next_one() -> None:
    data = document().encode()
    aggregate._read_plain(data)  # every rest known
    broken = data.replace(b"</record>", b"", 1)
    assert split_records(broken, aggregate._plain_parts.rests) is None
    assert_same(broken)
