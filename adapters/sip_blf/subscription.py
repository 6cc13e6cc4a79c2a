"""One RFC 6665 subscription per (extension, event package), h11-style: messages and ``now`` in,
messages to send, timers and state changes out. Pure: no socket, no clock, no asyncio.

``start(now)`` sends the first SUBSCRIBE; ``on_response``, ``on_notify`` and ``on_timer`` take what
arrived (or the time) and return a ``Step``: messages to send (requests go to the server, a
response goes back where its NOTIFY came from), ``StateChange`` facts about the extension, and
counter names. ``next_deadline`` says when ``on_timer`` wants to run; ``phase`` and ``detail``
are the subscription's honest status for the adapter's health.

Rules, each kept in one place:

* final answers: ``outcomes.RESPONSE_TO_REACTION`` (2xx active for the granted Expires; 401/407
  answered through ``digest.DigestClient``, a ``STALE`` nonce is not a failure, ``REJECTED`` is
  BAD_CREDENTIALS and a long pause; 423 retried with ``Min-Expires``; refusals named for an admin;
  481/408/5xx and a transaction timeout resubscribe with a capped, jittered backoff, and
  ``Retry-After`` is honoured);
* NOTIFY: checked and read by ``notify.read_notify`` and answered through ``notify.answer``;
  ``Subscription-State`` terminated follows ``message.TERMINATED_REASON_TO_RESUBSCRIBE``; a
  dialog-info version gap (``need_full_state``) refreshes the subscription for a full document;
* refresh at a random point between half and four fifths of the granted time, so subscriptions
  started together do not refresh together;
* retransmission and timeout: ``transaction.ClientTransaction`` (Timer E on UDP, Timer F).

While the subscription is lost (waiting to retry, refused, bad credentials) the facts it supplies
are ``unknown``: the core then keeps the person's last state for its grace period.
"""

from __future__ import annotations

import random

from adapters.sip_blf.credentials import Challenged, Credentials
from adapters.sip_blf.dialog import LocalParty, SubscribeDialog
from adapters.sip_blf.facts import BodyFacts, Facts
from adapters.sip_blf.lifecycle import DEFAULT_TIMINGS, LOST_PHASES, Phase, Step, Timings
from adapters.sip_blf.message import (
    Resubscribe,
    SipParseError,
    SipRequest,
    SipResponse,
    SubState,
    parse_delta_seconds,
)
from adapters.sip_blf.notify import NotifyRejected, answer, read_notify
from adapters.sip_blf.outcomes import Reaction, Words, reaction_for
from adapters.sip_blf.transaction import ClientTransaction, Due
from bridge.kit.backoff import Backoff
from bridge.model import EndpointKey, StateChange


