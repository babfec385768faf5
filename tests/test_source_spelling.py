"""One server is one source however a reporter spells its address.

Reporters write IPv6 upper-case or uncompressed, and some write an IPv4 sender as an IPv4-mapped
IPv6 address. Kept as written, each spelling was a source of its own: the server's messages
split over several findings, and the mapped spelling fell outside every IPv4 network of the
config (no contact, no "internal"). Found by the campus acceptance check.
"""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

from mailbuild import DAY, Rec, aggregate_xml, report_mail, write_maildir

from dmarctui.aggregate import canonical_address, parse_aggregate
from dmarctui.config import Config, parse_config
from dmarctui.index import Index
from dmarctui.index_update import CANONICAL_SOURCES_KEY
from dmarctui.scan import drain

OWN = "example.ac.jp"
LAB_V6 = "2001:db8:100:4::25"
LAB_V4 = "192.0.2.71"


def lab(ip: str, count: int) -> Rec:
    """A lab server: SPF passes for our domain, no DKIM signature."""
    return Rec(ip, count, dkim="fail", spf="pass", dkim_auth=())


def reports() -> list[bytes]:
    first = aggregate_xml(
        lab("2001:DB8:100:4:0:0:0:25", 7), lab("::ffff:192.0.2.71", 3), report_id="r1"
    )
    second = aggregate_xml(
        lab(LAB_V6, 5), lab(LAB_V4, 4), report_id="r2", begin=1_719_792_000 + DAY,
        org_name="Yahoo", email="dmarc@yahoo.com",
    )  # fmt: skip
    return [report_mail(first), report_mail(second)]


def config() -> Config:
    text = (
        f'[domains]\nown = ["{OWN}"]\n\n'
        '[networks]\ninternal = ["192.0.2.0/24", "2001:db8:100::/48"]\n'
    )
    cfg, problems = parse_config(tomllib.loads(text))
    assert problems == []
    return cfg


def test_each_address_has_one_spelling() -> None:
    assert canonical_address("2001:DB8:100:4:0:0:0:25") == LAB_V6
    assert canonical_address("::ffff:192.0.2.71") == LAB_V4
    assert canonical_address("::FFFF:c000:247") == LAB_V4
    assert canonical_address(LAB_V4) == LAB_V4 and canonical_address(LAB_V6) == LAB_V6
    assert canonical_address("192.0.2.071") is None and canonical_address("fe80::1%eth0") is None


def test_the_report_keeps_a_note_of_the_spelling_it_changed() -> None:
    xml = aggregate_xml(lab("2001:DB8:100:4:0:0:0:25", 7), lab(LAB_V4, 4))
    report = parse_aggregate(xml)
    assert [r.source_ip for r in report.records] == [LAB_V6, LAB_V4]
    notes = [(n.where, n.original, n.value) for n in report.normalised]
    assert ("record[0]/row/source_ip", "2001:DB8:100:4:0:0:0:25", LAB_V6) in notes
    assert not any(n.where.startswith("record[1]/row/source_ip") for n in report.normalised)


def test_a_server_written_two_ways_is_one_finding_with_every_message(tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    write_maildir(folder, reports())
    with Index.open(folder, db=tmp_path / "index.sqlite3") as index:
        drain(index.update())
        findings = index.triage(config()).findings()
    got = {(f.source_ip, f.kind): f.messages for f in findings}
    assert got == {(LAB_V6, "internal_no_dkim"): 12, (LAB_V4, "internal_no_dkim"): 7}
    assert {f.network for f in findings} == {"192.0.2.0/24", "2001:db8:100::/48"}


def test_an_index_that_kept_the_spellings_reads_those_messages_again(tmp_path: Path) -> None:
    """An index written before: its records say the address as the reporter wrote it. The next
    update drops those messages and reads them again, once."""
    folder = tmp_path / "Maildir"
    write_maildir(folder, reports())
    db = tmp_path / "index.sqlite3"
    with Index.open(folder, db=db) as index:
        drain(index.update())
    conn = sqlite3.connect(db)
    with conn:  # as an older dmarctui stored the first report
        conn.execute(
            "UPDATE records SET source_ip = '2001:DB8:100:4:0::25' WHERE source_ip = ?", (LAB_V6,)
        )
        conn.execute(
            "UPDATE combos SET source_ip = '2001:DB8:100:4:0::25' WHERE source_ip = ?", (LAB_V6,)
        )
        conn.execute("DELETE FROM meta WHERE key = ?", (CANONICAL_SOURCES_KEY,))
    conn.close()
    with Index.open(folder, db=db) as index:
        stats = drain(index.update())
        assert stats.bodies_read == 2  # both messages held the odd spelling
        findings = index.triage(config()).findings()
        again = drain(index.update())
        assert again.bodies_read == 0  # checked once
    got = {(f.source_ip, f.kind): f.messages for f in findings}
    assert got == {(LAB_V6, "internal_no_dkim"): 12, (LAB_V4, "internal_no_dkim"): 7}
