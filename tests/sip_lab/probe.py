"""A raw SIP test probe over UDP, hand-written for the lab's own tests.

It sends OPTIONS, SUBSCRIBE and PUBLISH from one socket on 127.0.0.1 and answers every NOTIFY with
200 OK, so the lab can be proven end to end without the product's subscriber
(``adapters/sip_blf/``) and before it exists. It is deliberately not a SIP stack: no retransmission
(loopback does not lose datagrams), one digest retry (MD5, qop=auth), no TCP. Every wait polls the
socket against a deadline; nothing sleeps.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
BOUND = 5.0  # seconds; a bound on a loopback answer that normally takes a millisecond


EVENT_TO_ACCEPT = {
    "dialog": "application/dialog-info+xml",  # RFC 4235
    "presence": "application/pidf+xml",  # RFC 3863
    "reg": "application/reginfo+xml",  # RFC 3680
}


class ProbeTimeout(AssertionError):
    """The lab did not answer within the bound: the test fails and says what was awaited."""


@dataclass(frozen=True)
class SipMessage:
    """One parsed datagram: the start line, the headers in order, the body bytes."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def method(self) -> str | None:
        return None if self.start_line.startswith("SIP/2.0") else self.start_line.split(" ", 1)[0]

    @property
    def status(self) -> int | None:
        return int(self.start_line.split(" ", 2)[1]) if self.start_line.startswith("SIP/2.0") else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def parse(data: bytes) -> SipMessage:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers = tuple(
        (key.strip(), value.strip()) for key, _, value in (line.partition(":") for line in lines[1:])
    )
    return SipMessage(lines[0], headers, body)


def _param(value: str, name: str) -> str | None:
    found = re.search(rf'{name}="?([^",;>]*)"?', value)
    return found.group(1) if found else None


def digest_header(challenge: str, *, method: str, uri: str, user: str, password: str) -> str:
    """The Authorization value answering ``challenge`` (RFC 2617 MD5, qop=auth when offered)."""
    realm = _param(challenge, "realm") or ""
    nonce = _param(challenge, "nonce") or ""
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    fields = f'username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", algorithm=MD5'
    if "auth" in (_param(challenge, "qop") or ""):
        cnonce, nc = secrets.token_hex(8), "00000001"
        digest = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        return f'Digest {fields}, qop=auth, nc={nc}, cnonce="{cnonce}", response="{digest}"'
    digest = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    return f'Digest {fields}, response="{digest}"'


@dataclass
class Subscription:
    """What the probe knows about one SUBSCRIBE dialog (enough to refresh it)."""

    call_id: str
    from_tag: str
    target: str
    event: str
    to_tag: str = ""
    remote_target: str = ""
    cseq: int = 1
    notifies: list[SipMessage] = field(default_factory=list)


