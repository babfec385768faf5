"""Worker pools start wherever a scan runs, and never outlive the program that started them.

Each test runs a fresh Python process: what is checked (the first start of multiprocessing's
helpers, the fate of workers when their parent dies) depends on process-wide state that an
earlier test in this process would already have set up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

import dmarctui
from dmarctui.synthetic import build_synthetic

ROOT = Path(dmarctui.__file__).resolve().parents[1]
PROC = Path("/proc")
needs_proc = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs Linux /proc")


def run_python(code: str, cwd: Path, **options: object) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, *code.split("\0")],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synthetic(tmp_path_factory.mktemp("big"), 2_000)


def test_a_pool_starts_from_a_thread_while_the_streams_have_no_descriptor(
    big_folder: Path, tmp_path: Path
) -> None:
    """As inside the TUI: Textual's stand-ins for stdout/stderr answer ``fileno()`` with -1."""
    script = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        from dmarctui.index import Index
        from dmarctui.scan import drain

        class Captured:
            def __init__(self, stream): self.stream = stream
            def write(self, text): return self.stream.write(text)
            def flush(self): self.stream.flush()
            def isatty(self): return True
            def fileno(self): return -1

        real = sys.stdout
        sys.stdout, sys.stderr = Captured(sys.stdout), Captured(sys.stderr)
        result = []
        def scan():
            with Index.open(Path({str(big_folder)!r}), db=Path("index.sqlite")) as index:
                result.append(drain(index.update(workers=2)))
        thread = threading.Thread(target=scan)
        thread.start()
        thread.join()
        real.write(f"read {{result[0].bodies_read}}\\n")
        """
    )
    process = run_python(f"-c\0{script}", tmp_path)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out == "read 2000\n"
    assert err == ""


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid``."""
    found = set()
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def start_scan_with_workers(folder: Path, cwd: Path) -> tuple[subprocess.Popen[str], set[int]]:
    """A headless scan whose two workers and resource tracker are running."""
    scan = run_python(f"-m\0dmarctui\0scan\0{folder}\0--db\0index.sqlite\0--workers\0002", cwd)
    started = wait_for(lambda: len(children(scan.pid)) >= 3, 60)
    if not started:
        scan.kill()
        pytest.fail(f"the scan never ran 2 workers: {scan.communicate()}")
    helpers = children(scan.pid)
    assert scan.poll() is None, "the scan ended before it could be stopped"
    return scan, helpers


def assert_gone_soon(helpers: set[int]) -> None:
    """Every worker and the resource tracker exit within a few seconds."""
    assert wait_for(lambda: not any(alive(pid) for pid in helpers), 5), [
        (PROC / str(pid) / "cmdline").read_bytes() for pid in helpers if alive(pid)
    ]


@contextmanager
def killing_leftovers(helpers: set[int]) -> Iterator[None]:
    """A failing test must not leave its orphans running on the machine."""
    try:
        yield
    finally:
        for pid in helpers:
            if alive(pid):
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@needs_proc
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_shuts_the_pool_down_with_one_line(
    name: str, big_folder: Path, tmp_path: Path
) -> None:
    signum = getattr(signal, name)
    scan, helpers = start_scan_with_workers(big_folder, tmp_path)
    with killing_leftovers(helpers):
        scan.send_signal(signum)
        _out, err = scan.communicate(timeout=30)
        assert scan.returncode == 128 + signum
        assert err == f"dmarctui: stopped by {name}\n"
        assert_gone_soon(helpers)


@needs_proc
def test_workers_exit_by_themselves_when_their_parent_is_killed(
    big_folder: Path, tmp_path: Path
) -> None:
    scan, helpers = start_scan_with_workers(big_folder, tmp_path)
    with killing_leftovers(helpers):
        scan.kill()
        scan.communicate(timeout=30)
        assert_gone_soon(helpers)
