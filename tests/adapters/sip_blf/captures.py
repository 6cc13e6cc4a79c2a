"""Loads the Kamailio lab captures (tests/fixtures/kamailio/*_sip.txt) back into wire bytes.

The capture files print every datagram under a ``----- time (+ offset) SENT to|RECV from addr (N
bytes) -----`` line, with line ends normalised to LF. The wire used CRLF in the header block;
bodies were sent either with LF (Kamailio's generated XML) or CRLF (the lab's PUBLISH bodies), so
each datagram is rebuilt both ways and the one whose length equals the recorded byte count wins:
a datagram that cannot be rebuilt exactly fails the load instead of feeding a test altered bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kamailio"
_BANNER = re.compile(
    r"^----- (\S+) \(\+\s*([0-9.]+)s\) (?:\[(\w+)\] )?(SENT to|RECV from) (\S+) \((\d+) bytes\) -----$", re.M
)


@dataclass(frozen=True)
class Datagram:
    offset: float  # seconds since the capture started
    sent: bool  # by the lab's UA (the watcher or phone), else received from Kamailio
    peer: str
    data: bytes
    party: str = ""  # which lab UA, where one capture holds several ("1001")


def _rebuild(text: str, size: int) -> bytes:
    head, _, body = text.partition("\n\n")
    candidates = []
    for body_eol in ("\n", "\r\n"):
        for trail in range(0, 3):
            raw_body = body[: len(body) - trail] if trail else body
            data = (
                head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + raw_body.replace("\n", body_eol).encode()
            )
            candidates.append(data)
    for data in candidates:
        if len(data) == size:
            return data
    raise ValueError(f"cannot rebuild a datagram of {size} bytes from {text[:60]!r}")


def load(name: str) -> list[Datagram]:
    text = (FIXTURES / name).read_text()
    marks = list(_BANNER.finditer(text))
    out = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        chunk = text[mark.end() + 1 : end]
        size = int(mark.group(6))
        # the printout adds one blank line after each datagram
        chunk = chunk[:-1] if chunk.endswith("\n\n") else chunk
        data = _rebuild(chunk, size)
        out.append(
            Datagram(
                float(mark.group(2)), mark.group(4) == "SENT to", mark.group(5), data, mark.group(3) or ""
            )
        )
    return out


def load_stream(name: str) -> list[tuple[bool, bytes]]:
    """A TCP transcript (``>>>>> SENT`` / ``<<<<< RECV`` blocks): (sent, message bytes) in order.
    The transcript records no byte counts: each message is its header block plus the
    Content-Length it declares (the bodies are ASCII with LF line ends)."""
    text = (FIXTURES / name).read_text()
    blocks = re.split(r"^(>>>>> SENT|<<<<< RECV)\n", text, flags=re.M)
    out = []
    for marker, chunk in zip(blocks[1::2], blocks[2::2], strict=True):
        head, _, body = chunk.partition("\n\n")
        length = int(re.search(r"^Content-Length: (\d+)$", head, re.M).group(1))  # type: ignore[union-attr]
        size = len(head.replace("\n", "\r\n").encode()) + 4 + length
        # the bodies are ASCII with LF ends; what follows Content-Length is the printout's commentary
        out.append((marker == ">>>>> SENT", _rebuild(f"{head}\n\n{body[:length]}", size)))
    return out
