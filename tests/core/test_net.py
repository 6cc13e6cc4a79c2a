"""Our listening sockets switch Nagle off, so no HTTP answer waits ~40 ms for a delayed ACK."""

from __future__ import annotations

import socket

import pytest

from bridge.kit.net import bind_listening


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_accepted_connections_have_nagle_off(host: str) -> None:
    listener = bind_listening(host, 0)
    try:
        listener.setblocking(True)
        port = listener.getsockname()[1]
        with socket.create_connection((host, port), timeout=5):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                assert accepted.proto == socket.IPPROTO_TCP  # asyncio keeps NODELAY only for these
    finally:
        listener.close()


def test_a_port_in_use_is_an_oserror_not_an_exit() -> None:
    first = bind_listening("127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            bind_listening("127.0.0.1", first.getsockname()[1]).close()
    finally:
        first.close()
