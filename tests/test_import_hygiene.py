"""The core is UI-free: importing any core module must not load Textual or Rich."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import dmarctui

CORE = sorted(
    m.name
    for m in pkgutil.walk_packages(dmarctui.__path__, "dmarctui.")
    if not m.name.startswith("dmarctui.tui") and m.name != "dmarctui.__main__"
)


def test_core_modules_found() -> None:
    assert {"dmarctui.model", "dmarctui.scan", "dmarctui.aggregate"} <= set(CORE)


def test_core_does_not_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
