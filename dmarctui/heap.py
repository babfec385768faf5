"""Giving freed memory back to the system between the phases of a long command.

A cold scan of 100,000 messages frees most of what its writer held (the pending rows, the
ledger's working state) before it ranks the sources, but the C allocator keeps those pages for
the process: the ranking then grew on top of them, and the scan's peak was the sum of both.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_freed_memory() -> None:
    """Collect garbage, then ask glibc to return its free pages (nothing elsewhere)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to ask
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
