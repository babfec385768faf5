"""Take a current index file back to what an older dmarctui wrote, to test its upgrade."""

from __future__ import annotations

import sqlite3

SCHEMA_7_ADDED = """
ALTER TABLE records RENAME TO records_v7;
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    report_pk INTEGER NOT NULL REFERENCES reports(pk) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    count INTEGER NOT NULL,
    disposition TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    header_from TEXT NOT NULL,
    envelope_from TEXT,
    envelope_to TEXT,
    auth_dkim TEXT NOT NULL DEFAULT '[]',
    auth_spf TEXT NOT NULL DEFAULT '[]',
    ip_key TEXT,
    combo_id INTEGER REFERENCES combos(id)
);
INSERT INTO records SELECT x.id, x.report_pk, x.idx, c.source_ip, x.count, c.disposition,
    c.dkim, c.spf, c.reasons, c.header_from, x.envelope_from, x.envelope_to, c.auth_dkim,
    c.auth_spf, c.ip_key, x.combo_id
    FROM records_v7 x JOIN combos c ON c.id = x.combo_id ORDER BY x.id;
DROP TABLE records_v7;
CREATE INDEX records_ip_key ON records(ip_key);
CREATE INDEX records_combo ON records(combo_id, report_pk);
CREATE INDEX records_report ON records(report_pk, idx, combo_id, count);
CREATE TABLE combos_v6 (
    id INTEGER PRIMARY KEY,
    source_ip TEXT NOT NULL,
    header_from TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    reasons TEXT NOT NULL,
    auth_dkim TEXT NOT NULL,
    auth_spf TEXT NOT NULL,
    UNIQUE (source_ip, header_from, disposition, dkim, spf, reasons, auth_dkim, auth_spf)
);
INSERT INTO combos_v6 SELECT id, source_ip, header_from, disposition, dkim, spf, reasons,
    auth_dkim, auth_spf FROM combos ORDER BY id;
DROP TABLE combos;
ALTER TABLE combos_v6 RENAME TO combos;
"""
"""Schema 7 narrowed the records and found combinations by digest: this makes the records wide
again and the combinations unique by their columns, as schema 6 held them."""

SCHEMA_6_ADDED = (
    "DROP TRIGGER reports_insert_generation; DROP TRIGGER reports_delete_generation;"
    " DROP TRIGGER reports_update_generation; DROP TABLE data_generation;"
    " DROP TRIGGER reports_delete_change; DROP TRIGGER reports_update_change;"
    " DROP TABLE report_changes; DROP TABLE triage_results;"
)
"""What schema 6 added to a schema 5 index."""


def back_to_schema_6(conn: sqlite3.Connection) -> None:
    """Wide records again, and ``user_version`` 6."""
    conn.executescript("PRAGMA foreign_keys = OFF;" + SCHEMA_7_ADDED + "PRAGMA user_version = 6;")
