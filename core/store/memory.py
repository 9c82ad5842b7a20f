"""The process's memory outside DuckDB: what Arrow's allocator and glibc's malloc keep.

DuckDB's own memory is bounded by its `memory_limit`; what surrounds it is not, and two allocator habits made it
grow past what the data in use needs (figures in benchmarks/RESULTS.md, Memory):

- Arrow's allocator (mimalloc) asks the kernel for transparent huge pages over its arena, so every 4 KiB it
  touches can make 2 MiB resident: a sync's group of partners held about twice its Arrow bytes that way.
  `bound_process_memory` (the store calls it when it opens) turns transparent huge pages off for this process;
  DuckDB's and Python's allocators do not ask for them, so only Arrow's arena is concerned.
- Both allocators keep what their callers freed, for reuse, per thread. `release_freed`, after a large unit of
  work (a sync's group write), asks both to give it back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading

import pyarrow as pa

log = logging.getLogger(__name__)

_PR_SET_THP_DISABLE = 41  # linux/prctl.h


def _libc() -> ctypes.CDLL | None:
    """The C library on Linux, or None elsewhere."""
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    if name is None:
        return None
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()
_bounded = threading.Event()


def bound_process_memory() -> None:
    """No transparent huge pages for this process (once; a no-op where the call does not exist)."""
    if _bounded.is_set():
        return
    _bounded.set()
    if _LIBC is None:
        return
    if _LIBC.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
        log.info("Could not turn transparent huge pages off (errno %d)", ctypes.get_errno())


def release_freed() -> None:
    """Give back to the operating system the memory Arrow's pool and glibc's malloc hold free (a few ms)."""
    pa.default_memory_pool().release_unused()
    trim = getattr(_LIBC, "malloc_trim", None)  # glibc's; absent from musl
    if trim is not None:
        trim(0)
