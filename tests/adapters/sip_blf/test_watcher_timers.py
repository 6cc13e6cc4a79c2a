"""The watcher's timers and health at PBX scale, on a recording transport (no socket, no clock).

The oracle is the definition, not the heap: at every wake the deadline ``tick`` returns must be the
earliest ``next_deadline`` of any subscription (or the next paced start), computed here by a plain
scan; and the verdict must be the one the phases add up to. What a user would notice if this broke:
a subscription that is never refreshed (a BLF lamp that goes dark after an hour), refreshes of
2,000 extensions landing in the same second, or a health line that lies.
"""

from __future__ import annotations

import random

from adapters.sip_blf.lifecycle import Timings
from adapters.sip_blf.message import SipRequest, parse_message, response_to
from adapters.sip_blf.transport import LocalAddress, Peer, SipTransport
from adapters.sip_blf.watcher import Watch, Watcher
from bridge.kit.health import Health
from bridge.model import EndpointKey, StateChange

SERVER = ("127.0.0.1", 5070)
GRANTED = 600


class Recorder(SipTransport):
    """The transport edge: what the watcher sends is kept, nothing goes anywhere."""

    def __init__(self) -> None:
        super().__init__(LocalAddress("127.0.0.1", 5091, "TCP"), SERVER)
        self.sent: list[SipRequest] = []

    def send(self, data: bytes, peer: Peer | None = None) -> None:
        message = parse_message(data)
        if isinstance(message, SipRequest):
            self.sent.append(message)

    def take(self) -> list[SipRequest]:
        sent, self.sent = self.sent, []
        return sent


def make_watcher(count: int, pace: float = 50.0) -> tuple[Watcher, Recorder]:
    transport = Recorder()
    watches = [Watch(EndpointKey("sip", str(1000 + i)), "dialog") for i in range(count)]
    changes: list[StateChange] = []
    watcher = Watcher(
        transport,
        watches,
        user="watcher",
        domain="127.0.0.1",
        auth_user="watcher",
        password=None,
        rng=random.Random(3),
        on_change=changes.append,
        count=lambda name: None,
        timings=Timings(expires=GRANTED),
        pace=pace,
    )
    return watcher, transport


def scanned_deadline(watcher: Watcher, now: float) -> float | None:
    """The definition: the earliest deadline of any subscription, or the next paced start."""
    times = [d for s in watcher.subscriptions if (d := s.next_deadline) is not None]
    if any(s.phase.value == "idle" for s in watcher.subscriptions):
        times.append(max(now, watcher._next_start))
    return min(times, default=None)


def answer_all(watcher: Watcher, transport: Recorder, now: float, status: int = 200) -> None:
    for request in transport.take():
        extra = (("Expires", str(GRANTED)), ("Contact", "<sip:127.0.0.1:5070;transport=tcp>"))
        reason = "OK" if status == 200 else "Forbidden"
        reply = response_to(request, status, reason, to_tag="srv", extra=extra)
        watcher.received(reply.encode(), SERVER, now)


async def test_2000_extensions_start_paced_and_each_refreshes_in_time_spread_out() -> None:
    watcher, transport = make_watcher(2000)
    started: dict[str, float] = {}
    refreshed: dict[str, list[float]] = {}
    now, wakes = 0.0, 0
    while now < 2 * GRANTED:
        deadline = watcher.tick(now)
        if wakes % 25 == 0:  # the scan is the O(n) the heap replaced: not every wake, or the test crawls
            assert deadline == scanned_deadline(watcher, now)
        for request in transport.sent:
            user = request.call_id  # a refresh keeps its dialog's Call-ID
            if user in started:
                refreshed.setdefault(user, []).append(now)
            else:
                started[user] = now
        answer_all(watcher, transport, now)
        assert deadline is not None
        now, wakes = max(deadline, now), wakes + 1
    assert len(started) == 2000
    assert 39.0 <= max(started.values()) <= 40.5, "50 new subscriptions per second: 2,000 take 40 s"
    for user, first in started.items():
        times = refreshed[user]
        assert 0.5 * GRANTED <= times[0] - first <= 0.8 * GRANTED, f"{user} refreshed at the wrong time"
    seconds = {int(times[0]) for times in refreshed.values()}
    assert len(seconds) > 150, "refreshes spread over the window, not synchronised"
    assert watcher.verdict().health is Health.CONNECTED
    assert watcher.verdict().detail == "2000 of 2000 subscriptions active"


async def test_a_deadline_moved_earlier_by_a_notify_is_the_one_the_watcher_wakes_for() -> None:
    watcher, transport = make_watcher(3)
    now = 0.0
    while (deadline := watcher.tick(now)) is not None and deadline <= 1.0:
        answer_all(watcher, transport, now)
        now = deadline
    answer_all(watcher, transport, now)
    sub = watcher.subscriptions[1]
    first = watcher.tick(now)
    assert first is not None and first == scanned_deadline(watcher, now) and first >= 0.5 * GRANTED
    notify = (
        f"NOTIFY sip:watcher@127.0.0.1:5091 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bKn1\r\n"
        f"From: <sip:1001@127.0.0.1>;tag=srv\r\nTo: <sip:watcher@127.0.0.1>;tag={sub.dialog.local_tag}\r\n"
        f"Call-ID: {sub.dialog.call_id}\r\nCSeq: 1 NOTIFY\r\nEvent: dialog\r\n"
        "Subscription-State: active;expires=100\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    watcher.received(notify, SERVER, now)
    deadline = watcher.tick(now)
    assert deadline == scanned_deadline(watcher, now)
    assert deadline is not None and now + 50 <= deadline <= now + 80, "refreshed before the 100 s run out"
    transport.take()
    watcher.tick(deadline)
    assert [r.call_id for r in transport.take()] == [sub.dialog.call_id]


async def test_health_follows_phases_refused_then_active_again() -> None:
    watcher, transport = make_watcher(4, pace=1000)
    now = 0.0
    while (deadline := watcher.tick(now)) is not None and len(transport.sent) < 4:
        now = deadline  # the paced starts, 1 ms apart
    requests = transport.take()
    for request in requests[:3]:
        transport.sent.append(request)
    answer_all(watcher, transport, now)
    transport.sent.append(requests[3])
    answer_all(watcher, transport, now, status=403)
    verdict = watcher.verdict()
    assert verdict.health is Health.DEGRADED
    assert verdict.detail.startswith("1 of 4 subscriptions not active; 1003: ")
    now = 601.0  # past refused_pause (600 s): the refused one tries again and is accepted
    watcher.tick(now)
    answer_all(watcher, transport, now)
    assert watcher.verdict().detail == "4 of 4 subscriptions active"
    assert watcher.accepted == {"1000", "1001", "1002", "1003"}
