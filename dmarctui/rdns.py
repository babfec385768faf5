"""Reverse DNS (PTR) for report sources, off the scan path, with a timeout and a cache.

``socket.gethostbyaddr`` blocks with no timeout of its own, so lookups run in a small pool of
daemon threads and the caller stops waiting after ``timeout`` seconds; a lookup still running then
simply fills the cache when it finishes, and never holds up the program's exit (a
``ThreadPoolExecutor`` would: its threads are joined at exit). Answers (including "no PTR") are
kept in memory and, when given, in a persistent :class:`PtrStore` (the index implements it) until
they expire. The store is only touched from the caller's thread (:meth:`ReverseDns.flush`, called
by :meth:`ReverseDns.lookup`).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Protocol

Resolve = Callable[[str], str | None]

DEFAULT_TTL = 7 * 86400
NEGATIVE_TTL = 86400
DEFAULT_TIMEOUT = 2.0


class PtrStore(Protocol):
    """Persistent PTR cache: ``get`` returns ``(ptr or None, fetched_at)`` or None if unknown."""

    def get(self, ip: str) -> tuple[str | None, float] | None: ...

    def put(self, ip: str, ptr: str | None, fetched_at: float) -> None: ...


def system_resolve(ip: str) -> str | None:
    """The system resolver's PTR name for ``ip``; None when there is none."""
    try:
        return socket.gethostbyaddr(ip)[0] or None
    except (OSError, UnicodeError):
        return None


class _DaemonPool:
    """A minimal executor whose threads are daemons, so a stuck resolver cannot delay exit."""

    def __init__(self, workers: int) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[str | None], Resolve, str] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"dmarctui-rdns-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Resolve, arg: str) -> Future[str | None]:
        future: Future[str | None] = Future()
        self._jobs.put((future, fn, arg))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, arg = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(arg))
            except BaseException as exc:
                future.set_exception(exc)

    def shutdown(self) -> None:
        """Cancel queued lookups and let the threads end after their current one."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in self._threads:
            self._jobs.put(None)


class ReverseDns:
    """PTR names for IPs, looked up in the background and cached with expiry.

    Args:
        resolve: the blocking lookup (tests pass a fake).
        timeout: how long :meth:`lookup` waits in total before returning what it has.
        ttl / negative_ttl: seconds a name / a "no PTR" answer stays fresh.
        store: optional persistent cache.
        enabled: False (``--no-dns``) answers only from the caches and never resolves.
        clock: the time source (epoch seconds).
    """

    def __init__(
        self,
        resolve: Resolve = system_resolve,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float = DEFAULT_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        store: PtrStore | None = None,
        enabled: bool = True,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolve = resolve
        self.timeout = timeout
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.store = store
        self.enabled = enabled
        self._workers = workers
        self._clock = clock
        self._memory: dict[str, tuple[str | None, float]] = {}
        self._pending: dict[str, Future[str | None]] = {}
        self._unsaved: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()
        self._pool: _DaemonPool | None = None

    def _fresh(self, entry: tuple[str | None, float] | None) -> bool:
        if entry is None:
            return False
        ptr, fetched_at = entry
        return self._clock() - fetched_at < (self.ttl if ptr else self.negative_ttl)

    def cached(self, ip: str) -> tuple[bool, str | None]:
        """``(known, ptr)`` from memory or the store, never resolving; stale entries still count
        as known when DNS is off, since an old name beats none."""
        entry = self._memory.get(ip)
        if entry is None and self.store is not None:
            entry = self.store.get(ip)
            if entry is not None:
                self._memory[ip] = entry
        if entry is None:
            return False, None
        if self._fresh(entry) or not self.enabled:
            return True, entry[0]
        return False, entry[0]

    def _resolve_and_remember(self, ip: str) -> str | None:
        """Runs in the pool: the cache is filled before the future reports done."""
        try:
            ptr = self._resolve(ip)
        except Exception:
            ptr = None
        now = self._clock()
        with self._lock:
            self._memory[ip] = (ptr, now)
            self._unsaved[ip] = (ptr, now)
            self._pending.pop(ip, None)
        return ptr

    def flush(self) -> None:
        """Write new answers to the store, on the caller's thread (SQLite wants its own)."""
        with self._lock:
            unsaved, self._unsaved = self._unsaved, {}
        if self.store is not None:
            for ip, (ptr, fetched_at) in unsaved.items():
                self.store.put(ip, ptr, fetched_at)

    def start(self, ips: Iterable[str]) -> dict[str, Future[str | None]]:
        """Begin resolving every IP not freshly cached; returns the futures still running."""
        if not self.enabled:
            return {}
        started: dict[str, Future[str | None]] = {}
        with self._lock:
            if self._pool is None:
                self._pool = _DaemonPool(self._workers)
            pool = self._pool
        for ip in dict.fromkeys(ips):
            if self.cached(ip)[0]:
                continue
            with self._lock:
                future = self._pending.get(ip)
                if future is None:
                    future = pool.submit(self._resolve_and_remember, ip)
                    self._pending[ip] = future
            started[ip] = future
        return started

    def lookup(self, ips: Iterable[str]) -> dict[str, str | None]:
        """PTR names for ``ips``, waiting at most ``timeout`` seconds in total.

        IPs whose lookup has not finished by then map to their stale cached name or None.
        """
        wanted = list(dict.fromkeys(ips))
        running = self.start(wanted)
        deadline = time.monotonic() + self.timeout
        remaining = set(running.values())
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            _, remaining = wait(remaining, timeout=left, return_when=FIRST_COMPLETED)
        answers: dict[str, str | None] = {}
        for ip in wanted:
            future = running.get(ip)
            if future is not None and future.done():
                answers[ip] = _result(future)
            else:
                answers[ip] = self.cached(ip)[1]
        self.flush()
        return answers

    def close(self) -> None:
        """Stop the pool without waiting for lookups stuck in the resolver."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


def _result(future: Future[str | None]) -> str | None:
    try:
        return future.result()
    except Exception:
        return None
