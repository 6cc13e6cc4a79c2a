"""One incoming NOTIFY -> what it says and how to answer it (RFC 6665 4.1.3, RFC 3261 8.2). Pure.

``read_notify(request, event)`` checks what the subscription layer needs before it trusts a
NOTIFY (Event package, Subscription-State, a body type that fits the package) and reads the
body with the package's reader. It raises ``NotifyRejected`` carrying the status to answer
(400 malformed, 489 wrong event package, 415 a body type we cannot read), so a hostile or
broken NOTIFY is answered, counted and survived. Matching the NOTIFY to a subscription (and
481 when none matches) is the subscription layer's job: it owns the dialogs.

``NOTIFY_BODY_READERS`` is the one table: event package -> accepted Content-Type -> reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.sip_blf.dialoginfo import DialogInfo, parse_dialog_info
from adapters.sip_blf.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    SubscriptionState,
    parse_event,
    parse_subscription_state,
    response_to,
)
from adapters.sip_blf.pidf import PidfReading, parse_pidf
from adapters.sip_blf.reginfo import RegInfo, parse_reginfo

NotifyBody = DialogInfo | PidfReading | RegInfo

NOTIFY_BODY_READERS: dict[str, dict[str, Callable[[bytes], NotifyBody | None]]] = {
    "dialog": {"application/dialog-info+xml": parse_dialog_info},
    "presence": {"application/pidf+xml": parse_pidf},
    "reg": {"application/reginfo+xml": parse_reginfo},
}
# What each package's SUBSCRIBE puts in Accept (the same table, so the two never disagree).
ACCEPT_FOR_EVENT: dict[str, str] = {event: ", ".join(types) for event, types in NOTIFY_BODY_READERS.items()}

REASONS = {400: "Bad Request", 415: "Unsupported Media Type", 481: "Call/Transaction Does Not Exist",
           489: "Bad Event"}  # fmt: skip


class NotifyRejected(SipParseError):
    """The NOTIFY cannot be used: answer it with ``status`` (and count ``problem``)."""

    def __init__(self, status: int, problem: str) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {REASONS[status]}: {problem}")


@dataclass(frozen=True, slots=True)
class NotifyReading:
    event: str
    state: SubscriptionState
    body: NotifyBody | None  # None: no body (e.g. the expiry NOTIFY) or an empty document


def read_notify(request: SipRequest, event: str) -> NotifyReading:
    """Check and read a NOTIFY for a subscription to ``event`` (``dialog``, ``presence``...)."""
    if request.method != "NOTIFY":
        raise NotifyRejected(400, f"{request.method[:20]} is not a NOTIFY")
    try:
        package = parse_event(request.require("Event")).package
        state = parse_subscription_state(request.require("Subscription-State"))
        _ = (request.call_id, request.cseq, request.from_.tag, request.to.tag)
    except SipParseError as exc:
        raise NotifyRejected(400, str(exc)) from None
    if package != event:
        raise NotifyRejected(489, f"event {package[:30]!r} where {event!r} was subscribed")
    readers = NOTIFY_BODY_READERS.get(event, {})
    content_type = request.content_type
    if not request.body.strip():
        return NotifyReading(package, state, None)
    reader = readers.get(content_type or "")
    if reader is None:
        raise NotifyRejected(415, f"body of type {(content_type or 'none')[:60]!r} for event {event!r}")
    try:
        body = reader(request.body)
    except SipParseError as exc:
        raise NotifyRejected(400, str(exc)) from None
    return NotifyReading(package, state, body)


def answer(request: SipRequest, status: int, *, contact: str | None = None) -> SipResponse:
    """The response to a NOTIFY (200 with our Contact, or the status a rejection carries)."""
    extra = [("Contact", contact)] if contact is not None and status < 300 else []
    accept = ACCEPT_FOR_EVENT.get(_event_or_empty(request)) if status == 415 else None
    if accept:
        extra.append(("Accept", accept))
    return response_to(request, status, REASONS.get(status, "OK"), extra=extra)


def _event_or_empty(request: SipRequest) -> str:
    try:
        return parse_event(request.get("Event") or "").package
    except SipParseError:
        return ""
