"""A demo session as a new user runs it: its own state, its own clock, a coherent story, no send."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dmarctui.demo import LAB1_IP, LAB2_IP, default_demo_dir
from dmarctui.history import NoticeHistory
from dmarctui.tui.app import make_app
from dmarctui.tui.screens.notice import NoticeScreen
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.widgets.confirm import ConfirmScreen

from .conftest import notices, screen_text, settle
from .sources_support import SOURCES_KEY, go_to

RESERVED = re.compile(
    r"(^|\.)(example\.(com|net|org)|[a-z0-9-]+\.(example|test|invalid|localhost))$"
)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


async def test_a_demo_session_keeps_its_state_in_its_folder_and_cannot_send() -> None:
    home = Path(os.environ["HOME"])
    data, config_dir = home / ".local" / "share" / "dmarctui", home / ".config" / "dmarctui"
    app = make_app(None, demo=True, poll_seconds=None, dns=False)
    assert app.config.demo
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press(SOURCES_KEY)
        sources = app.screen.query_one(SourcesPane)
        for _ in range(20):  # the first scan of the freshly built demo folder, then triage
            await settle(pilot)
            if sources.loaded and not app.scanning:
                break
        ips = [f.source_ip for f in sources.shown]
        # lab1 fixed its server after the seeded November notice: below every open problem
        assert LAB2_IP in ips[: ips.index(LAB1_IP)]
        assert set(ips[ips.index(LAB1_IP) :]) == {LAB1_IP}
        await go_to(pilot, sources, LAB2_IP, "internal_no_dkim")
        text = screen_text(app)
        assert "still failing after the grace period: follow-up due" in text

        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, NoticeScreen)
        assert "the demo never sends" in screen_text(app)
        await pilot.press("S")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "sending is off in the demo" in notices(app).lower()
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, NoticeScreen)
        await settle(pilot)
        # drafted on the demo's "today", and no report has come in since
        assert "Drafted 2024-12-20 to sato@lab2.cs.univ.example" in screen_text(app)
        assert "no reports since" in screen_text(app)
        assert "0.0/day since" not in screen_text(app)
        await go_to(pilot, sources, LAB1_IP, "internal_no_dkim")
        text = screen_text(app)
        assert "sent 11-15 ✓" in text
        assert "improved: no failing mail after the grace period" in text
        assert "improved since their notice" in text

    folder = default_demo_dir()
    with NoticeHistory.open(folder / "notices.sqlite3") as history:
        records = history.all()
    assert [(r.day, r.status, r.sources) for r in records] == [
        ("2024-11-15", "sent", (LAB1_IP,)),
        ("2024-11-15", "sent", (LAB2_IP,)),
        ("2024-12-20", "drafted", (LAB2_IP,)),
    ]
    assert len(list((folder / "Drafts" / "new").iterdir())) == 1
    assert (folder / "index.sqlite3").is_file()
    assert tree(data) == [] and tree(config_dir) == []  # nothing outside the demo's folder


def test_every_demo_address_uses_a_reserved_domain() -> None:
    from dmarctui.config import load_config
    from dmarctui.demo import ensure_demo

    folder = ensure_demo()
    text = folder.config_path.read_text(encoding="utf-8")
    assert "dmarctui --demo" in text and "`dmarctui demo`" not in text
    config, problems = load_config(folder.config_path)
    assert not problems
    addresses = [config.notice.from_addr or ""]
    addresses += [a.strip() for c in config.contacts for a in c.email.split(",")]
    domains = {a.rpartition("@")[2].rstrip(">").lower() for a in addresses}
    domains |= {*config.own_domains}
    assert domains and all(RESERVED.search(d) for d in domains), domains
    assert "ac.jp" not in text
