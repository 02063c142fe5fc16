"""Releasing unused memory touches only clean, private, read-only file mappings."""

from __future__ import annotations

import platform
import sys

import pytest

from agent import memory

SMAPS = """\
7f0000000000-7f0000100000 r--p 00000000 fe:00 1234 /usr/lib/libgrpc.so
Rss:                1024 kB
Anonymous:             0 kB
7f0000100000-7f0000300000 r-xp 00100000 fe:00 1234 /usr/lib/libgrpc.so
Rss:                2048 kB
Anonymous:             0 kB
7f0000300000-7f0000310000 r--p 00300000 fe:00 1234 /usr/lib/libgrpc.so
Rss:                  64 kB
Anonymous:            64 kB
7f0000310000-7f0000320000 rw-p 00310000 fe:00 1234 /usr/lib/libgrpc.so
Anonymous:             0 kB
7f0000400000-7f0000500000 r--s 00000000 fe:00 99 /home/pupil/agent-state/spool.db-shm
Anonymous:             0 kB
7f0000500000-7f0000600000 rw-p 00000000 00:00 0
Anonymous:          1024 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
"""


def test_only_clean_private_read_only_file_mappings() -> None:
    assert memory.clean_file_mappings(SMAPS) == [
        (0x7F0000000000, 0x7F0000100000),
        (0x7F0000100000, 0x7F0000300000),
    ]  # not the relocated (Anonymous) one, the writable one, the shared one, anonymous memory or the vDSO


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_release_keeps_the_process_working() -> None:
    import grpc  # a big library, mapped and partly read

    assert memory.release_unused_memory() > 0
    assert grpc.StatusCode.OK.name == "OK"  # its pages come back on use
    # glibc accepts M_ARENA_MAX; elsewhere (musl) there is nothing to apply. `in (True, False)` could not fail.
    assert memory.limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
