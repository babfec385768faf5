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

import ipaddress
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Protocol

Resolve = Callable[[str], str | None]
Forward = Callable[[str], Iterable[str]]
"""The addresses a host name resolves to (A and AAAA)."""
Entry = tuple[str | None, float, bool]
"""(PTR name or None, fetched at, forward-confirmed)."""

DEFAULT_TTL = 7 * 86400
NEGATIVE_TTL = 86400
DEFAULT_TIMEOUT = 2.0


class PtrStore(Protocol):
    """Persistent PTR cache: ``get`` returns ``(ptr or None, fetched_at)`` or
    ``(ptr or None, fetched_at, confirmed)``, or None if unknown; a name stored without its
    confirmation is not trusted for matching."""

    def get(self, ip: str) -> tuple[str | None, float] | tuple[str | None, float, bool] | None: ...

    def put(self, ip: str, ptr: str | None, fetched_at: float, confirmed: bool = False) -> None: ...


def system_forward(name: str) -> list[str]:
    """The system resolver's addresses for ``name``; empty when it has none."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def forward_confirmed(ip: str, name: str | None, forward: Forward) -> bool:
    """Whether ``name`` resolves back to ``ip``: only then did the address's owner choose it
    *and* the name's owner agree (a spoofer can set its own PTR to ``mx1.mailgun.net``)."""
    if not name:
        return False
    try:
        wanted = ipaddress.ip_address(ip)
        return any(_same(wanted, a) for a in forward(name.rstrip(".")))
    except Exception:
        return False


def _same(wanted: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]) == wanted
    except ValueError:
        return False


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
        forward: the blocking name-to-addresses lookup that confirms a PTR name; by default the
            system's when ``resolve`` is the system's, else none (names stay unconfirmed).
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
        forward: Forward | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ttl: float = DEFAULT_TTL,
        negative_ttl: float = NEGATIVE_TTL,
        store: PtrStore | None = None,
        enabled: bool = True,
        workers: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._resolve = resolve
        self._forward: Forward | None = (
            forward
            if forward is not None
            else system_forward
            if resolve is system_resolve
            else None
        )
        self.timeout = timeout
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.store = store
        self.enabled = enabled
        self._workers = workers
        self._clock = clock
        self._memory: dict[str, Entry] = {}
        self._pending: dict[str, Future[str | None]] = {}
        self._unsaved: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._pool: _DaemonPool | None = None

    def _fresh(self, entry: Entry | None) -> bool:
        if entry is None:
            return False
        ptr, fetched_at, _ = entry
        return self._clock() - fetched_at < (self.ttl if ptr else self.negative_ttl)

    def cached(self, ip: str) -> tuple[bool, str | None]:
        """``(known, ptr)`` from memory or the store, never resolving; stale entries still count
        as known when DNS is off, since an old name beats none."""
        entry = self._entry(ip)
        if entry is None:
            return False, None
        if self._fresh(entry) or not self.enabled:
            return True, entry[0]
        return False, entry[0]

    def _entry(self, ip: str) -> Entry | None:
        entry = self._memory.get(ip)
        if entry is None and self.store is not None:
            stored = self.store.get(ip)
            if stored is not None:
                confirmed = bool(stored[2]) if len(stored) > 2 else False  # type: ignore[misc]
                entry = self._memory[ip] = (stored[0], stored[1], confirmed)
        return entry

    def confirmed(self, ips: Iterable[str]) -> dict[str, str]:
        """The forward-confirmed names among those known for ``ips`` (what config patterns may
        match); never resolves."""
        names = {}
        for ip in ips:
            entry = self._entry(ip)
            if entry is not None and entry[0] and entry[2]:
                names[ip] = entry[0]
        return names

    def _resolve_and_remember(self, ip: str) -> str | None:
        """Runs in the pool: the cache is filled before the future reports done."""
        try:
            ptr = self._resolve(ip)
        except Exception:
            ptr = None
        confirmed = self._forward is not None and forward_confirmed(ip, ptr, self._forward)
        now = self._clock()
        with self._lock:
            self._memory[ip] = (ptr, now, confirmed)
            self._unsaved[ip] = (ptr, now, confirmed)
            self._pending.pop(ip, None)
        return ptr

    def flush(self) -> None:
        """Write new answers to the store, on the caller's thread (SQLite wants its own)."""
        with self._lock:
            unsaved, self._unsaved = self._unsaved, {}
        if self.store is not None:
            for ip, (ptr, fetched_at, confirmed) in unsaved.items():
                self.store.put(ip, ptr, fetched_at, confirmed)

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
