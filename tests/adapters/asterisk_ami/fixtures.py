"""Load the recorded (and synthesized) AMI captures in tests/fixtures/asterisk-22."""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "asterisk-22"
_CONNECTION = re.compile(rb"^#### connection \d+ ####\n", re.MULTILINE)


def raw_names() -> list[str]:
    return sorted(p.name.removesuffix(".server.raw") for p in FIXTURES.glob("*.server.raw"))


def connections(name: str) -> list[bytes]:
    """The exact server bytes of each connection in one capture (comment header dropped)."""
    data = (FIXTURES / f"{name}.server.raw").read_bytes()
    while data.startswith(b"# "):
        data = data.split(b"\n", 1)[1]
    parts = [p for p in _CONNECTION.split(data) if p]
    return parts


def frames(name: str, connection: int = 0) -> list[bytes]:
    """One connection's messages as raw byte frames (each ends with the blank line)."""
    data = connections(name)[connection]
    if data.startswith(b"Asterisk Call Manager/"):
        data = data.split(b"\r\n", 1)[1]
    return [chunk + b"\r\n\r\n" for chunk in data.split(b"\r\n\r\n") if chunk.strip()]


def frames_with(name: str, needle: bytes, connection: int = 0) -> list[bytes]:
    return [f for f in frames(name, connection) if needle in f]