class Subscription:
    """One (extension, event) subscription across dialogs, refreshes and retries."""

    def __init__(
        self,
        endpoint: EndpointKey,
        event: str,
        local: LocalParty,
        *,
        auth_user: str,
        password: str | None,
        rng: random.Random,
        timings: Timings = DEFAULT_TIMINGS,
        line_from_body: bool = True,
    ) -> None:
        self.endpoint, self.event, self.local, self.timings = endpoint, event, local, timings
        self._rng = rng
        self._auth = Credentials(auth_user, password, rng, timings.max_auth_rounds)
        self._words = Words(local.user, endpoint.extension, event)
        self._backoff = Backoff(timings.backoff_initial, timings.backoff_max, rng=rng)
        self._facts = BodyFacts(event, line_from_body)
        self.phase = Phase.IDLE
        self.detail = "not started"
        self.dialog = SubscribeDialog.fresh(local, endpoint.extension, event, rng)
        self._tx: ClientTransaction | None = None
        self._last_request: SipRequest | None = None
        self._expires = timings.expires
        self._refresh_at: float | None = None
        self._retry_at: float | None = None
        self._fresh_at = 0.0
        self._emitted = Facts()

    # --- inputs --------------------------------------------------------------------------------

    def start(self, now: float) -> Step:
        step = Step()
        self._fresh(now, step)
        return step

    def unsubscribe(self, now: float) -> Step:
        """Expires: 0 for a live dialog (we are stopping); nothing more is sent afterwards."""
        step = Step()
        if self.dialog.established and self.phase in (Phase.ACTIVE, Phase.PENDING):
            self._send(now, step, expires=0)
        self.phase, self.detail, self._tx = Phase.ENDED, "unsubscribed", None
        self._refresh_at = self._retry_at = None
        return step

    def on_response(self, response: SipResponse, now: float) -> Step:
        step = Step()
        tx = self._tx
        if tx is None or self.phase is Phase.ENDED:
            return step
        if response.status < 200:
            tx.provisional(now)
            return step
        tx.finish()
        self._tx = None
        reaction, template = reaction_for(response.status)
        if reaction is Reaction.ACCEPTED:
            self._accepted(response, now)
        elif reaction is Reaction.CHALLENGED:
            self._challenged(response, now, step)
        elif reaction is Reaction.INTERVAL_TOO_BRIEF:
            self._interval_too_brief(response, now, step)
        elif reaction is Reaction.RETRY:
            detail = f"the PBX answered {response.status} {response.reason[:40]}".strip()
            self._lose(now, step, detail, self._header_seconds(response, "Retry-After"))
        else:
            self._refuse(now, step, self._words.refusal(template, response.status, response.reason))
        return step

    def on_notify(self, request: SipRequest, now: float) -> Step:
        """Answer a NOTIFY of this dialog (the caller matched Call-ID and our tag) and read it."""
        step = Step()
        try:
            reading = read_notify(request, self.event)
            cseq, from_tag = request.cseq.number, request.from_.tag
        except NotifyRejected as exc:
            step.send.append(answer(request, exc.status))
            step.counts.append("notify_rejected")
            return step
        dialog = self.dialog
        if dialog.remote_tag is not None and from_tag != dialog.remote_tag:
            step.send.append(answer(request, 481))  # another fork's dialog: we hold one per subscription
            step.counts.append("notify_unknown_dialog")
            return step
        if dialog.remote_cseq is not None and cseq <= dialog.remote_cseq:
            if cseq < dialog.remote_cseq:
                step.send.append(answer(request, 500))
                return step
            step.send.append(answer(request, 200, contact=self.local.contact))  # a retransmission
            return step
        dialog.remote_cseq = cseq
        dialog.learn(request)
        step.send.append(answer(request, 200, contact=self.local.contact))
        step.counts.append("notifies")
        state = reading.state
        if state.state is SubState.TERMINATED:
            self._terminated(now, step, state.reason or "", state.resubscribe, state.retry_after)
            return step
        if state.expires is not None:
            self._schedule_refresh(now, min(state.expires, self._expires))
        self.phase = Phase.PENDING if state.state is SubState.PENDING else Phase.ACTIVE
        self.detail = self.phase.value
        facts, need_full = self._facts.read(reading.body)
        if need_full:
            step.counts.append("full_state_requests")
            if self._tx is None:
                self._send(now, step, expires=self._expires)
        self._emit(step, facts)
        return step

    def on_timer(self, now: float) -> Step:
        step = Step()
        tx = self._tx
        if tx is not None:
            due = tx.due(now)
            if due is Due.RETRANSMIT and self._last_request is not None:
                step.send.append(self._last_request)
                step.counts.append("retransmissions")
            elif due is Due.TIMEOUT:
                self._tx = None
                step.counts.append("transaction_timeouts")
                self._lose(now, step, "the PBX did not answer a SUBSCRIBE within 32 s", None)
        if self._retry_at is not None and now >= self._retry_at:
            self._fresh(now, step)
        elif self._refresh_at is not None and now >= self._refresh_at and self._tx is None:
            self._refresh_at = None
            self._send(now, step, expires=self._expires)
        return step

    @property
    def next_deadline(self) -> float | None:
        times = [t for t in (self._refresh_at, self._retry_at) if t is not None]
        if self._tx is not None and (deadline := self._tx.next_deadline) is not None:
            times.append(deadline)
        return min(times, default=None)

    @property
    def branch(self) -> str | None:
        return self._tx.branch if self._tx is not None else None

    # --- what happens ----------------------------------------------------------------------------

    def _fresh(self, now: float, step: Step) -> None:
        """A new dialog (new Call-ID and tag: the server forgot the old one or ended it)."""
        self.dialog = SubscribeDialog.fresh(self.local, self.endpoint.extension, self.event, self._rng)
        self._facts.reset()
        self._retry_at = self._refresh_at = None
        self._auth.reset()
        self._fresh_at = now
        if self.phase not in LOST_PHASES:
            self.phase, self.detail = Phase.SUBSCRIBING, "subscribing"
        self._send(now, step, expires=self._expires)

    def _send(self, now: float, step: Step, *, expires: int) -> None:
        request, branch = self.dialog.subscribe(expires, self._auth.authorization(self.dialog.request_uri))
        self._last_request = request
        self._tx = ClientTransaction(branch, now, self.local.reliable)
        step.send.append(request)
        step.counts.append("subscribes")

    def _accepted(self, response: SipResponse, now: float) -> None:
        self.dialog.learn(response)
        self._auth.reset()
        self._backoff.reset()
        granted = self._header_seconds(response, "Expires")
        granted = self._expires if granted is None else granted
        if self.phase in (Phase.SUBSCRIBING, *LOST_PHASES):
            self.phase, self.detail = Phase.ACTIVE, "active"
        if granted > 0:
            self._schedule_refresh(now, granted)

    def _challenged(self, response: SipResponse, now: float, step: Step) -> None:
        what, realm = self._auth.challenged(response)
        if what is Challenged.NO_PASSWORD:
            self._refuse(now, step, self._words.no_password(realm, response.status))
        elif what is Challenged.UNSUPPORTED:
            self._refuse(now, step, self._words.unsupported_auth(response.status))
        elif what is Challenged.REJECTED:
            step.counts.append("auth_rejected")
            detail = self._words.bad_credentials(realm, response.status)
            self._stop_for(now, step, Phase.BAD_CREDENTIALS, detail, self.timings.auth_pause)
        else:
            if what is Challenged.STALE:
                step.counts.append("auth_stale")
            self._send(now, step, expires=self._expires)

    def _interval_too_brief(self, response: SipResponse, now: float, step: Step) -> None:
        minimum = self._header_seconds(response, "Min-Expires")
        if minimum is None or minimum <= self._expires:
            self._lose(now, step, "the PBX answered 423 without a usable Min-Expires", None)
            return
        self._expires = minimum
        self._send(now, step, expires=self._expires)

    def _terminated(
        self, now: float, step: Step, reason: str, how: Resubscribe | None, retry: int | None
    ) -> None:
        self._tx = None
        if how is Resubscribe.NEVER:
            self._refuse(now, step, self._words.terminated(reason or "none"))
        elif how is Resubscribe.NOW and now - self._fresh_at >= self.timings.quick_resubscribe_after:
            self._retry_at = now + self._rng.random()  # timeout/deactivated: at once, not in step
            self._refresh_at = None
            self.phase, self.detail = Phase.SUBSCRIBING, f"resubscribing (terminated;reason={reason[:30]})"
        else:
            self._lose(now, step, f"the PBX ended the subscription (reason={reason[:30] or 'none'})", retry)

    def _lose(self, now: float, step: Step, detail: str, retry_after: float | None) -> None:
        delay = self._backoff.next()
        if retry_after is not None:
            delay = min(float(retry_after), self.timings.max_retry_after) + self._rng.random()
        self._stop_for(now, step, Phase.WAITING, detail, delay)

    def _refuse(self, now: float, step: Step, detail: str) -> None:
        self._stop_for(now, step, Phase.REFUSED, detail, self.timings.refused_pause)

    def _stop_for(self, now: float, step: Step, phase: Phase, detail: str, delay: float) -> None:
        self._tx, self._refresh_at = None, None
        self.phase, self.detail = phase, detail
        self._retry_at = now + delay
        self._emit(step, self._facts.unknown())

    def _schedule_refresh(self, now: float, granted: int) -> None:
        fraction = self.timings.refresh_from + self._rng.random() * (
            self.timings.refresh_to - self.timings.refresh_from
        )
        self._refresh_at = now + granted * fraction

    @staticmethod
    def _header_seconds(response: SipResponse, name: str) -> int | None:
        value = response.get(name)
        if value is None:
            return None
        try:
            return parse_delta_seconds(value.split(";", 1)[0].split("(", 1)[0], name)
        except SipParseError:
            return None

    def _emit(self, step: Step, facts: Facts) -> None:
        change = self._emitted.change_to(facts)
        self._emitted = self._emitted.merged(facts)
        if change is not None:
            line, dnd, away = change
            step.changes.append(StateChange(self.endpoint, line=line, dnd=dnd, away=away))
