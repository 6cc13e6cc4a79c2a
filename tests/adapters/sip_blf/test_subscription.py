"""The subscription state machine, row by row. Expected values come from the RFCs (cited per
table) and DESIGN.md, not from the tables under test."""

from __future__ import annotations

import pytest

from adapters.sip_blf.dialog import LocalParty
from adapters.sip_blf.lifecycle import Phase, Timings
from adapters.sip_blf.message import SipRequest, SipResponse, response_to
from adapters.sip_blf.subscription import Subscription
from bridge.model import LineState
from tests.adapters.sip_blf.replay import make_subscription

FULL = (
    b'<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{v}" '
    b'state="{s}" entity="sip:1001@127.0.0.1">{d}</dialog-info>'
)
CONFIRMED = b'<dialog id="a" direction="recipient"><state>confirmed</state></dialog>'


def started(sub: Subscription, now: float = 0.0) -> SipRequest:
    (request,) = sub.start(now).send
    assert isinstance(request, SipRequest)
    return request


def reply(request: SipRequest, status: int, *extra: tuple[str, str], reason: str = "X") -> SipResponse:
    return response_to(request, status, reason, to_tag="srv", extra=extra)


def notify(sub: Subscription, state: str, body: bytes = b"", cseq: int = 1) -> SipRequest:
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKn" + str(cseq)),
        ("From", "<sip:1001@127.0.0.1>;tag=srv"),
        ("To", f"<sip:watcher@127.0.0.1>;tag={sub.dialog.local_tag}"),
        ("Call-ID", sub.dialog.call_id),
        ("CSeq", f"{cseq} NOTIFY"),
        ("Event", "dialog"),
        ("Subscription-State", state),
        ("Contact", "<sip:127.0.0.1:5070>"),
    ]
    if body:
        headers.append(("Content-Type", "application/dialog-info+xml"))
    return SipRequest(tuple(headers), body, "NOTIFY", "sip:watcher@127.0.0.1:5091")


def doc(version: int, state: str = "full", dialogs: bytes = b"") -> bytes:
    return (
        FULL.replace(b"{v}", str(version).encode()).replace(b"{s}", state.encode()).replace(b"{d}", dialogs)
    )


# --- the SUBSCRIBE itself (RFC 3261 8.1.1, RFC 3581, RFC 6665 4.1.2) ------------------------------


def test_initial_subscribe_carries_what_rfc_3261_and_6665_require() -> None:
    request = started(make_subscription("1001"))
    assert request.method == "SUBSCRIBE" and request.uri == "sip:1001@127.0.0.1"
    (via,) = request.vias
    assert via.transport == "UDP" and (via.host, via.port) == ("127.0.0.1", 5091)
    assert via.branch is not None and via.branch.startswith("z9hG4bK") and "rport" in via.params
    assert request.from_.uri == "sip:watcher@127.0.0.1" and request.from_.tag
    assert request.to.uri == "sip:1001@127.0.0.1" and request.to.tag is None
    assert request.call_id and (request.cseq.number, request.cseq.method) == (1, "SUBSCRIBE")
    assert request.get("Max-Forwards") == "70" and request.get("Event") == "dialog"
    assert request.get("Accept") == "application/dialog-info+xml" and request.get("Expires") == "3600"
    assert request.get("Contact") == "<sip:watcher@127.0.0.1:5091>"


def test_ipv6_and_tcp_addresses_are_bracketed_and_name_the_transport() -> None:
    local = LocalParty("watcher", "pbx.example", "::1", 5070, "TCP")
    request = started(make_subscription("1001", local=local))
    assert request.require("Via").startswith("SIP/2.0/TCP [::1]:5070;branch=z9hG4bK")
    assert request.get("Contact") == "<sip:watcher@[::1]:5070;transport=tcp>"
    assert request.uri == "sip:1001@pbx.example"


def test_presence_subscription_accepts_pidf() -> None:
    request = started(make_subscription("1001", "presence"))
    assert request.get("Event") == "presence" and request.get("Accept") == "application/pidf+xml"


# --- final answers (RFC 3261 21, RFC 6665 4.1.2.1) -------------------------------------------------

# status -> (phase after it, words the admin must read, or "")
ANSWERS = [
    (200, Phase.ACTIVE, ""),
    (202, Phase.ACTIVE, ""),  # older stacks (RFC 3265)
    (403, Phase.REFUSED, "allow_subscribe"),
    (404, Phase.REFUSED, "does not know extension 1001"),
    (489, Phase.REFUSED, "'dialog' event package"),
    (481, Phase.WAITING, ""),
    (408, Phase.WAITING, ""),
    (503, Phase.WAITING, ""),
    (500, Phase.WAITING, ""),
    (603, Phase.REFUSED, "603"),
]


