"""One spelling per source IP address, and what counts as one.

A source IP is written into letters, CSV and the screen, and every count, contact, network and
decision is keyed by it: anything that is not an address must never become a source (DESIGN.md
§3), and one address must be one source however a reporter spells it. Kept apart from the parser
so that the commands that only read the index (the notice history, decisions) use it without
importing the parser.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
"""A dotted quad as ``ipaddress`` accepts it (ASCII digits, no leading zero, each at most 255):
most sources, answered without building an address object (a fifth of a worker's time)."""


def is_address(text: str) -> bool:
    """True when ``text`` is an IPv4 or IPv6 address, written without a zone (``%eth0``).

    A source IP is written into letters, CSV and the screen; anything else in its place (a line
    break, an RFC 2047 word, a header) must never become a source (DESIGN.md §3).
    """
    return canonical_address(text) is not None


def canonical_address(text: str) -> str | None:
    """``text`` as one spelling per address, or None when it is no address (see
    :func:`is_address`).

    Reporters write one server's address in several ways (``2001:DB8::25``,
    ``2001:db8:0:0:0:0:0:25``, an IPv4 address mapped into IPv6 as ``::ffff:192.0.2.71``);
    each spelling would be a source of its own, with its messages split between them and the
    mapped one outside every IPv4 network of the config. IPv6 is compressed and lower-cased,
    and a mapped IPv4 address is the IPv4 address.
    """
    if len(text) > _LONGEST:  # never kept in the cache: a hostile report's source is any text
        return None
    return _canonical(text)


_LONGEST = len("0000:0000:0000:0000:0000:ffff:255.255.255.255")
"""The longest spelling of an address ``ipaddress`` accepts (no zone: those are refused)."""


@lru_cache(maxsize=8192)
def _canonical(text: str) -> str | None:
    """Cached: reports repeat a few thousand sources, and an IPv6 address costs an address
    object to spell (a tenth of a worker's time on a folder of mostly IPv6 sources)."""
    if _PLAIN_IPV4.fullmatch(text):
        return text
    if "%" in text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def canonical_network(network: IPNetwork) -> IPNetwork:
    """A network as :func:`canonical_address` spells its addresses: IPv4 addresses mapped into
    IPv6 (``::ffff:192.0.2.0/120``) are the IPv4 network (``192.0.2.0/24``)."""
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    return network
