"""Replays what Kamailio sent in a lab capture to one of our ``Subscription`` objects.

Our subscription makes its own Call-ID, From tag and Via branches, so each received datagram is
rewritten to carry ours in place of the lab watcher's (taken from the capture's own SENT
SUBSCRIBEs): everything else reaches the subscription byte for byte as Kamailio sent it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from adapters.sip_blf.dialog import LocalParty
from adapters.sip_blf.lifecycle import Step, Timings
from adapters.sip_blf.message import SipRequest, SipResponse, parse_message
from adapters.sip_blf.subscription import Subscription
from bridge.model import EndpointKey, StateChange
from tests.adapters.sip_blf.captures import Datagram, load

LOCAL = LocalParty("watcher", "127.0.0.1", "127.0.0.1", 5091)
DEFAULT_TIMINGS = Timings()


def make_subscription(
    extension: str = "1001",
    event: str = "dialog",
    *,
    password: str | None = None,
    seed: int = 1,
    local: LocalParty = LOCAL,
    timings: Timings = DEFAULT_TIMINGS,
) -> Subscription:
    return Subscription(
        EndpointKey("sip", extension),
        event,
        local,
        auth_user="watcher",
        password=password,
        rng=random.Random(seed),
        timings=timings,
    )


def _header(data: bytes, name: str) -> str:
    match = re.search(rf"^{name}: (.*?)\r$", data.decode(), re.M)
    assert match is not None, name
    return match.group(1)


@dataclass
class Replay:
    sub: Subscription
    steps: list[Step] = field(default_factory=list)
    sent: list[SipRequest | SipResponse] = field(default_factory=list)

    @property
    def changes(self) -> list[StateChange]:
        return [change for step in self.steps for change in step.changes]

    def run(self, capture: str, now: float = 0.0, *, stop_after: int | None = None) -> None:
        """Start the subscription, then hand it every datagram Kamailio sent (at its offset)."""
        datagrams = load(capture)
        first = next(d for d in datagrams if d.sent and d.data.startswith(b"SUBSCRIBE"))
        their_call_id = _header(first.data, "Call-ID")
        their_tag = _header(first.data, "From").split("tag=")[1]
        self._record(self.sub.start(now))
        their_branch = ""
        received = 0
        for datagram in datagrams:
            if datagram.sent:
                if datagram.data.startswith(b"SUBSCRIBE"):
                    their_branch = _header(datagram.data, "Via").split("branch=")[1].split(";")[0]
                continue
            if stop_after is not None and received >= stop_after:
                return
            received += 1
            self.feed(datagram, their_call_id, their_tag, their_branch, now)

    def feed(self, datagram: Datagram, call_id: str, tag: str, branch: str, now: float) -> None:
        ours = self.sub.branch or "z9hG4bKnone"
        data = (
            datagram.data.replace(call_id.encode(), self.sub.dialog.call_id.encode())
            .replace(f"tag={tag}".encode(), f"tag={self.sub.dialog.local_tag}".encode())
            .replace(branch.encode(), ours.encode())
        )
        message = parse_message(data)
        at = now + datagram.offset
        if isinstance(message, SipResponse):
            self._record(self.sub.on_response(message, at))
        else:
            self._record(self.sub.on_notify(message, at))

    def _record(self, step: Step) -> None:
        self.steps.append(step)
        self.sent.extend(step.send)
