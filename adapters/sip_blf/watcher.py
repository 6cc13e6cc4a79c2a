"""Many subscriptions over one SIP socket: routing, pacing, timers and the health they add up to.

``Watcher`` owns one ``Subscription`` per (extension, event) and the one ``SipTransport``:

* what arrives is parsed (``message.parse_message``; a malformed message is counted and, when it
  still names its Via, From, To, Call-ID and CSeq, answered 400); a response goes to the
  subscription whose transaction has its Via branch; a NOTIFY to the subscription whose dialog has
  its Call-ID and To tag, and one we hold no dialog for is answered 481; OPTIONS (a keep-alive
  probe) gets 200, any other request 405;
* subscriptions start paced (``pace`` new ones per second, default 50): a 2,000-extension PBX
  sees 40 s of start-up, not one burst (the Kamailio lab answered 500 to an unpaced burst of
  1,000); refreshes are spread by each subscription's own jitter;
* one loop sleeps on the injected clock until the earliest deadline of any subscription (or the
  next paced start), or until something arrives; the deadlines live in a heap (``heapq``, stale
  entries skipped when they surface, compacted when they pile up), so a wake costs O(log n) per
  due timer and nothing for the rest: 2,000 extensions are not scanned on every NOTIFY;
* ``verdict()`` sums the phases into one health (``WatcherVerdict``) from counts kept as each
  subscription changes phase (again no scan per wake); a wrong password raises
  ``AdapterAuthError`` (the SDK pauses the whole adapter), a PBX that answers none of our
  subscriptions any more raises ``AdapterError`` (the SDK reconnects with backoff).
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.sip_blf.dialog import LocalParty
from adapters.sip_blf.lifecycle import LIVE_PHASES, LOST_PHASES, Phase, Step, Timings
from adapters.sip_blf.message import (
    DEFAULT_LIMITS,
    SipLimits,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_to,
)
from adapters.sip_blf.subscription import Subscription
from adapters.sip_blf.transport import Peer, SipTransport
from bridge.errors import AdapterAuthError
from bridge.kit.health import Health
from bridge.model import EndpointKey, StateChange


@dataclass(frozen=True, slots=True)
class Watch:
    """One thing to subscribe to: an endpoint's extension and an event package."""

    endpoint: EndpointKey
    event: str
    line_from_body: bool = True


@dataclass(frozen=True, slots=True)
class WatcherVerdict:
    health: Health
    detail: str