class SipProbe:
    """One watcher/publisher identity (``user``) talking to the lab on ``server_port``."""

    def __init__(self, server_port: int, *, user: str = "watcher", password: str | None = None) -> None:
        self.server = (HOST, server_port)
        self.user = user
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port: int = self.sock.getsockname()[1]
        self.challenges: list[int] = []  # the status of every challenge received (401/407)
        self.subscriptions: dict[str, Subscription] = {}
        self._pending: list[SipMessage] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SipProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def receive(self, deadline: float) -> SipMessage | None:
        """The next datagram before ``deadline`` (monotonic), NOTIFYs answered 200 and filed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            return None
        data, peer = self.sock.recvfrom(65535)
        message = parse(data)
        if message.method == "NOTIFY":
            self.sock.sendto(self._reply_200(message), peer)
            sub = self.subscriptions.get(message.header("Call-ID") or "")
            if sub is not None:
                sub.notifies.append(message)
        return message

    def wait_notify(
        self, sub: Subscription, predicate: Callable[[SipMessage], bool], bound: float = BOUND
    ) -> SipMessage:
        """The first NOTIFY of ``sub`` (already received or arriving within ``bound``) that matches."""
        deadline = time.monotonic() + bound
        seen = 0
        while True:
            for message in sub.notifies[seen:]:
                if predicate(message):
                    return message
            seen = len(sub.notifies)
            if self.receive(deadline) is None and time.monotonic() >= deadline:
                bodies = [n.header("Subscription-State") for n in sub.notifies]
                raise ProbeTimeout(f"no matching NOTIFY for {sub.target} within {bound}s; got {bodies}")

    def options(self, bound: float = BOUND) -> SipMessage:
        uri = f"sip:{self.server[0]}:{self.server[1]}"
        return self.transact("OPTIONS", uri, call_id=self._new_id(), from_tag=self._new_id(), bound=bound)

    def subscribe(self, extension: str, *, event: str = "dialog", expires: int = 120) -> Subscription:
        """A new subscription to ``extension``'s ``event``; the 2xx answer is required."""
        accept = EVENT_TO_ACCEPT[event]
        sub = Subscription(self._new_id(), self._new_id(), f"sip:{extension}@{HOST}", event)
        self.subscriptions[sub.call_id] = sub
        answer = self.transact(
            "SUBSCRIBE",
            sub.target,
            call_id=sub.call_id,
            from_tag=sub.from_tag,
            cseq=sub.cseq,
            extra=f"Event: {event}\r\nAccept: {accept}\r\nExpires: {expires}\r\n",
        )
        sub.cseq = int((answer.header("CSeq") or "1").split()[0])
        assert answer.status is not None and 200 <= answer.status < 300, answer.start_line
        sub.to_tag = _param(answer.header("To") or "", "tag") or ""
        sub.remote_target = (answer.header("Contact") or "").strip("<>")
        return sub

    def refresh(self, sub: Subscription, *, expires: int = 120) -> SipMessage:
        """An in-dialog SUBSCRIBE (refresh); returns the final answer whatever it is (481 after a
        restart: the server forgot the subscription)."""
        sub.cseq += 1
        accept = EVENT_TO_ACCEPT[sub.event]
        return self.transact(
            "SUBSCRIBE",
            sub.remote_target,
            call_id=sub.call_id,
            from_tag=sub.from_tag,
            to_uri=sub.target,
            to_tag=sub.to_tag,
            cseq=sub.cseq,
            extra=f"Event: {sub.event}\r\nAccept: {accept}\r\nExpires: {expires}\r\n",
        )

    def publish(self, extension: str, pidf: str, *, expires: int = 120) -> SipMessage:
        """A PIDF PUBLISH (RFC 3903) about ``extension``; returns the final answer."""
        return self.transact(
            "PUBLISH",
            f"sip:{extension}@{HOST}",
            call_id=self._new_id(),
            from_tag=self._new_id(),
            extra=f"Event: presence\r\nExpires: {expires}\r\nContent-Type: application/pidf+xml\r\n",
            body=pidf,
        )

    def transact(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        from_tag: str,
        to_uri: str | None = None,
        to_tag: str = "",
        cseq: int = 1,
        extra: str = "",
        body: str = "",
        bound: float = BOUND,
    ) -> SipMessage:
        """Send one request and return its final answer; one digest retry on 401/407."""
        auth = ""
        for _attempt in range(2):
            branch = "z9hG4bK" + self._new_id()
            to = f"<{to_uri or uri}>" + (f";tag={to_tag}" if to_tag else "")
            request = (
                f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:{self.user}@{HOST}>;tag={from_tag}\r\n"
                f"To: {to}\r\n"
                f"Call-ID: {call_id}\r\n"
                f"CSeq: {cseq} {method}\r\n"
                f"Contact: <sip:{self.user}@{HOST}:{self.port}>\r\n"
                f"{extra}{auth}"
                "User-Agent: sip-lab-probe\r\n"
                f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
            )
            self.sock.sendto(request.encode(), self.server)
            answer = self._final_answer(branch, bound)
            if answer.status not in (401, 407) or self.password is None or auth:
                return answer
            self.challenges.append(answer.status)
            challenge_name, answer_name = (
                ("WWW-Authenticate", "Authorization")
                if answer.status == 401
                else ("Proxy-Authenticate", "Proxy-Authorization")
            )
            value = digest_header(
                answer.header(challenge_name) or "",
                method=method,
                uri=uri,
                user=self.user,
                password=self.password,
            )
            auth = f"{answer_name}: {value}\r\n"
            cseq += 1
        return answer

    def _final_answer(self, branch: str, bound: float) -> SipMessage:
        deadline = time.monotonic() + bound
        while (message := self.receive(deadline)) is not None:
            final = message.status is not None and message.status >= 200
            if final and branch in (message.header("Via") or ""):
                return message
        raise ProbeTimeout(f"no final answer for branch {branch} within {bound}s")

    def _reply_200(self, request: SipMessage) -> bytes:
        copied = "".join(
            f"{name}: {request.header(name)}\r\n" for name in ("Via", "From", "To", "Call-ID", "CSeq")
        )
        return f"SIP/2.0 200 OK\r\n{copied}Content-Length: 0\r\n\r\n".encode()

    @staticmethod
    def _new_id() -> str:
        return secrets.token_hex(8)
