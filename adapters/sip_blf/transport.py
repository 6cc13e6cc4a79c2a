"""One SIP socket per adapter: UDP, TCP or TLS to the PBX, bytes in and out. The thin edge.

``open_transport`` returns a ``SipTransport`` already bound (UDP) or connected (TCP/TLS): its
``local`` address is what Via and Contact carry (the address the kernel routes to the PBX from,
never ``0.0.0.0``; IPv6 literals work, ``dialog.host_for_uri`` brackets them). Everything that
arrives is handed, whole, to ``on_message(data, peer)``: a datagram as it came, a stream cut into
messages by ``message.StreamFramer`` (its caps apply; a stream that cannot be framed any more is
closed and the session ends). ``send(data, peer)`` never blocks: a datagram goes to ``peer`` (or
the PBX), stream bytes go down the one connection.

``closed`` resolves when the socket dies (the peer closed the stream, a framing error, an
``OSError``) with the reason, so the adapter's session ends and the SDK reconnects with backoff.
OS errors are translated to ``AdapterError`` here; nothing above sees ``OSError``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from adapters.sip_blf.message import DEFAULT_LIMITS, SipFramingError, SipLimits, StreamFramer
from bridge.errors import AdapterError

Peer = tuple[str, int]
OnMessage = Callable[[bytes, Peer], None]


@dataclass(frozen=True, slots=True)
class LocalAddress:
    host: str
    port: int
    transport: str


class SipTransport:
    """The socket's two directions and its end; built by ``open_transport``."""

    def __init__(self, local: LocalAddress, server: Peer) -> None:
        self.local = local
        self.server = server
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._send_to: Callable[[bytes, Peer], None] = lambda data, peer: None
        self._close: Callable[[], None] = lambda: None

    def send(self, data: bytes, peer: Peer | None = None) -> None:
        if not self.closed.done():
            self._send_to(data, peer or self.server)

    def fail(self, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)

    def close(self) -> None:
        self.fail("closed by us")
        self._close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_message: OnMessage, limits: SipLimits) -> None:
        self.on_message, self.limits = on_message, limits
        self.transport: SipTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) <= self.limits.max_header_block + self.limits.max_body:
            self.on_message(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:  # an ICMP unreachable: the next send retries
        return None


def _route_source(host: str, port: int) -> tuple[int, str]:
    """(address family, local address) the kernel would send to ``host:port`` from."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)  # no packet leaves: it only picks the route
            return family, str(probe.getsockname()[0])
    except OSError as exc:
        raise AdapterError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from exc


async def open_transport(
    host: str,
    port: int,
    transport: str,
    on_message: OnMessage,
    *,
    tls: ssl.SSLContext | None = None,
    local_port: int = 0,
    limits: SipLimits = DEFAULT_LIMITS,
) -> SipTransport:
    """A bound UDP socket or a connected TCP/TLS stream to the PBX at ``host:port``."""
    if transport == "UDP":
        return await _open_udp(host, port, on_message, local_port, limits)
    return await _open_stream(host, port, transport, on_message, tls, limits)


async def _open_udp(
    host: str, port: int, on_message: OnMessage, local_port: int, limits: SipLimits
) -> SipTransport:
    family, source = _route_source(host, port)
    server_address = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][4]
    server = (str(server_address[0]), int(server_address[1]))
    loop = asyncio.get_running_loop()
    protocol = _Datagrams(on_message, limits)
    try:
        datagrams, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(source, local_port))
    except OSError as exc:
        raise AdapterError(
            f"cannot bind a UDP socket on {source}:{local_port}: {exc.strerror or exc}"
        ) from exc
    bound = datagrams.get_extra_info("sockname")
    result = SipTransport(LocalAddress(source, int(bound[1]), "UDP"), server)
    result._send_to = lambda data, peer: datagrams.sendto(data, peer)
    result._close = datagrams.close
    protocol.transport = result
    return result


async def _open_stream(
    host: str, port: int, transport: str, on_message: OnMessage, tls: ssl.SSLContext | None, limits: SipLimits
) -> SipTransport:
    if transport == "TLS" and tls is None:
        tls = ssl.create_default_context()
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls if transport == "TLS" else None)
    except (OSError, ssl.SSLError) as exc:
        raise AdapterError(f"cannot connect to {host}:{port} over {transport}: {exc}") from exc
    sockname, peername = writer.get_extra_info("sockname"), writer.get_extra_info("peername")
    server = (str(peername[0]), int(peername[1]))
    result = SipTransport(LocalAddress(str(sockname[0]), int(sockname[1]), transport), server)
    result._send_to = lambda data, peer: writer.write(data)
    result._close = writer.transport.abort
    # owned by the transport: cancelled when it closes; an unexpected failure closes it (named)
    reading = asyncio.ensure_future(_read_stream(reader, result, on_message, limits))
    result.closed.add_done_callback(lambda _: reading.cancel())
    reading.add_done_callback(
        lambda task: (
            None
            if task.cancelled() or task.exception() is None
            else result.fail(f"reader failed: {task.exception()!r}")
        )
    )
    return result


async def _read_stream(
    reader: asyncio.StreamReader, transport: SipTransport, on_message: OnMessage, limits: SipLimits
) -> None:
    """Frames from the connection to ``on_message``; ends by resolving ``transport.closed``."""
    framer = StreamFramer(limits)
    try:
        while data := await reader.read(65536):
            for frame in framer.feed(data):
                on_message(frame, transport.server)
        transport.fail("connection closed by the PBX")
    except SipFramingError as exc:
        transport.fail(f"the PBX's stream cannot be framed any more: {exc}")
    except (OSError, ssl.SSLError) as exc:
        transport.fail(f"connection lost: {exc}")
