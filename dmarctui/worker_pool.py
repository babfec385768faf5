"""Worker processes that parse messages: startable from any thread of any program, and gone
with their parent.

Two things went wrong with a plain ``multiprocessing`` pool here:

* Inside the TUI, Textual replaces ``sys.stdout``/``sys.stderr`` with objects whose
  ``fileno()`` is -1. The first pool of a process starts multiprocessing's resource tracker,
  which hands ``sys.stderr.fileno()`` to the new process, and the start failed with
  ``ValueError: bad value(s) in fds_to_keep``, so a first open of a large folder failed.
* A worker waits on a queue whose write end its siblings hold too, so when the parent was
  killed the workers, and the resource tracker they keep alive, waited forever.

So pools are started here only: the resource tracker is started (or restarted) with a standard
error it can use whatever ``sys.stderr`` is at the time, a worker of a program whose streams are
captured writes to ``/dev/null`` rather than over the screen, and every worker watches the pipe
from its parent and exits as soon as the parent is gone, however it ended.
"""

from __future__ import annotations

import io
import multiprocessing
import multiprocessing.pool
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import resource_tracker
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext
from typing import Any

ORPHAN_EXIT = 70
"""Exit status of a worker that found its parent gone (EX_SOFTWARE)."""

_tracker_lock = threading.Lock()


def executor(workers: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A process pool for ``concurrent.futures`` callers; use it as a context manager."""
    start = partial(_start_worker, _streams_captured(), initializer)
    return ProcessPoolExecutor(workers, mp_context=_context(), initializer=start)


def pool(workers: int, initializer: Callable[[], None] | None = None) -> multiprocessing.pool.Pool:
    """A ``multiprocessing`` pool (for ``imap``); use it as a context manager."""
    start = partial(_start_worker, _streams_captured(), initializer)
    return _context().Pool(workers, initializer=start)


def _context() -> SpawnContext:
    """Spawn, not fork: the TUI scans from a thread, and forking a threaded process is unsafe."""
    _start_tracker()
    return multiprocessing.get_context("spawn")


def _start_tracker() -> None:
    """Make sure the resource tracker runs, starting it without the fd -1 a captured stream has.

    While it starts, ``sys.stderr`` is a stand-in that still writes where the captured stream
    does (so a message printed meanwhile by another thread is not lost) but has no descriptor
    to hand over; the tracker then keeps the process's own standard error.
    """
    with _tracker_lock:
        captured = sys.stderr
        if _fd(captured) is not None:
            resource_tracker.ensure_running()
            return
        stand_in = _WithoutFd(captured)
        sys.stderr = stand_in  # type: ignore[assignment]
        try:
            resource_tracker.ensure_running()
        finally:
            if sys.stderr is stand_in:  # unless the UI put its own back meanwhile
                sys.stderr = captured


class _WithoutFd:
    """A stream that writes where ``stream`` does but has no file descriptor."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no file descriptor while a UI holds the terminal")


def _fd(stream: Any) -> int | None:
    """The stream's file descriptor if it has a usable one."""
    try:
        fd = stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _streams_captured() -> bool:
    """Whether the program's output goes through objects without a descriptor (a running UI)."""
    return _fd(sys.stdout) is None or _fd(sys.stderr) is None


def _start_worker(quiet: bool, initializer: Callable[[], None] | None) -> None:
    """Runs first in every worker."""
    watch_parent()
    if quiet:
        # The parent draws a UI on the terminal this process inherited; a stray warning
        # printed here would land in the middle of it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    if initializer is not None:
        initializer()


def watch_parent() -> None:
    """Exit this process as soon as its parent is gone, even while it is busy parsing.

    A spawned process holds the read end of a pipe whose only write end is its parent's; the
    pipe reads end-of-file when the parent ends for any reason, SIGKILL included.
    """
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return  # not started by multiprocessing: nothing to watch
    threading.Thread(
        target=_exit_when_ready, args=(sentinel,), name="parent-watch", daemon=True
    ).start()


def _exit_when_ready(sentinel: int) -> None:
    wait([sentinel])
    os._exit(ORPHAN_EXIT)
