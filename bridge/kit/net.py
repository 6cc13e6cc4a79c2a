"""Listening TCP sockets, bound by us (not uvicorn or asyncio) for every server we run.

Binding ourselves makes a bind failure an ``OSError`` we handle (uvicorn would ``sys.exit``) and
reports port 0's real port. The socket is created with ``IPPROTO_TCP`` and ``TCP_NODELAY``
(inherited by accepted connections): asyncio only switches Nagle off for sockets whose protocol
is ``IPPROTO_TCP``, and with Nagle on, every HTTP response waited ~40 ms for a delayed ACK.
"""

from __future__ import annotations

import ipaddress
import socket

BACKLOG = 128


def address_family(host: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host.strip("[]")).version == 6 else socket.AF_INET
    except ValueError:
        # A host name: resolve it (listen addresses are local names such as "localhost").
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        return infos[0][0]


def bind_listening(host: str, port: int) -> socket.socket:
    """A non-blocking listening TCP socket on host:port; raises OSError (e.g. address in use)."""
    try:
        family = address_family(host)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
