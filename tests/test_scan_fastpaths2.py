"""Round two of the scan's fast paths: each gives exactly the careful path's answer."""

from __future__ import annotations

import json
import random
import sqlite3
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest

from dmarctui import aggregate, index_rows, index_update, payloads
from dmarctui.aggregate import parse_aggregate
from dmarctui.index import Index
from dmarctui.index_rows import record_rows
from dmarctui.lazy_headers import LazyHeaderMessage, _split_simple, parse_message_lazily
from dmarctui.model import DkimAuthResult, Identifiers, MessageRef, Normalisation
from dmarctui.payloads import Limits
from dmarctui.scan import drain

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


# --------------------------------------------------------------------------- MIME splitting

SIMPLE = (
    "From: a@example.org\nSubject: r\n  folded\nContent-Type: multipart/mixed;"
    ' boundary="b1"\n\n{preamble}--b1\nContent-Type: text/plain\n\nhello\n\n'
    "--b1\nContent-Type: application/gzip\nContent-Transfer-Encoding: base64\n\nH4sI\n"
    "--b1--\n{epilogue}"
)
NESTED = (
    'Content-Type: multipart/mixed; boundary="==x"\n\n--==x\n'
    'Content-Type: multipart/alternative; boundary="==x_alt"\n\n--==x_alt\n\ntext\n'
    "--==x_alt\nContent-Type: text/html\n\n<p>t</p>\n--==x_alt--\n{inner_epilogue}--==x\n"
    "Content-Type: application/zip\n\nPK\n--==x--"
)


def _state(message: Message) -> dict[str, object]:
    """Everything a parsed message holds, minus the lazy header cache."""
    state = {k: v for k, v in vars(message).items() if k not in ("_parsed", "_ctype")}
    payload = state.get("_payload")
    if isinstance(payload, list):
        state["_payload"] = [_state(part) for part in payload]
    state["defects"] = [repr(d) for d in message.defects]
    return state


def _stdlib(raw: bytes) -> Message:
    return BytesParser(LazyHeaderMessage, policy=policy.compat32).parsebytes(raw)


@pytest.mark.parametrize(
    "text",
    [
        SIMPLE.format(preamble="", epilogue=""),
        SIMPLE.format(preamble="This is MIME.\n\n", epilogue="trailer\n"),
        SIMPLE.format(preamble="\n", epilogue="\n\n"),
        SIMPLE.format(preamble="--b1x is not a boundary\n", epilogue=""),
        NESTED.format(inner_epilogue=""),
        NESTED.format(inner_epilogue="\n"),
        NESTED.format(inner_epilogue="after\n\n"),
        "Subject: single\nContent-Type: application/gzip\n\nH4sI\n",
        "Subject: no body\n\n",
        "\nheaderless body\n",
    ],
)
def test_well_formed_messages_are_split_as_the_feed_parser_splits_them(text: str) -> None:
    raw = text.encode()
    fast = _split_simple(raw.decode("ascii", "surrogateescape"))
    assert fast is not None
    assert _state(fast) == _state(_stdlib(raw))


@pytest.mark.parametrize(
    "text",
    [
        SIMPLE.replace("\n", "\r\n").format(preamble="", epilogue=""),  # CRLF
        SIMPLE.format(preamble="", epilogue="").replace("--b1--\n", ""),  # no close
        SIMPLE.format(preamble="", epilogue="").replace("--b1\nContent-Type: app", "--b1 \nC"),
        SIMPLE.format(preamble="", epilogue="").replace("--b1\n", "--b1\n--b1\n", 1),  # doubled
        SIMPLE.format(preamble="", epilogue="").replace("Subject: r", "From x@y Mon"),  # envelope
        SIMPLE.format(preamble="", epilogue="").replace("Content-Type: text/plain\n", "bad\n"),
        SIMPLE.format(preamble="", epilogue="").replace("multipart/mixed", "multipart/digest"),
        'Content-Type: multipart/mixed; boundary="q"\nContent-Transfer-Encoding: base64\n\n'
        "--q\n\nx\n--q--\n",
        "Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n",
        "Content-Type: multipart/mixed\n\n--q\n\nx\n--q--\n",  # no boundary parameter
        "Subject: only headers\n",
    ],
)
def test_anything_unusual_is_left_to_the_feed_parser(text: str) -> None:
    assert _split_simple(text) is None
    raw = text.encode()
    assert _state(parse_message_lazily(raw)) == _state(_stdlib(raw))