@pytest.mark.parametrize(("status", "phase", "words"), ANSWERS, ids=[str(row[0]) for row in ANSWERS])
def test_final_answer(status: int, phase: Phase, words: str) -> None:
    sub = make_subscription("1001")
    request = started(sub)
    step = sub.on_response(reply(request, status, ("Expires", "600")), 1.0)
    assert sub.phase is phase
    assert words in sub.detail
    if phase is Phase.ACTIVE:
        assert step.changes == []
        return
    assert [c.line for c in step.changes] == [LineState.UNKNOWN], "a lost subscription makes the line unknown"
    deadline = sub.next_deadline
    assert deadline is not None
    if phase is Phase.REFUSED:
        assert deadline == pytest.approx(1.0 + 600.0)
    else:  # first backoff step: equal jitter over [initial/2, initial] (bridge.kit.backoff)
        assert 1.5 <= deadline <= 2.0


def test_retry_after_is_honoured() -> None:
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 503, ("Retry-After", "120")), 0.0)
    assert sub.next_deadline is not None and 120.0 <= sub.next_deadline <= 121.0
    assert sub.on_timer(119.9).send == []
    (again,) = sub.on_timer(121.0).send
    assert isinstance(again, SipRequest) and again.method == "SUBSCRIBE"


def test_backoff_grows_and_is_capped() -> None:
    """Repeated 503s without Retry-After: delays grow and never exceed the cap (no hammering)."""
    sub = make_subscription("1001", timings=Timings(backoff_initial=1.0, backoff_max=30.0))
    now, delays = 0.0, []
    request = started(sub)
    for _ in range(10):
        sub.on_response(reply(request, 503), now)
        assert sub.next_deadline is not None
        delays.append(sub.next_deadline - now)
        now = sub.next_deadline
        (request,) = sub.on_timer(now).send  # type: ignore[assignment]
    assert delays[0] <= 1.0 and delays[3] > delays[0]
    assert max(delays) <= 30.0 and delays[-1] >= 15.0


def test_granted_expires_sets_a_jittered_refresh_that_keeps_the_dialog() -> None:
    """Refresh between half and four fifths of the granted time, in-dialog (RFC 6665 4.1.2.1)."""
    points = []
    for seed in range(20):
        sub = make_subscription("1001", seed=seed)
        request = started(sub)
        contact = ("Contact", "<sip:127.0.0.1:5070>")
        sub.on_response(reply(request, 200, ("Expires", "600"), contact), 0.0)
        refresh_at = sub.next_deadline
        assert refresh_at is not None and 300.0 <= refresh_at <= 480.0
        points.append(refresh_at)
        (refresh,) = sub.on_timer(refresh_at).send
        assert isinstance(refresh, SipRequest)
        assert refresh.uri == "sip:127.0.0.1:5070" and refresh.to.tag == "srv"
        assert refresh.call_id == request.call_id and refresh.cseq.number == 2
    assert len({round(p) for p in points}) > 10, "refreshes of many subscriptions are spread"


def test_interval_too_brief_retries_with_min_expires() -> None:
    sub = make_subscription("1001", timings=Timings(expires=60))
    (again,) = sub.on_response(reply(started(sub), 423, ("Min-Expires", "1800")), 0.0).send
    assert isinstance(again, SipRequest) and again.get("Expires") == "1800"


# --- NOTIFY (RFC 6665 4.1.3, 4.2.2; RFC 4235 4.1.2) ----------------------------------------------

# reason -> what RFC 6665 4.2.2 lets a subscriber do, as (phase, earliest, latest resubscribe)
TERMINATIONS = [
    ("terminated;reason=timeout", Phase.SUBSCRIBING, 100.0, 101.0),  # "may resubscribe immediately"
    ("terminated;reason=deactivated", Phase.SUBSCRIBING, 100.0, 101.0),
    ("terminated;reason=probation;retry-after=60", Phase.WAITING, 160.0, 161.0),
    ("terminated;reason=giveup;retry-after=30", Phase.WAITING, 130.0, 131.0),
    ("terminated;reason=rejected", Phase.REFUSED, 700.0, 700.0),  # "should not resubscribe"
    ("terminated;reason=noresource", Phase.REFUSED, 700.0, 700.0),
    ("terminated", Phase.WAITING, 100.5, 101.0),  # no reason: like an unknown one, a backoff
]


