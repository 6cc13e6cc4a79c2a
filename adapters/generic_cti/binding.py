"""Listening sockets and the rebind delay (the only socket code shared by both front ends).

We bind sockets ourselves rather than letting uvicorn or asyncio do it, so that a bind failure
is an ``OSError`` we handle (uvicorn would ``sys.exit``) and port 0 is reported back.
"""

from __future__ import annotations

import ipaddress
import random
import socket

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
BACKLOG = 128


def retry_delay(attempt: int, rng: random.Random) -> float:
    """Capped exponential backoff with equal jitter: attempt 1 -> 0.5..1 s, ... up to 15..30 s."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempt - 1))
    return base / 2 + rng.random() * base / 2


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        # A host name: resolve it (listen addresses are local names such as "localhost").
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return infos[0][0]


def bind_listening(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on host:port; raises OSError (e.g. address in use)."""
    try:
        family = _family(host)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bound_address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)