def test_corpus_messages_split_fast_equal_the_feed_parsers(corpus: Path) -> None:
    compared = 0
    for path in sorted((corpus / "mail").rglob("*")):
        if not path.is_file() or path.name == "MANIFEST.json":
            continue
        raw = path.read_bytes()
        fast = _split_simple(raw.decode("ascii", "surrogateescape"))
        if fast is not None:
            compared += 1
            assert _state(fast) == _state(_stdlib(raw)), path
    assert compared > 0


# --------------------------------------------------------------------------- keys and rows


def test_record_digest_lines_are_the_generic_encoders_json() -> None:
    """Content keys are stored in indexes: the memoised encoding must not change a byte."""
    extra = '<selector>s1</selector><human_result>signé "ok"</human_result>'
    odd = RECORD.replace("<result>{dkim}</result>", "<result>{dkim}</result>" + extra)
    third = odd.format(
        ip="192.0.2.9", header_from="example.org", disposition="none", spf="fail", dkim="fail"
    )
    data = _report(
        _record("192.0.2.1"),
        _record("2001:db8::1", dkim="pass"),
        third,
        _record("192.0.2.1"),
    )
    report = parse_aggregate(data)
    generic = sorted(aggregate._compact(aggregate._digest_fields(r)) for r in report.records)
    aggregate._last_digest = None
    assert list(aggregate._records_digest(report)) == generic
    assert '"signé \\"ok\\""' in "".join(generic)


def test_record_rows_encode_auth_results_as_json_lists() -> None:
    report = parse_aggregate(_report(_record("192.0.2.1"), _record("192.0.2.2", dkim="pass")))
    rows = record_rows(report)
    assert [json.loads(row[10]) for row in rows] == [
        [["example.org", "fail", None, None]],
        [["example.org", "pass", None, None]],
    ]
    assert [json.loads(row[11]) for row in rows] == [[["example.org", "pass", None, None]]] * 2
    assert [row[6] for row in rows] == ["[]", "[]"]


# --------------------------------------------------------------------------- first builds


def _build(folder: Path, db: Path) -> dict[str, list[tuple[object, ...]]]:
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
    conn = sqlite3.connect(db)
    try:
        tables = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("reports", "records", "failures", "tls", "problems", "issues")
        }
        tables["indexes"] = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).fetchall()
        tables["meta"] = conn.execute(
            "SELECT key FROM meta WHERE key = 'deferred_indexes'"
        ).fetchall()
        return tables
    finally:
        conn.close()


