"""Giving freed memory back to the system between the phases of a long command.

A cold scan of 100,000 messages frees most of what its writer held (the pending rows, the
ledger's working state) before it ranks the sources, but the C allocator keeps those pages for
the process: the ranking then grew on top of them, and the scan's peak was the sum of both.
"""

from __future__ import annotations

import ctypes
import gc


def release_freed_memory() -> None:
    """Collect garbage, then ask glibc to return its free pages (nothing elsewhere).

    The C library is reached through the process's own symbols (``CDLL(None)``):
    ``ctypes.util.find_library`` runs ``ldconfig`` in a subprocess.
    """
    gc.collect()
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
