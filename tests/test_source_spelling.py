"""One server is one source however a reporter spells its address.

Reporters write IPv6 upper-case or uncompressed, and some write an IPv4 sender as an IPv4-mapped
IPv6 address. Kept as written, each spelling was a source of its own: the server's messages
split over several findings, and the mapped spelling fell outside every IPv4 network of the
config (no contact, no "internal"). Found by the campus acceptance check.
"""

from __future__ import annotations

import sqlite3
import time
import tomllib
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailbuild import DAY, Rec, aggregate_xml, report_mail, write_maildir, write_mbox

from dmarctui import source_address
from dmarctui.aggregate import parse_aggregate
from dmarctui.config import Config, parse_config
from dmarctui.decisions import Decision, normalise_match
from dmarctui.history import NoticeHistory
from dmarctui.index import Index
from dmarctui.index_update import CANONICAL_SOURCES_KEY
from dmarctui.model import Finding
from dmarctui.scan import drain
from dmarctui.source_address import canonical_address

OWN = "example.ac.jp"
LAB_V6 = "2001:db8:100:4::25"
LAB_V4 = "192.0.2.71"
ODD = "2001:DB8:100:4:0::25"


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
    longest = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
    assert canonical_address(longest) == "255.255.255.255"


def test_a_source_of_any_length_is_answered_but_only_addresses_are_remembered() -> None:
    """Spellings are cached (reports repeat their sources), but a hostile report's source may
    be megabytes of text: what cannot be an address is refused before the cache."""
    before = source_address._canonical.cache_info().currsize
    assert canonical_address("1" * 1_000_000) is None
    assert canonical_address("1:" * 30) is None
    assert source_address._canonical.cache_info().currsize == before


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


@pytest.mark.parametrize("fmt", ["maildir", "mbox"])
def test_an_index_that_kept_the_spellings_reads_those_messages_again(
    tmp_path: Path, fmt: str
) -> None:
    """An index written before: its records say the address as the reporter wrote it. The next
    update drops those messages and reads them again, once, even from an mbox that did not
    change (its stored size and end would say there is nothing to read) and with the Maildir's
    directory stamps stored (they would say the same)."""
    other = aggregate_xml(lab("192.0.2.99", 2), report_id="r3", org_name="Mail.Ru",
                          email="dmarc@mail.ru")  # fmt: skip
    mails = [*reports(), report_mail(other)]
    if fmt == "mbox":
        folder = write_mbox(tmp_path / "dmarc.mbox", mails)
    else:
        folder = tmp_path / "Maildir"
        write_maildir(folder, mails)
    db = tmp_path / "index.sqlite3"
    with Index.open(folder, db=db) as index:
        drain(index.update())
    time.sleep(2.1)  # directory stamps are kept once they are 2 s old
    with Index.open(folder, db=db) as index:
        drain(index.update(trust_stamps=True))
    conn = sqlite3.connect(db)
    with conn:  # as an older dmarctui stored the lab's address
        conn.execute("UPDATE combos SET source_ip = ? WHERE source_ip = ?", (ODD, LAB_V6))
        conn.execute("DELETE FROM meta WHERE key = ?", (CANONICAL_SOURCES_KEY,))
    conn.close()
    with Index.open(folder, db=db) as index:
        stats = drain(index.update(trust_stamps=True))
        assert stats.bodies_read == 2  # the two messages with the odd spelling, not the third
        findings = index.triage(config()).findings()
        again = drain(index.update(trust_stamps=True))
        assert again.bodies_read == 0  # checked once
    got = {(f.source_ip, f.kind): f.messages for f in findings}
    assert got == {
        (LAB_V6, "internal_no_dkim"): 12,
        (LAB_V4, "internal_no_dkim"): 7,
        ("192.0.2.99", "internal_no_dkim"): 2,
    }


def test_what_was_recorded_under_another_spelling_still_applies(tmp_path: Path) -> None:
    """Notices and decisions recorded when sources kept the reporter's spelling: the notice
    history gives the sources as they are spelt now (else a notified server would read as
    improved and get no follow-up), and a decision on a mapped IPv4 address covers it."""
    path = tmp_path / "notices.sqlite3"
    msg = EmailMessage()
    msg["To"] = "admin@lab4.example.ac.jp"
    msg["Subject"] = "[DMARC] ..."
    msg["Date"] = "Fri, 01 Nov 2024 09:00:00 +0000"
    msg["Message-ID"] = "<lab4@example.ac.jp>"
    msg.set_content("text\n")
    odd = Finding(
        source_ip="2001:DB8:100:4::25", kind="internal_no_dkim", severity="high", messages=9,
        header_from=OWN, first_seen=0, last_seen=0, advice="",
    )  # fmt: skip
    with NoticeHistory.open(path) as notices:
        notices.add(msg, [odd], status="sent")
    with NoticeHistory.open(path) as notices:
        assert notices.all()[0].sources == (LAB_V6,)
        assert set(notices.latest_by_source()) == {LAB_V6}
    decided = Decision(1, "::ffff:192.0.2.71", "third-party", "", "me", 0)
    assert decided.covers(LAB_V4)
    assert normalise_match("::ffff:192.0.2.71") == LAB_V4
    assert normalise_match("::ffff:192.0.2.0/120") == "192.0.2.0/24"
    assert normalise_match("2001:DB8:100:4:0:0:0:25") == LAB_V6
