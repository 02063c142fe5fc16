"""Keep the agent's resident memory to what it uses while running, not what starting it touched (Linux).

Starting the agent reads far more of its libraries than it ever runs again (the interpreter, OpenSSL,
protobuf's and the capture's extension modules); the memory allocator keeps the pages that import-time
temporaries freed. A screenshot does the same on a smaller scale (Pillow and its codecs, the screen's strips
and the image, freed once it is encoded). Once the agent is up (capture running, the stream to the console
open), and before (once Pillow is imported) and after each screenshot, `release_unused_memory` tells the
kernel so:

- clean, read-only pages of shared libraries and other mapped files (code and constants) are dropped from the
  process with ``madvise(MADV_DONTNEED)``; they stay in the page cache, and any the agent runs again come back
  on first use. Only private mappings that are not writable and hold no page of their own (``Anonymous: 0``
  in /proc/self/smaps) are dropped, so nothing the process wrote can be lost.
- ``malloc_trim(0)`` returns the allocator's free pages.

`limit_malloc_arenas` stops glibc giving each thread that allocates an arena of its own (eight per core at
most by default): the agent's threads (capture, keyboard, web history, asyncio.to_thread's workers) allocate
little.
"""

from __future__ import annotations

import ctypes
import logging
import re
import sys

log = logging.getLogger(__name__)

MADV_DONTNEED = 4
M_ARENA_MAX = -8
MALLOC_ARENAS = 2
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ (\d+)\s*(\S*)")


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return libc


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas; call before starting threads. Returns whether it was applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas))


def clean_file_mappings(smaps: str) -> list[tuple[int, int]]:
    """(start, end) of every private, non-writable file mapping without a page of its own, from smaps text."""
    found: list[tuple[int, int]] = []
    current: tuple[int, int] | None = None
    for line in smaps.splitlines():
        mapping = _MAPPING.match(line)
        if mapping is not None:
            start, end, perms, inode, path = mapping.groups()
            private_read_only = perms[0] == "r" and perms[1] == "-" and perms[3] == "p"
            current = (int(start, 16), int(end, 16)) if private_read_only and int(inode) and path.startswith("/") else None
        elif current is not None and line.startswith("Anonymous:"):
            if int(line.split()[1]) == 0:
                found.append(current)
            current = None
    return found


def release_unused_memory() -> int:
    """Drop clean file pages from the resident set and trim the allocator; returns the bytes advised away."""
    libc = _libc()
    if libc is None:
        return 0
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
            mappings = clean_file_mappings(smaps.read())
    except OSError as error:
        log.debug("cannot read /proc/self/smaps: %s", error)
        return 0
    released = 0
    for start, end in mappings:
        if libc.madvise(start, end - start, MADV_DONTNEED) == 0:
            released += end - start
    libc.malloc_trim(0)
    return released
