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
  next paced start), or until something arrives;
* ``verdict()`` sums the phases into one health (``WatcherVerdict``); a wrong password raises
  ``AdapterAuthError`` (the SDK pauses the whole adapter), a PBX that answers none of our
  subscriptions any more raises ``AdapterError`` (the SDK reconnects with backoff).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.sip_blf.dialog import LocalParty
from adapters.sip_blf.message import (
    DEFAULT_LIMITS,
    SipLimits,
    SipParseError,
    SipRequest,
    SipResponse,
    parse_message,
    response_to,
)
from adapters.sip_blf.subscription import LOST_PHASES, Phase, Step, Subscription, Timings
from adapters.sip_blf.transport import Peer, SipTransport
from bridge.errors import AdapterAuthError
from bridge.kit.health import Health
from bridge.model import EndpointKey, StateChange

LIVE_PHASES = frozenset({Phase.ACTIVE, Phase.PENDING})


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

    # --- time ------------------------------------------------------------------------------------

    def tick(self, now: float) -> float | None:
        """Start what the pace allows, run every due timer; the next deadline (None: nothing)."""
        while self._unstarted and now >= self._next_start:
            sub = self._unstarted.pop()
            self._apply(sub, sub.start(now), None)
            self._next_start = max(self._next_start, now) + 1.0 / self.pace
        deadlines = [self._next_start] if self._unstarted else []
        for sub in self.subscriptions:
            deadline = sub.next_deadline
            if deadline is not None and deadline <= now:
                self._apply(sub, sub.on_timer(now), None)
                deadline = sub.next_deadline
            if deadline is not None:
                deadlines.append(deadline)
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
        phases = Counter(sub.phase for sub in self.subscriptions)
        bad = next((s for s in self.subscriptions if s.phase is Phase.BAD_CREDENTIALS), None)
        if bad is not None:
            raise AdapterAuthError(bad.detail)
        total, live = len(self.subscriptions), sum(phases[p] for p in LIVE_PHASES)
        lost = [s for s in self.subscriptions if s.phase in LOST_PHASES]
        if not lost:
            if live:
                return WatcherVerdict(Health.CONNECTED, f"{live} of {total} subscriptions active")
            return WatcherVerdict(Health.CONNECTING, "subscribing")
        first = next((s for s in lost if s.phase is Phase.REFUSED), lost[0])
        return WatcherVerdict(
            Health.DEGRADED,
            f"{len(lost)} of {total} subscriptions not active; {first.endpoint.extension}: {first.detail}",
        )

    @property
    def pbx_silent(self) -> bool:
        """Every subscription lost to timeouts or errors and none answered since: the PBX is gone."""
        return bool(self.subscriptions) and all(s.phase is Phase.WAITING for s in self.subscriptions)
