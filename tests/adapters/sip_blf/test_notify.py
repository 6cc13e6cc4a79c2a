"""Reading and answering one NOTIFY (adapters/sip_blf/notify.py).

A user would notice a break as a PBX that drops our subscription because we answered a good
NOTIFY with an error, or a watcher that swallows a broken NOTIFY silently instead of answering
with a status the PBX and the admin can act on.
"""

from __future__ import annotations

import dataclasses

import pytest

from adapters.sip_blf.dialoginfo import DialogInfo
from adapters.sip_blf.message import SipRequest, SipResponse, SubState, parse_message
from adapters.sip_blf.notify import NotifyRejected, answer, read_notify
from adapters.sip_blf.pidf import PidfReading
from tests.adapters.sip_blf.captures import load

CAPTURE_EVENTS = {
    "dialog_watcher_1001_sip.txt": "dialog",
    "dialog_watcher_1002_sip.txt": "dialog",
    "cancel_watcher_1001_sip.txt": "dialog",
    "reject_watcher_1001_sip.txt": "dialog",
    "dialog_auth_watcher_1001_sip.txt": "dialog",
    "presence_watcher_1001_sip.txt": "presence",
}
BODY_TYPE = {"dialog": DialogInfo, "presence": PidfReading}


def notifies(capture: str) -> list[SipRequest]:
    out = []
    for datagram in load(capture):
        if not datagram.sent and datagram.data.startswith(b"NOTIFY"):
            message = parse_message(datagram.data)
            assert isinstance(message, SipRequest)
            out.append(message)
    return out


@pytest.mark.parametrize("capture", sorted(CAPTURE_EVENTS))
def test_every_captured_notify_is_read_and_answered_200(capture: str) -> None:
    event = CAPTURE_EVENTS[capture]
    for notify in notifies(capture):
        reading = read_notify(notify, event)
        assert reading.event == event
        if reading.body is not None:
            assert isinstance(reading.body, BODY_TYPE[event])
        else:  # only the empty NOTIFYs: presence with nothing published, and the expiry NOTIFY
            assert not notify.body
        ok = answer(notify, 200, contact="<sip:watcher@127.0.0.1:5091>")
        assert (ok.status, ok.reason, ok.get("Contact")) == (200, "OK", "<sip:watcher@127.0.0.1:5091>")


def test_the_expiry_notify_reads_as_terminated_without_a_body() -> None:
    last = read_notify(notifies("dialog_watcher_1001_sip.txt")[-1], "dialog")
    assert last.state.state is SubState.TERMINATED and last.state.reason == "timeout"
    assert last.body is None


def _variant(old: bytes, new: bytes) -> SipRequest:
    data = load("dialog_watcher_1001_sip.txt")
    notify = next(d.data for d in data if not d.sent and d.data.startswith(b"NOTIFY"))
    head, _, body = notify.partition(b"\r\n\r\n")
    assert old in notify
    if old in body:  # re-encode so Content-Length follows the edited body
        message = parse_message(notify)
        assert isinstance(message, SipRequest)
        return parse_message(dataclasses.replace(message, body=body.replace(old, new, 1)).encode())  # type: ignore[return-value]
    message = parse_message(head.replace(old, new, 1) + b"\r\n\r\n" + body)
    assert isinstance(message, SipRequest)
    return message


@pytest.mark.parametrize(
    ("old", "new", "status", "names"),
    [
        (b"Event: dialog", b"Event: presence", 489, "event 'presence'"),
        (b"Subscription-State: active;expires=30", b"X-Gone: 1", 400, "missing Subscription-State"),
        (b"Subscription-State: active", b"Subscription-State: wobbly", 400, "unknown Subscription-State"),
        (b"CSeq: 2 NOTIFY", b"CSeq: two NOTIFY", 400, "bad CSeq"),
        (b"application/dialog-info+xml", b"application/xpidf+xml", 415, "xpidf"),
        (b'state="full"', b'state="odd"', 400, "neither full nor partial"),
        (b"<state>terminated</state>", b"<state>wobbly</state>", 400, "not an RFC 4235 state"),
        (b"NOTIFY sip:", b"SUBSCRIBE sip:", 400, "not a NOTIFY"),
    ],
    ids=[
        "wrong event",
        "no substate",
        "bad substate",
        "bad cseq",
        "foreign body",
        "bad doc",
        "bad state",
        "method",
    ],
)
def test_a_broken_notify_is_rejected_with_a_status_to_answer(
    old: bytes, new: bytes, status: int, names: str
) -> None:
    notify = _variant(old, new)
    with pytest.raises(NotifyRejected, match=names) as caught:
        read_notify(notify, "dialog")
    assert caught.value.status == status
    response = answer(notify, status)
    wire = parse_message(response.encode())
    assert isinstance(wire, SipResponse) and wire.status == status
    assert wire.call_id == notify.call_id
    if status == 415:
        assert wire.get("Accept") == "application/dialog-info+xml"
    assert wire.get("Contact") is None
