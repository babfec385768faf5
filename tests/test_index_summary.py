"""``scan``'s summary and JSON from index aggregates equal those of the full rebuilt result."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from dmarctui.cli.scan import print_summary, summary_of
from dmarctui.demo import build_demo
from dmarctui.export import scan_to_dict
from dmarctui.index import Index


def indexed(folder: Path, fmt: str | None = None) -> Index:
    index = Index.open(folder, fmt, in_memory=True)  # type: ignore[arg-type]
    for _ in index.update(workers=1):
        pass
    return index


def printed(summary: object) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_summary(summary)  # type: ignore[arg-type]
    return out.getvalue()


def assert_same(index: Index) -> None:
    reference = index.scan_result()
    assert index.scan_dict() == scan_to_dict(reference)
    assert printed(index.summary()) == printed(summary_of(reference))


def test_demo_summary_and_json(tmp_path: Path) -> None:
    with indexed(build_demo(tmp_path / "demo").maildir) as index:
        assert_same(index)
        assert index.summary().errors, "the demo holds broken messages"
        assert index.summary().duplicates


@pytest.mark.parametrize("fmt", ["maildir", "mbox", "mh"])
def test_public_corpus_summary_and_json(corpus: Path, fmt: str) -> None:
    folder = {"maildir": "Maildir", "mbox": "mbox", "mh": "MH"}[fmt]
    with indexed(corpus / "mail" / folder, fmt) as index:
        assert_same(index)
