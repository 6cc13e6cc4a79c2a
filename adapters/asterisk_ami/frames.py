"""AMI framing, h11-style: bytes in, messages out. Pure: no sockets, no clock, no asyncio.

Why not panoramisk's parser (reference asterisk-ami.md 5.6): it decodes every TCP chunk on its
own with ``errors='ignore'`` (a UTF-8 character split across reads is silently lost: trap 12),
``strip()``s whole messages (an empty last header such as ``Message: `` disappears), folds
duplicate headers into lists (trap 10) and has no bound on a frame's size. Here lines are cut
on bytes and decoded only when complete, every header is kept in order, and garbage or oversized
frames are dropped and counted, never raised.

Wire rules (reference 1.1-1.3): lines end in CRLF (a bare LF is accepted, as Asterisk does), a
blank line ends a message, the banner ``Asterisk Call Manager/<version>`` is one line with no
blank line after it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

BANNER_PREFIX = b"Asterisk Call Manager/"
DEFAULT_MAX_LINE = 8192
DEFAULT_MAX_HEADERS = 512
KEY_CACHE_MAX = 4096  # distinct header names remembered per connection (a PBX uses a few hundred)


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI message: its headers in wire order (duplicates kept)."""

    headers: tuple[tuple[str, str], ...]
    # The header names lower-cased, in the same order (the parser fills it in so lookups scan in C).
    names: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (case-insensitive, like Asterisk), else ``default``."""
        lowered = name.lower()
        names = self.names
        if names is not None:
            try:
                return self.headers[names.index(lowered)][1]
            except ValueError:
                return default
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def text(self, name: str) -> str:
        """The header's value, "" when absent (for fields where empty and absent mean the same)."""
        return self.get(name) or ""

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __repr__(self) -> str:  # raw values may hold caller names: keep reprs short
        kind = f"Event={self.event}" if self.event else f"Response={self.response}"
        return f"AmiMessage({kind}, {len(self.headers)} headers)"


class FrameParser:
    """Incremental AMI parser for one connection.

    ``feed(data)`` returns the complete messages found so far; a partial line or message waits
    for the next call. ``version`` holds the banner's AMI version once seen. Counters:
    ``frames`` (messages returned), ``rejected_frames`` (a line that is not ``Key: value``),
    ``oversized_frames`` (a line or a header count over the limits; the rest of that frame is skipped).
    """

    def __init__(self, *, max_line: int = DEFAULT_MAX_LINE, max_headers: int = DEFAULT_MAX_HEADERS) -> None:
        self._max_line = max_line
        self._max_headers = max_headers
        self._buffer = b""  # an incomplete line, waiting for its end
        self._headers: list[tuple[str, str]] = []
        self._names: list[str] = []  # the current frame's header names, lower-cased
        # raw header name -> (name, lower-cased name), or None for a name that is not valid
        self._keys: dict[bytes, tuple[str, str] | None] = {}
        self._bad = False  # current frame had a malformed line
        self._skipping = False  # current frame is oversized: drop lines until the blank one
        self.version: str | None = None
        self.frames = 0
        self.rejected_frames = 0
        self.oversized_frames = 0

    def feed(self, data: bytes) -> list[AmiMessage]:
        if b"\n" not in data:
            self._buffer += data
            self._check_rest()
            return []
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        out: list[AmiMessage] = []
        headers, names, keys = self._headers, self._names, self._keys
        max_line, max_headers = self._max_line, self._max_headers
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                message = self._end_frame()
                if message is not None:
                    out.append(message)
                headers, names = self._headers, self._names
                continue
            if (
                self._skipping
                or (not headers and line.startswith(BANNER_PREFIX))
                or len(line) > max_line
                or len(headers) >= max_headers
            ):
                self._line(line)  # the rare cases: banner, a frame being skipped, limits
                headers, names = self._headers, self._names
                continue
            # The common case, a "Key: value" line. ":" is ASCII, never inside a UTF-8 sequence,
            # so cutting the bytes first and decoding each part is the same as decoding the line.
            raw_key, sep, raw_value = line.partition(b":")
            known = keys.get(raw_key) if sep else None
            if known is None:
                known = self._key(raw_key, sep)
                if known is None:
                    self._bad = True
                    continue
            if raw_value.startswith(b" "):
                raw_value = raw_value[1:]
            headers.append((known[0], raw_value.decode("utf-8", "replace")))
            names.append(known[1])
        self._check_rest()
        return out

    def _key(self, raw: bytes, sep: bytes) -> tuple[str, str] | None:
        """A header name as ``_line`` reads it, remembered: (name, lower-cased) or None if invalid."""
        key = raw.decode("utf-8", "replace").strip()
        known = (sys.intern(key), key.lower()) if sep and key and " " not in key else None
        if sep and len(self._keys) < KEY_CACHE_MAX:
            self._keys[raw] = known
        return known

    def _check_rest(self) -> None:
        if len(self._buffer) > self._max_line:
            # A line that never ends: drop what we hold and skip to the end of this frame.
            self._buffer = b""
            self._oversized()

    def feed_all(self, chunks: Iterable[bytes]) -> list[AmiMessage]:
        out: list[AmiMessage] = []
        for chunk in chunks:
            out.extend(self.feed(chunk))
        return out

    def _oversized(self) -> None:
        if not self._skipping:
            self.oversized_frames += 1
        self._skipping = True
        self._headers, self._names = [], []

    def _line(self, line: bytes) -> AmiMessage | None:
        if not self._headers and not self._skipping and line.startswith(BANNER_PREFIX):
            # The banner opens a connection; a recording spanning a reconnect repeats it mid-stream.
            self.version = line[len(BANNER_PREFIX) :].decode("ascii", "replace").strip()
            return None
        if not line:
            return self._end_frame()
        if self._skipping:
            return None
        if len(line) > self._max_line or len(self._headers) >= self._max_headers:
            self._oversized()
            return None
        key, sep, value = line.decode("utf-8", "replace").partition(":")
        key = key.strip()
        if not sep or not key or " " in key:
            self._bad = True
            return None
        self._headers.append((key, value[1:] if value.startswith(" ") else value))
        self._names.append(key.lower())
        return None

    def _end_frame(self) -> AmiMessage | None:
        headers, names, bad, skipping = self._headers, self._names, self._bad, self._skipping
        self._headers, self._names, self._bad, self._skipping = [], [], False, False
        if skipping:
            return None
        if bad:
            self.rejected_frames += 1
            return None
        if not headers:
            return None  # stray blank line (e.g. after a banner): nothing to count
        self.frames += 1
        return AmiMessage(tuple(headers), tuple(names))


def encode_action(action: str, headers: Iterable[tuple[str, str]], action_id: str) -> bytes:
    """Serialise one action. Values must already be sanitised: CR or LF would inject headers.

    Raises ValueError if a name or value contains CR/LF (a programming error upstream).
    """
    lines = [("Action", action), ("ActionID", action_id), *headers]
    parts: list[str] = []
    for key, value in lines:
        if any(c in key or c in value for c in "\r\n") or not key:
            raise ValueError(f"AMI header {key!r} carries a line break")
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")
