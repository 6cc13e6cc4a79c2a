"""Reading the small files an admin points us at (configuration, secrets, CSV) without trusting them.

A path in a configuration can name anything: ``/dev/zero`` (reading never ends, memory runs
out), a FIFO (opening blocks until a writer comes, reading until it leaves), a directory, a huge
log file, a binary key. ``read_text_file`` reads only a regular file, at most ``limit`` bytes, and
decodes it strictly, so each of those is one ``UnreadableFile`` saying what is wrong (and the line
of the first byte that is not text), never a hang, a ``MemoryError`` or a traceback.

The file is checked with ``stat`` before it is opened (a FIFO is never opened), opened
non-blocking, checked again with ``fstat`` (it may have been swapped in between), and read with a
bound one byte above the limit (a file that grows while read is still refused).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(ValueError):
    """A file we refuse to read or cannot decode; ``line`` is where it stops being text (or None)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{kind}, not a regular file"


def read_text_file(path: Path, *, limit: int, encoding: str = "utf-8") -> str:
    """The text of the regular file ``path`` (at most ``limit`` bytes, decoded strictly).

    Raises ``UnreadableFile`` for a missing or unreadable file, anything but a regular file, a
    file over ``limit`` bytes, or bytes that are not ``encoding`` (with the line they are on).
    """
    try:
        problem = _not_regular(os.stat(path).st_mode)
        if problem is not None:
            raise UnreadableFile(problem)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise UnreadableFile("file not found") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        problem = _not_regular(os.fstat(fd).st_mode)
        if problem is not None:
            raise UnreadableFile(problem)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFile(f"larger than {_size(limit)} (not the file meant here?)")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFile(
            f"not {exc.encoding.upper()} text (byte 0x{data[exc.start]:02x}): a binary file, or another "
            "encoding?",
            line,
        ) from None


def _size(limit: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= size and limit % size == 0:
            return f"{limit // size} {unit}"
    return f"{limit} bytes"
