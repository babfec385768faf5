"""Counted nouns as a reader expects them: "1 domain", "2 domains", "1,500 messages".

One helper for the TUI and the CLI, so no screen or command says "1 reports" again.
"""

from __future__ import annotations

from dmarctui.model import FindingKind

KIND_LABELS: dict[FindingKind, str] = {
    "enforced": "mail lost",
    "internal_no_dkim": "internal, no DKIM",
    "dkim_broken": "DKIM broken",
    "unaligned_third_party": "third party",
    "outside_spoofing": "spoofing",
    "forwarded": "forwarded",
}
"""Finding kinds as the TUI and the CLI's text output name them; ``--json``/``--csv`` keep the
identifiers (``internal_no_dkim``), which scripts match on."""

IRREGULAR: dict[str, str] = {
    "policy": "policies",
    "was": "were",
    "is": "are",
    "needs": "need",
    "copy": "copies",
}


def plural(noun: str) -> str:
    """``report`` → ``reports``; the few irregular words dmarctui uses are listed."""
    if noun in IRREGULAR:
        return IRREGULAR[noun]
    last = noun.rsplit(" ", 1)[-1]
    if last in IRREGULAR:
        return noun[: -len(last)] + IRREGULAR[last]
    return f"{noun}s"


def count(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 failure report``, ``1,500 messages``; ``nouns`` when the plural is not ``noun + s``.

    The plural adds ``s`` to the last word (``TLS report`` → ``TLS reports``).
    """
    return f"{n:,} {noun if n == 1 else (nouns or plural(noun))}"
