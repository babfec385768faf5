"""The README shows every screenshot ``make screenshots`` draws, and each file exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_shows_every_screenshot_the_script_draws() -> None:
    spec = importlib.util.spec_from_file_location(
        "screenshots", ROOT / "scripts" / "screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    drawn = {name for name, _ in script.SHOTS}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("<!-- SHOTS -->") : readme.index("<!-- /SHOTS -->")]
    shown = set(re.findall(r"\(screenshots/([\w-]+)\.svg\)", block))
    assert shown == drawn
    assert all((ROOT / "screenshots" / f"{name}.svg").is_file() for name in drawn)
