"""A small SIP presence server over TCP on loopback, for the shipped contract suite.

It answers SUBSCRIBE the way the Kamailio lab does (407 with a digest challenge, then 200 with a
To tag, Expires and Contact once the MD5 answer is right; checked here with hashlib), sends the
initial full dialog-info NOTIFY (idle) *before* its 200, and later NOTIFYs whose dialog-info bodies
are the lab's recorded ones. ``stop`` closes every connection and the listening socket; ``start``
listens again on the same port.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re

from adapters.sip_blf.message import SipRequest, StreamFramer, parse_message, response_to

REALM = "127.0.0.1"
PASSWORD = "right-password"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def dialog_info(version: int, dialogs: str = "") -> bytes:
    return (
        '<?xml version="1.0"?>\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" '
        f'version="{version}" state="full" entity="sip:1001@127.0.0.1">\n{dialogs}</dialog-info>\n'
    ).encode()


class _Subscriber:
    def __init__(self, writer: asyncio.StreamWriter, request: SipRequest) -> None:
        self.writer, self.request = writer, request
        self.version = 0
        self.cseq = itertools.count(1)

    def notify(self, body: bytes) -> None:
        self.version += 1
        body = re.sub(rb'version="\d+"', f'version="{self.version}"'.encode(), body, count=1)
        r = self.request
        headers = (
            ("Via", f"SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKfake{self.version}"),
            ("From", f"{r.require('To')};tag=srv"),
            ("To", r.require("From")),
            ("Call-ID", r.call_id),
            ("CSeq", f"{next(self.cseq)} NOTIFY"),
            ("Event", "dialog"),
            ("Subscription-State", "active;expires=600"),
            ("Contact", "<sip:127.0.0.1;transport=tcp>"),
            ("Content-Type", "application/dialog-info+xml"),
        )
        self.writer.write(SipRequest(headers, body, "NOTIFY", "sip:watcher@127.0.0.1").encode())


class FakeSipPbx:
    def __init__(self) -> None:
        self.port = 0
        self.subscribes = 0
        self.silent = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.subscribers: list[_Subscriber] = []
        self._nonces = itertools.count()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        self.subscribers.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def notify_all(self, body: bytes) -> None:
        for subscriber in self.subscribers:
            subscriber.notify(body)

    def send_raw(self, data: bytes) -> None:
        for writer in self._writers:
            writer.write(data)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for frame in framer.feed(data):
                    message = parse_message(frame, stream=True)
                    if isinstance(message, SipRequest) and message.method == "SUBSCRIBE":
                        self._subscribe(writer, message)
        except (ConnectionError, OSError):
            return
        finally:
            writer.transport.abort()

    def _subscribe(self, writer: asyncio.StreamWriter, request: SipRequest) -> None:
        self.subscribes += 1
        if self.silent:
            return
        if not self._authorised(request):
            challenge = f'Digest realm="{REALM}", nonce="n{next(self._nonces)}", qop="auth"'
            writer.write(response_to(request, 407, "Proxy Auth", to_tag="srv",
                                     extra=[("Proxy-Authenticate", challenge)]).encode())  # fmt: skip
            return
        if request.to.tag is None:
            subscriber = _Subscriber(writer, request)
            self.subscribers.append(subscriber)
            subscriber.notify(dialog_info(1))
        extra = [("Expires", "600"), ("Contact", "<sip:127.0.0.1;transport=tcp>")]
        writer.write(response_to(request, 200, "OK", to_tag="srv", extra=extra).encode())

    @staticmethod
    def _authorised(request: SipRequest) -> bool:
        value = request.get("Proxy-Authorization")
        if value is None:
            return False
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', value))
        ha1 = _md5(f"{params.get('username')}:{REALM}:{PASSWORD}")
        ha2 = _md5(f"SUBSCRIBE:{params.get('uri')}")
        fields = (params.get(k) for k in ("nonce", "nc", "cnonce", "qop"))
        return params.get("response") == _md5(f"{ha1}:{':'.join(str(f) for f in fields)}:{ha2}")
