"""Freed memory kept for the next large array instead of handed back to the kernel.

A triage run or an ingest allocates and frees arrays of tens to hundreds of megabytes by the
dozen. glibc's malloc maps every allocation above its threshold (32 MB at most, 128 kB at the
start of a process) fresh from the kernel and unmaps it when it is freed, so each new array is
page-faulted and zeroed again: as a fresh process, an incremental triage run over a million
reports spent about a seventh of its time in the kernel clearing pages. With both thresholds
raised, large arrays come from the heap and a freed one's memory serves the next. The price is
that a process keeps its peak memory until it ends. Elsewhere than glibc nothing changes.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30  # bytes: allocations up to this come from the heap, kept when freed


def reuse_freed_memory() -> bool:
    """Raise glibc's mapping and trimming thresholds for this process; False where the C library
    has no ``mallopt`` or refuses (nothing is changed then)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _THRESHOLD)
    )
