"""Acceptance, from outside: a labelled campus folder in the seed's layout, through the real CLI.

The folder is built by :mod:`campus_folder` as the reporters send it (not by dmarctui's
generator) and its labels come from what each server is, not from dmarctui's triage. The
commands run as a user runs them: ``python -m dmarctui scan / flagged --json / readiness --json
/ notice`` in subprocesses, with the worker pool and an index on disk. Every lab server must be
found with its kind and exact message count, nothing benign flagged, a notice drafted for each
lab server naming it and its counts, and the folder left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from campus_folder import (
    CAMPUS_NETWORKS,
    DEPT,
    EE,
    LAB1,
    UNIV,
    CampusFolder,
    build_campus_folder,
)

REPO = Path(__file__).resolve().parent.parent

LAYOUTS = {
    # own = the university only: the department domain is shared because it publishes its own
    # policy and the department server signs it.
    "org-domain-only": ([UNIV], True, True),
    "department-listed": ([UNIV, DEPT], True, True),
    # Shared only because it publishes a policy: no signed department mail in the folder.
    "department-unlisted-publishing": ([UNIV], True, False),
    # Shared only because the department server signs it: no record of its own, so its mail is
    # reported under the university's p=none.
    "department-signing-only": ([UNIV], False, True),
}


def config_text(folder: CampusFolder, own: list[str]) -> str:
    contacts = "".join(
        f'[[contacts]]\nmatch = "{ip}"\nname = "{name}"\nemail = "{email}"\nlang = "{lang}"\n'
        for ip, server in folder.servers.items()
        if server.contact is not None
        for name, email, lang in [server.contact]
    )
    return (
        f"[domains]\nown = {json.dumps(own)}\ninclude_subdomains = true\n"
        f"[networks]\ninternal = {json.dumps(list(CAMPUS_NETWORKS))}\n"
        f'[notice]\nfrom = "postmaster@{DEPT}"\n' + contacts
    )


class Cli:
    """``python -m dmarctui`` in a subprocess, on one folder, index, config and history."""

    def __init__(self, folder: Path, tmp: Path, config: str) -> None:
        self.folder = folder
        self.tmp = tmp
        (tmp / "config.toml").write_text(config, encoding="utf-8")
        path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

    def __call__(self, command: str, *args: str, config: bool = True) -> str:
        """Run ``command`` on the folder (and index); ``config`` False: a command without one."""
        argv = [sys.executable, "-m", "dmarctui", command]
        if config:
            argv += [str(self.folder), "--db", str(self.tmp / "index.sqlite3")]
            argv += ["--config", str(self.tmp / "config.toml")]
        proc = subprocess.run(
            [*argv, *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr, proc.stderr
        return proc.stdout

    def json(self, command: str, *args: str, config: bool = True) -> Any:
        return json.loads(self(command, "--json", *args, config=config))


def folder_bytes(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def flagged(findings: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for f in findings:
        out.setdefault(f["source_ip"], {})[f["kind"]] = f["messages"]
    return out


def parse(path: Path) -> tuple[EmailMessage, str]:
    msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return msg, str(part.get_content())


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_lab_server_found_with_exact_counts_and_nothing_benign(
    layout: str, tmp_path: Path
) -> None:
    own, publishes, signs = LAYOUTS[layout]
    folder = build_campus_folder(tmp_path / "dmarc", dept_publishes=publishes, dept_signs=signs)
    before = folder_bytes(folder.path)
    cli = Cli(folder.path, tmp_path, config_text(folder, own))

    scan = json.loads(
        cli(
            "scan",
            str(folder.path),
            "--db",
            str(tmp_path / "index.sqlite3"),
            "--json",
            config=False,
        )
    )
    assert scan["messages"] == folder.messages
    assert scan["buckets"] == {
        "aggregate": folder.reports, "failure": 0, "tls": 0, "duplicate": 1,
        "not_report": 0, "error": 0,
    }  # fmt: skip

    findings = cli.json("flagged")
    assert all(f["problem"] for f in findings)
    assert flagged(findings) == folder.expected
    labs = {s.ip: s for s in folder.lab_servers()}
    assert len(labs) == 7
    for f in findings:
        if f["source_ip"] in labs:
            assert f["header_from"] == labs[f["source_ip"]].header_from
            assert f["contact_email"] == labs[f["source_ip"]].contact[1]  # type: ignore[index]

    # A period (--since/--until, UTC days, inclusive): days 14 to 27, 2024-10-21 to 2024-11-03.
    period = cli.json("flagged", "--since", "2024-10-21", "--until", "2024-11-03")
    assert flagged(period) == folder.expected_between(14, 27)
    assert "192.0.2.177" not in flagged(period)  # lab 6 sent on days 9 and 30 only
    assert (
        0
        < flagged(period)["192.0.2.71"]["internal_no_dkim"]
        < folder.expected["192.0.2.71"]["internal_no_dkim"]
    )

    everything = cli.json("flagged", "--all")
    benign = [f for f in everything if f["source_ip"] in folder.benign]
    assert all(not f["problem"] for f in benign), benign
    informational = {f["source_ip"] for f in benign}
    assert informational <= {"198.51.100.20", "198.51.100.60"}  # forwarded: our DKIM survives

    items = cli.json("readiness")
    totals = folder.readiness
    assert sum(i["passed"] for i in items) == totals["passed"]
    assert sum(i["failed_legit"] for i in items) == totals["failed_legit"]
    assert sum(i["failed_outside"] for i in items) == totals["failed_outside"]
    assert sum(i["enforced"] for i in items) == totals["enforced"]
    assert all(i["policy_consistent"] for i in items)
    if len(own) == 1:
        [ready] = items
        assert ready["domain"] == UNIV
        published = {p["domain"]: p["p"] for p in ready["policies"]}
        assert published == (
            {UNIV: "none", DEPT: "quarantine", EE: "none"}
            if publishes
            else {UNIV: "none", EE: "none"}
        )

    lab2 = folder.expected["192.0.2.71"]["internal_no_dkim"]
    out = tmp_path / "lab2.eml"
    history = str(tmp_path / "notices.sqlite3")
    cli("notice", "--source", "192.0.2.71", "--out", str(out), "--history", history)
    text = re.sub(r"\s+", " ", parse(out)[1])
    assert f"- 192.0.2.71: {lab2} messages — no DKIM signature" in text
    assert f"({lab2} messages in total)" in text and f"Total: {lab2} messages" in text
    policy_domain, p = (DEPT, "quarantine") if publishes else (UNIV, "none")
    assert f"The reports show the DMARC policy of {policy_domain} as p={p}" in text

    assert folder_bytes(folder.path) == before


def test_notices_drafted_for_every_lab_server(tmp_path: Path) -> None:
    folder = build_campus_folder(tmp_path / "dmarc")
    before = folder_bytes(folder.path)
    cli = Cli(folder.path, tmp_path, config_text(folder, [UNIV]))
    history = str(tmp_path / "notices.sqlite3")
    for server in folder.lab_servers():
        assert server.contact is not None
        name, email, lang = server.contact
        n = folder.expected[server.ip]["internal_no_dkim"]
        out = tmp_path / f"{server.ip.replace(':', '_')}.eml"
        cli("notice", "--source", server.ip, "--out", str(out), "--history", history)
        msg, body = parse(out)
        text = re.sub(r"\s+", "" if lang == "ja" else " ", body)
        assert msg["To"].addresses[0].addr_spec == email
        assert msg["To"].addresses[0].display_name == name
        assert server.ip in str(msg["Subject"])
        assert msg["Content-Language"] == lang
        if lang == "ja":
            assert f"・{server.ip}:{n}通—DKIM署名なし（DMARCはSPFだけで通過）" in text
            assert f"（合計{n}通）" in text and f"合計:{n}通、" in text
            assert f"ヘッダFromが{server.header_from}のメール" in text
        else:
            assert f"- {server.ip}: {n} messages — no DKIM signature (passes DMARC through" in text
            assert f"({n} messages in total)" in text and f"Total: {n} messages" in text
            assert f"mail with {server.header_from} in the header From" in text
        domain_policy = "quarantine" if server.header_from == DEPT else "none"
        assert f"p={domain_policy}" in text
        assert ("p=quarantine" in text) == (domain_policy == "quarantine")
    drafted = cli.json("notices", "--history", history, config=False)
    assert sorted(
        (d["sources"], d["kinds"], d["messages"], d["status"]) for d in drafted
    ) == sorted(
        ([s.ip], ["internal_no_dkim"], [folder.expected[s.ip]["internal_no_dkim"]], "drafted")
        for s in folder.lab_servers()
    )
    assert folder_bytes(folder.path) == before


def test_what_a_user_reads_in_the_text_output(tmp_path: Path) -> None:
    """The text of ``scan`` and ``flagged``: the lab server with its count, the period as the
    reports cover it (Microsoft's and Mail.Ru's days end at the next midnight, which is not a day
    of mail), and the servers doing it right nowhere."""
    folder = build_campus_folder(tmp_path / "dmarc")
    cli = Cli(folder.path, tmp_path, config_text(folder, [UNIV]))
    db = str(tmp_path / "index.sqlite3")
    scan = cli("scan", str(folder.path), "--db", db, config=False)
    assert f"{folder.reports} distinct aggregate reports, 2024-10-07 to 2024-11-17," in scan
    text = cli("flagged", "--all")
    n = folder.expected["192.0.2.71"]["internal_no_dkim"]
    assert "internal, no DKIM  192.0.2.71\n" in text
    assert f"     {n} messages as {DEPT}, 2024-10-07 to 2024-11-17, reported by" in text
    assert "2024-11-18" not in text
    right = ("192.0.2.10", "192.0.2.25", "2001:db8:100::25", "192.0.2.90", "2001:db8:100:1::25")
    assert all(
        server.header_from in (UNIV, DEPT, LAB1) for server in map(folder.servers.get, right)
    )  # type: ignore[union-attr]
    assert not [ip for ip in right if f" {ip}\n" in text or f" {ip} (" in text]