class Watcher:
    def __init__(
        self,
        transport: SipTransport,
        watches: Sequence[Watch],
        *,
        user: str,
        domain: str,
        auth_user: str,
        password: str | None,
        rng: random.Random,
        on_change: Callable[[StateChange], None],
        count: Callable[[str], None],
        timings: Timings | None = None,
        pace: float = 50.0,
        limits: SipLimits = DEFAULT_LIMITS,
        accepted: set[str] | None = None,
    ) -> None:
        local = transport.local
        party = LocalParty(user, domain, local.host, local.port, local.transport)
        self.transport, self.limits, self.pace = transport, limits, pace
        self._on_change, self._count = on_change, count
        self.subscriptions = [
            Subscription(
                w.endpoint,
                w.event,
                party,
                auth_user=auth_user,
                password=password,
                rng=rng,
                timings=timings or Timings(),
                line_from_body=w.line_from_body,
            )
            for w in watches
        ]
        self._unstarted = list(reversed(self.subscriptions))
        self._next_start = 0.0
        self._by_branch: dict[str, Subscription] = {}
        self._by_dialog: dict[tuple[str, str], Subscription] = {}
        self.answered_once = False
        self.accepted = set() if accepted is None else accepted  # extensions the PBX accepted, ever
        self._timers: list[tuple[float, int, Subscription]] = []
        self._deadline_of: dict[Subscription, float] = {}
        self._order = itertools.count()
        self._phase_of = {sub: sub.phase for sub in self.subscriptions}
        self._phases = Counter(self._phase_of.values())
        self._lost: dict[Phase, dict[Subscription, None]] = {phase: {} for phase in LOST_PHASES}

    # --- time ------------------------------------------------------------------------------------

    def tick(self, now: float) -> float | None:
        """Start what the pace allows, run every due timer; the next deadline (None: nothing)."""
        while self._unstarted and now >= self._next_start:
            sub = self._unstarted.pop()
            self._apply(sub, sub.start(now), None)
            self._next_start = max(self._next_start, now) + 1.0 / self.pace
        due: list[Subscription] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, sub = heapq.heappop(timers)
            if self._deadline_of.get(sub) == deadline:
                del self._deadline_of[sub]
                due.append(sub)
        for sub in due:  # each at most once per tick, even if its next deadline is due again
            self._apply(sub, sub.on_timer(now), None)
        while timers and self._deadline_of.get(timers[0][2]) != timers[0][0]:
            heapq.heappop(timers)  # stale: that subscription's deadline moved since
        deadlines = [self._next_start] if self._unstarted else []
        if timers:
            deadlines.append(timers[0][0])
        return min(deadlines, default=None)

    def stop(self, now: float) -> None:
        """Unsubscribe every live subscription (Expires: 0), best effort."""
        for sub in self.subscriptions:
            self._apply(sub, sub.unsubscribe(now), None)

    # --- what arrives ----------------------------------------------------------------------------

    def received(self, data: bytes, peer: Peer, now: float) -> None:
        try:
            message = parse_message(data, self.limits)
        except SipParseError:
            self._count("malformed_messages")
            self._answer_malformed(data, peer)
            return
        if isinstance(message, SipResponse):
            self._response(message, now)
        else:
            self._request(message, peer, now)

    def _response(self, response: SipResponse, now: float) -> None:
        try:
            branch = response.vias[0].branch if response.vias else None
        except SipParseError:
            branch = None
        sub = self._by_branch.get(branch or "")
        if sub is None or sub.branch != branch:
            self._count("stray_responses")
            return
        self.answered_once = True
        self._apply(sub, sub.on_response(response, now), None)

    def _request(self, request: SipRequest, peer: Peer, now: float) -> None:
        if request.method == "NOTIFY":
            try:
                key = (request.call_id, request.to.tag or "")
            except SipParseError:
                key = ("", "")
            sub = self._by_dialog.get(key)
            if sub is not None:
                self.answered_once = True
                self._apply(sub, sub.on_notify(request, now), peer)
                return
            self._count("notify_unknown_dialog")
            status, reason = 481, "Call/Transaction Does Not Exist"
        elif request.method == "OPTIONS":
            status, reason = 200, "OK"
        else:
            self._count("unexpected_requests")
            status, reason = 405, "Method Not Allowed"
        self._send_response(response_to(request, status, reason), peer)

    def _answer_malformed(self, data: bytes, peer: Peer) -> None:
        """400 to a request whose five echoed headers survive a lenient reading (nothing else)."""
        head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        try:
            message = parse_message(head, self.limits)
        except SipParseError:
            return
        if isinstance(message, SipRequest) and message.method != "ACK":
            self._send_response(response_to(message, 400, "Bad Request"), peer)

    # --- plumbing --------------------------------------------------------------------------------

    def _apply(self, sub: Subscription, step: Step, peer: Peer | None) -> None:
        branch = sub.branch
        if branch is not None:
            self._by_branch[branch] = sub
        self._by_dialog[(sub.dialog.call_id, sub.dialog.local_tag)] = sub
        for message in step.send:
            if isinstance(message, SipResponse):
                self._send_response(message, peer)
            else:
                self.transport.send(message.encode())
        for name in step.counts:
            self._count(name)
        for change in step.changes:
            self._on_change(change)
        self._forget_stale(sub)
        self._schedule(sub)
        self._track_phase(sub)

    def _schedule(self, sub: Subscription) -> None:
        """Keep ``sub``'s next deadline in the heap; an entry it replaced is skipped when popped."""
        deadline = sub.next_deadline
        if deadline == self._deadline_of.get(sub):
            return
        if deadline is None:
            del self._deadline_of[sub]
            return
        self._deadline_of[sub] = deadline
        heapq.heappush(self._timers, (deadline, next(self._order), sub))
        if len(self._timers) > 2 * len(self._deadline_of) + 64:
            self._timers = [(d, next(self._order), s) for s, d in self._deadline_of.items()]
            heapq.heapify(self._timers)

    def _track_phase(self, sub: Subscription) -> None:
        before, after = self._phase_of[sub], sub.phase
        if before is after:
            return
        self._phase_of[sub] = after
        self._phases[before] -= 1
        self._phases[after] += 1
        self._lost.get(before, {}).pop(sub, None)
        if after in LOST_PHASES:
            self._lost[after][sub] = None
        if after in LIVE_PHASES:
            self.accepted.add(sub.endpoint.extension)

    def _forget_stale(self, sub: Subscription) -> None:
        """Drop routes of this subscription's finished transactions and replaced dialogs."""
        if len(self._by_branch) > 2 * len(self.subscriptions) + 16:
            live = {s.branch for s in self.subscriptions if s.branch is not None}
            self._by_branch = {b: s for b, s in self._by_branch.items() if b in live}
        if len(self._by_dialog) > 2 * len(self.subscriptions) + 16:
            dialogs = {(s.dialog.call_id, s.dialog.local_tag) for s in self.subscriptions}
            self._by_dialog = {k: s for k, s in self._by_dialog.items() if k in dialogs}

    def _send_response(self, response: SipResponse, peer: Peer | None) -> None:
        try:
            self.transport.send(response.encode(), peer)
        except ValueError:
            self._count("unanswerable_requests")

    # --- health ----------------------------------------------------------------------------------

    def verdict(self) -> WatcherVerdict:
        bad = next(iter(self._lost[Phase.BAD_CREDENTIALS]), None)
        if bad is not None:
            raise AdapterAuthError(bad.detail)
        total = len(self.subscriptions)
        live = sum(self._phases[p] for p in LIVE_PHASES)
        lost = sum(len(subs) for subs in self._lost.values())
        if not lost:
            if live:
                return WatcherVerdict(Health.CONNECTED, f"{live} of {total} subscriptions active")
            return WatcherVerdict(Health.CONNECTING, "subscribing")
        first = next(iter(self._lost[Phase.REFUSED] or self._lost[Phase.WAITING]))
        return WatcherVerdict(
            Health.DEGRADED,
            f"{lost} of {total} subscriptions not active; {first.endpoint.extension}: {first.detail}",
        )

    @property
    def pbx_silent(self) -> bool:
        """Every subscription lost to timeouts or errors and none answered since: the PBX is gone."""
        return bool(self.subscriptions) and self._phases[Phase.WAITING] == len(self.subscriptions)
