"""Report text is never markup and never a terminal escape on screen (issue 11, items 1, 2, 4).

A folder of hostile messages: an org name that is a Rich click action, ``[/]`` in every field
that used to end the app with ``MarkupError``, OSC 52 (clipboard write) and screen-clearing
escapes in a failure report's Subject/From, a TLS report's strings and a raw message header.
Everything must show literally, with each control character visibly escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import DataTable

from dmarctui.tui.app import DmarcApp, make_app
from dmarctui.tui.screens.fields import FieldsScreen
from dmarctui.tui.screens.report_detail import ReportScreen
from tests.mailbuild import (
    Rec,
    aggregate_xml,
    mail,
    mime_part,
    multipart,
    plain_mail,
    report_mail,
    tls_json,
    write_maildir,
)

from .conftest import FIXED_NOW, notices, screen_text, settle

CLICK = "[@click=app.quit]CLICK-ME[/]"
OSC52 = "\x1b]52;c;cHduZWQ=\x07"
OSC52_SHOWN = "\\x1b]52;c;cHduZWQ=\\x07"


def _failure_report() -> bytes:
    text = mime_part(b"A DMARC failure report.", "text/plain", cte="7bit", disposition=None)
    arf = (
        "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n"
        "Auth-Failure: dmarc\r\nSource-IP: 192.0.2.1\r\nReported-Domain: example.ac.jp\r\n"
    )
    sample = (
        "Content-Type: message/rfc822\r\n\r\n"
        "From: =?utf-8?q?=1B=5B2J=5B/=5D?= <x@example.ac.jp>\r\n"
        "Subject: =?utf-8?q?=1B]52;c;cHduZWQ=3D=07pwned?=\r\n\r\nbody\r\n"
    )
    body = multipart(text, arf, sample, subtype="report; report-type=feedback-report")
    return mail(body, subject="DMARC failure report [/]")


def _tls_report() -> bytes:
    report = json.loads(tls_json(organization="[/]\u202eTLS org", failed=1))
    report["policies"][0]["failure-details"] = [
        {
            "result-type": "certificate-expired",
            "failed-session-count": 1,
            "sending-mta-ip": "[/]",
            "additional-information": f"\x1b[31mRED {OSC52}",
        }
    ]
    doc = json.dumps(report).encode()
    return mail(
        multipart(mime_part(doc, "application/tlsrpt+json", filename="tls.json")),
        subject="Report Domain: example.ac.jp TLS report",
    )


def hostile_folder(tmp_path: Path) -> Path:
    aggregate = aggregate_xml(
        Rec(source_ip="203.0.113.9", dkim="fail", spf="fail"),
        org_name=CLICK,
        report_id="[/]",
        email="[b]x[/b]@evil.example",
    )
    messages = [
        report_mail(aggregate, extra_headers=[f"X-Evil: {OSC52} [/] end"]),
        _failure_report(),
        _tls_report(),
        plain_mail(subject="[/] not a report \x1b[2J"),
    ]
    write_maildir(tmp_path / "Maildir", messages)
    return tmp_path / "Maildir"


def _app(tmp_path: Path) -> DmarcApp:
    return make_app(
        hostile_folder(tmp_path),
        db=tmp_path / "index.sqlite",
        clock=lambda: FIXED_NOW,
        poll_seconds=None,
        dns=False,
    )


def _shown(app: DmarcApp) -> str:
    text = screen_text(app)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    return text


def _has_row(text: str, label: str, value: str) -> bool:
    """A line showing ``label``, blanks, then ``value`` (column widths are the layout's)."""
    return any(
        label in line and line.split(label, 1)[1].lstrip().startswith(value)
        for line in text.splitlines()
    )


def _where(text: str, needle: str) -> tuple[int, int]:
    for y, line in enumerate(text.splitlines()):
        if needle in line:
            return line.index(needle), y
    raise AssertionError(f"{needle!r} is not on the screen:\n{text}")


async def test_markup_in_report_fields_is_shown_literally_and_clicking_it_does_nothing(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        text = _shown(app)
        assert "[@click=app.quit]CLICK-ME[/]" in text
        x, y = _where(text, "CLICK-ME")
        await pilot.click(offset=(x, y))
        await settle(pilot)
        assert app.is_running and app.return_code is None
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ReportScreen)
        text = _shown(app)
        assert _has_row(text, "Reporter", "[@click=app.quit]CLICK-ME[/]")
        assert _has_row(text, "Report ID", "[/]")
        assert _has_row(text, "Email", "[b]x[/b]@evil.example")
        x, y = _where(text, "CLICK-ME")
        await pilot.click(offset=(x, y))
        await settle(pilot)
        assert app.is_running and app.return_code is None
        await pilot.press("2")
        await pilot.pause()
        assert app.screen.query_one("#records-table", DataTable).row_count == 1
        await pilot.press("4")
        await settle(pilot)
        assert f"X-Evil: {OSC52_SHOWN} [/] end" in _shown(app)


async def test_escapes_in_a_failure_report_are_shown_escaped(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        text = _shown(app)
        assert "\\x1b]52;c;cHduZWQ=\\x07pwned" in text
        assert "\\x1b[2J[/]" in text
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FieldsScreen)
        text = _shown(app)
        assert _has_row(text, "Subject", "\\x1b]52;c;cHduZWQ=\\x07pwned")


async def test_tls_strings_are_shown_escaped(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await settle(pilot)
        assert "[/]\\u202eTLS org" in _shown(app)
        await pilot.press("enter")
        await settle(pilot)
        text = _shown(app)
        assert _has_row(text, "Sending MTA", "[/]")
        assert _has_row(text, "Info", f"\\x1b[31mRED {OSC52_SHOWN}")


async def test_problems_and_notifications_show_subjects_literally(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        table = app.screen.query_one("#problems-table", DataTable)
        row = next(
            i for i in range(table.row_count) if str(table.get_row_at(i)[0]) == "not a report"
        )
        table.move_cursor(row=row)
        await pilot.press("enter")
        await settle(pilot)
        assert _has_row(_shown(app), "Subject", "[/] not a report \\x1b[2J")
        app.notify("[/] from a mail \x1b[2J", title="[b]")
        await pilot.pause()
        assert "[/] from a mail \\x1b[2J" in notices(app)


async def test_the_sources_detail_shows_the_reporter_literally(tmp_path: Path) -> None:
    app = _app(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await settle(pilot)
        text = _shown(app)
        assert "reported by [@click=app.quit]CLICK-ME[/]" in text
        x, y = _where(text, "CLICK-ME")
        await pilot.click(offset=(x, y))
        await settle(pilot)
        assert app.is_running and app.return_code is None


def test_published_policies_of_a_subdomain_are_shown_escaped() -> None:
    """The readiness pane names a subdomain's policy domain and its published policy, both
    from the reports: control characters escaped, markup literal."""
    from rich.console import Console

    from dmarctui.readiness import PolicyVariant, Readiness
    from dmarctui.tui.screens.readiness import policies_table, policy_line

    hostile = "lab\x1b[31m.[b]x[/b].example"
    variants = tuple(
        PolicyVariant(hostile, p, None, "r", "r", 100, ("google.com",), 1)
        for p in ("none", "reject\x1b]0;owned\x07")
    )
    item = Readiness("example.ac.jp", (), (), 0, variants)
    console = Console(width=120, record=True, force_terminal=False)
    console.print(policy_line(item))
    console.print(policies_table(item))
    text = console.export_text()
    assert "\x1b" not in text and "\x07" not in text
    assert "lab\\x1b[31m.[b]x[/b].example" in text
    assert "reject\\x1b]0;owned\\x07" in text
