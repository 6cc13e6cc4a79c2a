"""The watcher's side of one SUBSCRIBE dialog: ids, addresses and the requests it sends. Pure.

``LocalParty`` is where we are (the socket's address and transport, our SIP user and domain);
``SubscribeDialog`` holds one subscription's dialog (RFC 3261 12, RFC 6665 4.1): Call-ID, our From
tag, the local CSeq, the server's tag, remote target and route set once a 2xx or NOTIFY told us,
and builds each SUBSCRIBE with a fresh Via branch (``z9hG4bK`` + random, ``rport`` RFC 3581).
Ids come from the injected ``random.Random`` so tests replay exactly. IPv6 hosts are bracketed in
Via and URIs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from adapters.sip_blf.message import (
    NameAddr,
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    Via,
    parse_name_addr,
)
from adapters.sip_blf.notify import ACCEPT_FOR_EVENT

MAX_FORWARDS = "70"
USER_AGENT = "presence-bridge-sip-blf"
BRANCH_MAGIC = "z9hG4bK"  # RFC 3261 8.1.1.7


def host_for_uri(host: str) -> str:
    """``::1`` -> ``[::1]`` (RFC 3261 25.1 IPv6reference); other hosts unchanged."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def new_id(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


@dataclass(frozen=True, slots=True)
class LocalParty:
    """Our side: SIP identity (``user@domain``) and the address the transport is bound to."""

    user: str
    domain: str
    host: str
    port: int
    transport: str = "UDP"  # UDP, TCP or TLS

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{host_for_uri(self.domain)}"

    @property
    def contact(self) -> str:
        suffix = "" if self.transport == "UDP" else f";transport={self.transport.lower()}"
        return f"<sip:{self.user}@{host_for_uri(self.host)}:{self.port}{suffix}>"

    def via(self, branch: str) -> str:
        return Via(self.transport, self.host, self.port, {"branch": branch, "rport": None}).encode()


@dataclass(slots=True)
class SubscribeDialog:
    """One subscription's dialog state; a new one (new Call-ID and tag) for every fresh SUBSCRIBE."""

    local: LocalParty
    extension: str
    event: str
    call_id: str
    local_tag: str
    cseq: int = 0
    remote_tag: str | None = None
    remote_target: str | None = None
    route: tuple[str, ...] = ()
    remote_cseq: int | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def fresh(cls, local: LocalParty, extension: str, event: str, rng: random.Random) -> SubscribeDialog:
        call_id = f"{new_id(rng, 96)}@{host_for_uri(local.host)}"
        return cls(local, extension, event, call_id, new_id(rng, 32), _rng=rng)

    @property
    def target_uri(self) -> str:
        return f"sip:{self.extension}@{host_for_uri(self.local.domain)}"

    @property
    def established(self) -> bool:
        return self.remote_tag is not None

    def subscribe(self, expires: int, auth: list[tuple[str, str]] | None = None) -> tuple[SipRequest, str]:
        """The next SUBSCRIBE of this dialog (initial or in-dialog refresh) and its branch; the
        caller adds ``auth`` headers computed for ``request_uri`` first (``digest``)."""
        self.cseq += 1
        branch = BRANCH_MAGIC + new_id(self._rng)
        to = NameAddr(self.target_uri, params={"tag": self.remote_tag} if self.remote_tag else {})
        headers: list[tuple[str, str]] = [
            ("Via", self.local.via(branch)),
            ("Max-Forwards", MAX_FORWARDS),
            ("From", NameAddr(self.local.aor, params={"tag": self.local_tag}).encode()),
            ("To", to.encode()),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.cseq} SUBSCRIBE"),
            ("Contact", self.local.contact),
            *[("Route", r) for r in self.route],
            ("Event", self.event),
            ("Accept", ACCEPT_FOR_EVENT[self.event]),
            ("Expires", str(expires)),
            *(auth or []),
            ("User-Agent", USER_AGENT),
        ]
        return SipRequest(tuple(headers), b"", "SUBSCRIBE", self.request_uri), branch

    @property
    def request_uri(self) -> str:
        return self.remote_target or self.target_uri

    def learn(self, message: SipMessage) -> None:
        """Take the server's tag, Contact (remote target) and, from a 2xx, the route set."""
        try:
            tag = (message.to if isinstance(message, SipResponse) else message.from_).tag
            contacts = message.values("Contact")
            target = parse_name_addr(contacts[0]).uri if contacts else None
        except SipParseError:
            return
        if tag and self.remote_tag is None:
            self.remote_tag = tag
        if target:
            self.remote_target = target
        if isinstance(message, SipResponse) and not self.route:
            self.route = tuple(reversed(message.values("Record-Route")))