def test_a_bulk_first_build_equals_a_row_by_row_one(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = corpus / "mail" / "Maildir"
    monkeypatch.setattr(index_update, "BULK_FROM", 10**9)
    row_by_row = _build(folder, tmp_path / "rows.sqlite3")
    monkeypatch.setattr(index_update, "BULK_FROM", 1)
    bulk = _build(folder, tmp_path / "bulk.sqlite3")
    assert len(bulk["reports"]) == 49  # the reports of the corpus Maildir
    assert {"records_combo", "reports_content", "combos_ip_key"} <= {
        name for name, _ in bulk["indexes"]
    }
    assert bulk["meta"] == []
    assert bulk == row_by_row


def test_jobs_for_workers_are_bounded_by_bytes_as_well_as_messages(tmp_path: Path) -> None:
    """Large reports travel in small jobs; every message is in one job, in folder order."""
    sizes = [1000] * 40 + [60_000] * 5 + [500_000] + [1000] * 3
    to_read = [(seq, MessageRef(f"k{seq}", f"cur/k{seq}", size, 0.0))
               for seq, size in enumerate(sizes)]  # fmt: skip
    jobs = [job[2] for job in index_update._batches("maildir", tmp_path, to_read, Limits())]
    assert to_read == []
    assert [seq for job in jobs for seq, _ in job] == list(range(len(sizes)))
    assert [len(job) for job in jobs] == [32, 10, 2, 1, 1, 3]
    for job in jobs:
        total = sum(ref.size for _, ref in job)
        assert len(job) <= index_update.BATCH
        assert total <= index_update.BATCH_BYTES or len(job) == 1


def test_a_small_combination_cache_gives_the_same_index(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer forgets combinations past ``COMBO_CACHE`` (flat memory); every record still
    gets the id of its one combination."""
    folder = corpus / "mail" / "Maildir"
    whole = _build(folder, tmp_path / "whole.sqlite3")
    monkeypatch.setattr(index_update, "COMBO_CACHE", 3)
    small = _build(folder, tmp_path / "small.sqlite3")
    assert small == whole
    conns = [sqlite3.connect(tmp_path / name) for name in ("whole.sqlite3", "small.sqlite3")]
    try:
        combos = [c.execute("SELECT * FROM combos ORDER BY id").fetchall() for c in conns]
    finally:
        for conn in conns:
            conn.close()
    assert len(combos[0]) > 2 * 3  # the cache went round more than once
    assert combos[0] == combos[1]


def test_combinations_sharing_a_digest_stay_apart(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A combination is found again by a 64-bit digest and then its columns: with every digest
    the same (and a cache too small to answer), each record still gets its own combination, and
    the index answers as one whose digests differ."""
    folder = corpus / "mail" / "Maildir"
    whole = _build(folder, tmp_path / "whole.sqlite3")
    monkeypatch.setattr(index_update, "COMBO_CACHE", 1)
    monkeypatch.setattr(index_update, "combo_digest", lambda *columns: 7)
    clash = _build(folder, tmp_path / "clash.sqlite3")
    assert clash == whole
    columns = "id, source_ip, header_from, disposition, dkim, spf, reasons, auth_dkim, auth_spf"
    conns = [sqlite3.connect(tmp_path / name) for name in ("whole.sqlite3", "clash.sqlite3")]
    try:
        combos = [c.execute(f"SELECT {columns} FROM combos ORDER BY id").fetchall() for c in conns]
        digests = conns[1].execute("SELECT DISTINCT digest FROM combos").fetchall()
    finally:
        for conn in conns:
            conn.close()
    assert len(combos[0]) > 10 and len(set(c[1:] for c in combos[0])) == len(combos[0])
    assert combos[0] == combos[1]
    assert digests == [(7,)]


def test_a_bulk_first_build_of_an_index_in_memory_makes_its_indexes(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index without a file makes the deferred indexes on its own connection."""
    folder = corpus / "mail" / "Maildir"
    monkeypatch.setattr(index_update, "BULK_FROM", 1)
    with Index.open(folder, in_memory=True) as index:
        drain(index.update(workers=1))
        conn = index._conn
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert {"records_combo", "reports_content", "records_report"} <= names
        assert (
            conn.execute("SELECT count(*) FROM meta WHERE key = 'deferred_indexes'").fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 49


def test_indexes_dropped_by_a_killed_first_build_come_back_on_the_next_update(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, db = corpus / "mail" / "Maildir", tmp_path / "index.sqlite3"
    monkeypatch.setattr(index_update, "BULK_FROM", 1)
    restore = index_update.restore_deferred_indexes
    monkeypatch.setattr(index_update, "restore_deferred_indexes", lambda conn: None)  # killed
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
    conn = sqlite3.connect(db)
    names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "records_combo" not in names
    monkeypatch.setattr(index_update, "restore_deferred_indexes", restore)
    monkeypatch.setattr(index_update, "BULK_FROM", 10**9)
    after = _build(folder, db)
    assert {"records_combo", "reports_content"} <= {name for name, _ in after["indexes"]}
    assert after["meta"] == []


def test_a_changed_content_type_is_read_again() -> None:
    message = parse_message_lazily(b"Content-Type: text/plain\n\nbody\n")
    assert message.get_content_type() == "text/plain"
    message.replace_header("Content-Type", "application/gzip")
    assert message.get_content_type() == "application/gzip"
    del message["Content-Type"]
    message.set_default_type("message/rfc822")
    assert message.get_content_type() == "message/rfc822"
    message.add_header("Content-Type", "application/zip", name="r.zip")
    assert (message.get_content_type(), message.get_filename()) == ("application/zip", "r.zip")


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        (b"PGZlZWRiYWNrPg==\n", b"<feedback>"),
        (b"PGZl\r\nZWRi YWNr\tPg", b"<feedback>"),  # folded, blanks, padding dropped
        (b"PGZlZWRiYWNrPg==PGZlZWRiYWNrPg==", b"<feedback><feedback>"),  # two padded blocks
        (b"PGZlZWRiYWNrPg=*=\xff!", b"<feedback>"),  # stray bytes among the padding
        (b"PGZlZWRiYWNrX", b"<feedback"),  # a lone trailing character
    ],
)
def test_base64_is_decoded_forgivingly(encoded: bytes, decoded: bytes) -> None:
    assert payloads._decode_transfer(encoded, "base64") == decoded


def test_base64_that_decodes_to_nothing_is_unreadable() -> None:
    with pytest.raises(payloads._Unreadable, match="nothing could be decoded"):
        payloads._decode_transfer(b"====\n=", "base64")


def test_shuffled_mime_fragments_parse_as_the_feed_parser_parses_them() -> None:
    """Seeded fuzz: well-formed multiparts (nested too) with boundary look-alikes, blanks and
    folded headers, some of them then damaged by a stray line anywhere."""
    loose = ["\n", "text\n", "--ox\n", "--o--x\n", "--i\n", "H4sI\n", "\t\n", "--"]
    damage = ["--o \n", "--o\n", "--o--\n", ":bad\n", "From x\n", " folded\n", "\r\n"]
    rng = random.Random(7)

    def lines(n: int) -> str:
        return "".join(rng.choice(loose) for _ in range(rng.randrange(n)))

    def part(depth: int) -> str:
        headers = rng.choice(["", "Content-Type: text/plain\n", "X-A: 1\n folded\n"])
        if depth < 2 and rng.random() < 0.3:
            inner = "".join("--i\n" + part(depth + 1) for _ in range(rng.randrange(1, 3)))
            return (
                "Content-Type: multipart/alternative; boundary=i\n\n"
                + lines(2) + inner + "--i--\n" + lines(2)
            )  # fmt: skip
        return headers + "\n" + lines(4)

    fast = 0
    for _ in range(1000):
        body = lines(3) + "".join("--o\n" + part(0) for _ in range(rng.randrange(1, 4)))
        text = 'Content-Type: multipart/mixed; boundary="o"\n\n' + body + "--o--\n" + lines(2)
        if rng.random() < 0.3:
            cut = rng.randrange(len(text))
            cut = text.rfind("\n", 0, cut) + 1
            text = text[:cut] + rng.choice(damage) + text[cut:]
        raw = text.encode()
        fast += _split_simple(text) is not None
        assert _state(parse_message_lazily(raw)) == _state(_stdlib(raw)), text
    assert fast > 300


def test_content_keys_are_unchanged_by_how_they_are_computed() -> None:
    """Keys are stored in indexes: these two were made by the first implementation (one
    canonical JSON of the whole content), before the records' JSON was shared between them.
    Strings spelling the records key inside the metadata must not confuse the splice."""
    data = (
        '<feedback><report_metadata><org_name>"records":[] org</org_name>'
        '<email>a@x.example</email><report_id>r"records":[]</report_id><date_range>'
        "<begin>1</begin><end>2</end></date_range></report_metadata><policy_published>"
        '<domain>example.org</domain><p>none</p><fo>records":[]</fo></policy_published>'
        "<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>fail</dkim><spf>pass</spf></policy_evaluated>"
        "</row><identifiers><header_from>example.org</header_from></identifiers><auth_results>"
        "<dkim><domain>example.org</domain><result>fail</result>"
        '<human_result>signé "ok"</human_result></dkim></auth_results></record>'
        "<record><row><source_ip>2001:db8::1</source_ip><count>1</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        "</row><identifiers><header_from>example.org</header_from></identifiers></record>"
        "</feedback>"
    ).encode()
    report = parse_aggregate(data)
    assert aggregate.content_key(report) == (
        "c47749e5a906e363aa53a535d11ab1d742780f4238130011d2042c4c84b4d607"
    )
    assert aggregate.records_key(report) == (
        "c9d02c4ddf40c854bee86b905d21a1c11db4db89489ab349dbef40bd18a93681"
    )


def test_memoised_record_parts_follow_the_values_not_the_objects() -> None:
    """The digest and auth-column memos look objects up by identity first: equal values held
    in other objects, and other values in reused shapes, must still encode as themselves."""
    rng = random.Random(5)
    pool = [
        DkimAuthResult(domain, result)
        for domain in ("example.org", "example.net")
        for result in ("pass", "fail")
    ]
    for _ in range(300):
        dkim = tuple(
            rng.choice(pool) if rng.random() < 0.5 else DkimAuthResult(d.domain, d.result)
            for d in rng.sample(pool, rng.randint(0, 2))
        )
        ids = Identifiers(rng.choice(["example.org", "Example.ORG"]))
        report = parse_aggregate(_report(_record("192.0.2.1")))
        record = report.records[0]
        evaluated = record.policy_evaluated
        expected = aggregate._compact(
            aggregate._digest_fields(type(record)("", 0, evaluated, ids, dkim, record.spf))[2:]
        )[1:-1]
        assert aggregate._digest_parts(evaluated, ids, dkim, record.spf) == expected
        columns = index_rows._auth_columns(evaluated.reason, dkim, record.spf)
        assert json.loads(columns[1]) == [[d.domain, d.result, None, None] for d in dkim]
