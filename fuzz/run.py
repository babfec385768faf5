"""Run one fuzz target under atheris (libFuzzer), seeded from the public corpus.

    python fuzz/run.py TARGET [--seconds N | --runs N] [--seed S] [--work DIR]

Inputs that crash are written to ``DIR/crashes/`` and the run exits non-zero; the last line
libFuzzer prints (``Done N runs in T second(s)``) gives the executions. The seeds come from
``../shared/corpus/public`` (``DMARCTUI_SHARED`` overrides) or, without it, ``tests/data``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DMARCTUI_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "corpus" / "public"
SEED_SOURCES = {
    "message": ("mail/Maildir/cur", "mail/Maildir/new", "raw/email", "raw/failure", "raw/smtp_tls"),
    "aggregate": ("raw/aggregate",),
    "failure": ("raw/failure",),
    "tls": ("raw/smtp_tls",),
    "headers": ("raw/email", "raw/failure", "mail/Maildir/cur"),
    "mime_split": ("raw/email", "raw/failure", "mail/Maildir/cur"),
}
MAX_LEN = 65536


def seeds(target: str) -> list[bytes]:
    """Seed inputs for ``target``: corpus files, archives unpacked for the document parsers."""
    found: list[bytes] = []
    folders = [CORPUS / sub for sub in SEED_SOURCES[target]] if CORPUS.is_dir() else []
    folders = [f for f in folders if f.is_dir()] or [REPO / "tests" / "data"]
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                found.extend(_documents(target, path.read_bytes()))
    return [seed[:MAX_LEN] for seed in found]


def _documents(target: str, data: bytes) -> list[bytes]:
    if target not in ("aggregate", "tls"):
        return [data]
    if data[:2] == b"\x1f\x8b":
        try:
            return [gzip.decompress(data)]
        except (OSError, EOFError):
            return []
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return [archive.read(name) for name in archive.namelist()]
        except (zipfile.BadZipFile, OSError, NotImplementedError):
            return []
    return [data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=-1, help="stop after this many executions")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer seed (0: random)")
    parser.add_argument("--work", type=Path, default=REPO / "fuzz" / "work")
    args = parser.parse_args()

    import atheris

    with atheris.instrument_imports(include=["dmarctui"]):
        sys.path.insert(0, str(REPO))
        from fuzz.targets import TARGETS

    target = TARGETS[args.target]
    found = args.work / args.target
    seed_dir = args.work / f"{args.target}-seeds"
    crashes = args.work / "crashes"
    for folder in (found, seed_dir, crashes):
        folder.mkdir(parents=True, exist_ok=True)
    for number, seed in enumerate(seeds(args.target)):
        (seed_dir / f"seed{number:03d}").write_bytes(seed)
    flags = [
        sys.argv[0],
        f"-max_total_time={args.seconds}",
        f"-runs={args.runs}",
        f"-seed={args.seed}",
        f"-max_len={MAX_LEN}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={crashes}/{args.target}-",
        str(found),
        str(seed_dir),
    ]
    atheris.Setup(flags, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
