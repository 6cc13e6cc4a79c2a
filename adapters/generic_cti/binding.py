"""Listening sockets (``bridge.kit.net``) and the rebind delay, shared by both front ends."""

from __future__ import annotations

import random
import socket

from bridge.kit.net import bind_listening

__all__ = ["bind_listening", "bound_address", "retry_delay"]

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def retry_delay(attempt: int, rng: random.Random) -> float:
    """Capped exponential backoff with equal jitter: attempt 1 -> 0.5..1 s, ... up to 15..30 s."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempt - 1))
    return base / 2 + rng.random() * base / 2


def bound_address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)