@pytest.mark.parametrize(
    ("state", "phase", "earliest", "latest"), TERMINATIONS, ids=[t[0] for t in TERMINATIONS]
)
def test_terminated_notify(state: str, phase: Phase, earliest: float, latest: float) -> None:
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 200, ("Expires", "3600")), 0.0)
    step = sub.on_notify(notify(sub, state), 100.0)
    (ok,) = step.send
    assert isinstance(ok, SipResponse) and ok.status == 200
    assert sub.phase is phase
    assert sub.next_deadline is not None and earliest <= sub.next_deadline <= latest
    if phase is Phase.REFUSED:
        assert "reason=" in sub.detail


def test_a_quick_timeout_termination_backs_off_instead_of_looping() -> None:
    """A PBX ending every subscription as soon as it starts gets a backoff, not a hot loop."""
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 200), 0.0)
    sub.on_notify(notify(sub, "terminated;reason=timeout"), 1.0)
    assert sub.phase is Phase.WAITING


def test_version_gap_asks_for_full_state_by_refreshing() -> None:
    sub = make_subscription("1001")
    request = started(sub)
    sub.on_response(reply(request, 200, ("Expires", "600")), 0.0)
    first = sub.on_notify(notify(sub, "active;expires=600", doc(1)), 0.1)
    assert [c.line for c in first.changes] == [LineState.IDLE]
    gap = sub.on_notify(notify(sub, "active;expires=599", doc(3, "partial", CONFIRMED), cseq=2), 1.0)
    assert gap.changes == [] and "full_state_requests" in gap.counts
    refresh = [m for m in gap.send if isinstance(m, SipRequest)]
    assert len(refresh) == 1 and refresh[0].call_id == request.call_id and refresh[0].to.tag == "srv"
    full = sub.on_notify(notify(sub, "active;expires=598", doc(4, "full", CONFIRMED), cseq=3), 1.1)
    assert [c.line for c in full.changes] == [LineState.IN_CALL]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (("Event", "presence"), 489),  # RFC 6665 4.1.3: an event we did not subscribe to
        (("Subscription-State", "sleepy"), 400),
    ],
    ids=["wrong-event", "bad-subscription-state"],
)
def test_unusable_notify_is_answered_and_counted(change: tuple[str, str], status: int) -> None:
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 200), 0.0)
    good = notify(sub, "active")
    bad = SipRequest(
        tuple(change if k == change[0] else (k, v) for k, v in good.headers), b"", "NOTIFY", good.uri
    )
    step = sub.on_notify(bad, 0.5)
    (answer,) = step.send
    assert isinstance(answer, SipResponse) and answer.status == status
    assert step.counts == ["notify_rejected"] and sub.phase is Phase.ACTIVE


def test_an_older_cseq_is_refused_and_a_retransmission_answered_again() -> None:
    """RFC 3261 12.2.2: lower CSeq -> 500; the same NOTIFY again is answered but not re-applied."""
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 200), 0.0)
    sub.on_notify(notify(sub, "active", doc(1), cseq=5), 0.1)
    again = sub.on_notify(notify(sub, "active", doc(1), cseq=5), 0.2)
    assert [m.status for m in again.send if isinstance(m, SipResponse)] == [200] and again.changes == []
    older = sub.on_notify(notify(sub, "active", doc(1), cseq=4), 0.3)
    assert [m.status for m in older.send if isinstance(m, SipResponse)] == [500]


def test_a_lost_subscription_reports_its_state_again_once_back() -> None:
    """unknown while lost, then the fresh state, even if it equals what was known before."""
    sub = make_subscription("1001")
    sub.on_response(reply(started(sub), 200), 0.0)
    sub.on_notify(notify(sub, "active", doc(1)), 0.1)
    deadline = sub.next_deadline
    assert deadline is not None
    (refresh,) = sub.on_timer(deadline).send
    assert isinstance(refresh, SipRequest)
    gone = sub.on_response(reply(refresh, 481), deadline)
    assert [c.line for c in gone.changes] == [LineState.UNKNOWN]
    retry_at = sub.next_deadline
    assert retry_at is not None
    (fresh,) = sub.on_timer(retry_at).send
    assert isinstance(fresh, SipRequest) and fresh.call_id != refresh.call_id
    sub.on_response(reply(fresh, 200), retry_at)
    back = sub.on_notify(notify(sub, "active", doc(1)), retry_at + 0.1)
    assert [c.line for c in back.changes] == [LineState.IDLE] and sub.phase is Phase.ACTIVE
