"""Give the memory a large transient structure used back to the operating system.

Loading a big configuration (10,000 people inline: a 1.2 MB YAML file composes into a ~66 MB node
tree plus a line map) leaves its freed memory resident: CPython returns arenas only when wholly
empty, and glibc keeps freed heap pages. A collection followed by ``malloc_trim(0)`` returns them
(measured: resident memory of a 10,000-person bridge 152 MB -> 145 MB; benchmarks/memory.py).
Elsewhere than glibc it is a collection only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)


def _malloc_trim() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)  # returns whether anything was released; either way it ran
    return True


def release_freed_memory() -> None:
    """Collect garbage, then ask the C allocator to return free pages (glibc only)."""
    gc.collect()
    if not _malloc_trim():
        log.debug("malloc_trim is not available here; collected only")


def freeze_long_lived() -> None:
    """Hide what is alive now (configuration, people, tables, the service) from the cyclic collector.

    Called once the service is built: a full collection otherwise walks every person's objects
    each time, a 65 ms pause with 5,000 people (130 ms with 10,000) landing on whatever event
    is in flight. What is frozen lives as long as the process anyway.
    """
    gc.collect()
    gc.freeze()
