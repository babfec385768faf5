"""Reverse DNS: fake resolvers only; never the network."""

from __future__ import annotations

import threading

from dmarctui.rdns import ReverseDns


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str | None, float, bool]] = {}

    def get(self, ip: str) -> tuple[str | None, float, bool] | None:
        return self.rows.get(ip)

    def put(self, ip: str, ptr: str | None, fetched_at: float, confirmed: bool = False) -> None:
        self.rows[ip] = (ptr, fetched_at, confirmed)


NAMES = {"192.0.2.70": "mail.lab1.example.ac.jp", "2001:db8:2::25": "mx.lab2.example.ac.jp"}


def test_lookup_resolves_caches_and_records_missing_ptr() -> None:
    calls: list[str] = []

    def resolve(ip: str) -> str | None:
        calls.append(ip)
        return NAMES.get(ip)

    store = MemoryStore()
    dns = ReverseDns(resolve, store=store, clock=Clock())
    ips = ["192.0.2.70", "2001:db8:2::25", "203.0.113.66", "192.0.2.70"]
    expected = {
        "192.0.2.70": "mail.lab1.example.ac.jp",
        "2001:db8:2::25": "mx.lab2.example.ac.jp",
        "203.0.113.66": None,
    }
    assert dns.lookup(ips) == expected
    assert dns.lookup(ips) == expected
    dns.close()
    assert sorted(calls) == sorted(expected)
    assert store.rows["203.0.113.66"] == (None, 1_000_000.0, False)


def test_expired_entries_are_looked_up_again_negative_sooner() -> None:
    clock = Clock()
    calls: list[str] = []

    def resolve(ip: str) -> str | None:
        calls.append(ip)
        return NAMES.get(ip)

    dns = ReverseDns(resolve, ttl=100, negative_ttl=10, clock=clock)
    dns.lookup(["192.0.2.70", "203.0.113.66"])
    clock.now += 50
    dns.lookup(["192.0.2.70", "203.0.113.66"])
    clock.now += 60
    dns.lookup(["192.0.2.70"])
    dns.close()
    assert calls.count("203.0.113.66") == 2
    assert calls.count("192.0.2.70") == 2


def test_slow_resolver_is_abandoned_after_timeout_and_fills_cache_later() -> None:
    release = threading.Event()

    def slow(ip: str) -> str | None:
        release.wait()
        return "late.example.net"

    dns = ReverseDns(slow, timeout=0.05)
    assert dns.lookup(["198.51.100.9"]) == {"198.51.100.9": None}
    release.set()
    for future in dns.start(["198.51.100.9"]).values():
        future.result()
    dns.close()
    assert dns.cached("198.51.100.9") == (True, "late.example.net")


def test_no_dns_answers_from_store_only() -> None:
    def forbidden(ip: str) -> str | None:
        raise AssertionError("resolver called with --no-dns")

    store = MemoryStore()
    store.put("192.0.2.70", "old.lab1.example.ac.jp", 0.0)
    dns = ReverseDns(forbidden, store=store, enabled=False, clock=Clock())
    assert dns.lookup(["192.0.2.70", "203.0.113.66"]) == {
        "192.0.2.70": "old.lab1.example.ac.jp",
        "203.0.113.66": None,
    }


def test_resolver_errors_count_as_no_ptr() -> None:
    def broken(ip: str) -> str | None:
        raise OSError("resolver exploded")

    dns = ReverseDns(broken)
    assert dns.lookup(["192.0.2.1"]) == {"192.0.2.1": None}
    dns.close()


def test_only_forward_confirmed_names_are_trusted_and_the_store_remembers_which() -> None:
    """A spoofer sets its own PTR to a name whose A records are not its address."""
    ptrs = {
        "198.51.100.7": "mx1.mailgun.net",  # the spoofer's claim
        "209.61.151.1": "mx1.mailgun.net.",  # the real one
        "2001:db8:2::25": "mx.lab2.example.ac.jp",
    }
    addresses = {
        "mx1.mailgun.net": ["209.61.151.1"],
        "mx.lab2.example.ac.jp": ["2001:db8:2:0::25", "192.0.2.25"],
    }
    store = MemoryStore()
    dns = ReverseDns(
        ptrs.get, forward=lambda name: addresses.get(name, []), store=store, clock=Clock()
    )
    assert dns.lookup(ptrs) == ptrs
    dns.close()
    assert dns.confirmed(ptrs) == {
        "209.61.151.1": "mx1.mailgun.net.",
        "2001:db8:2::25": "mx.lab2.example.ac.jp",
    }
    assert store.rows["198.51.100.7"] == ("mx1.mailgun.net", 1_000_000.0, False)
    assert store.rows["209.61.151.1"][2] is True
    # Read back from the store alone (DNS off), the confirmation still decides.
    again = ReverseDns(ptrs.get, store=store, enabled=False, clock=Clock())
    assert again.confirmed(ptrs) == dns.confirmed(ptrs)
    # A fake resolver without a forward lookup can confirm nothing.
    plain = ReverseDns(ptrs.get, clock=Clock())
    assert plain.lookup(["209.61.151.1"]) == {"209.61.151.1": "mx1.mailgun.net."}
    plain.close()
    assert plain.confirmed(["209.61.151.1"]) == {}
