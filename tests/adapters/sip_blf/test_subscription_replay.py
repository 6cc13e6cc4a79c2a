"""Our subscription fed the datagrams Kamailio really sent (tests/fixtures/kamailio/*_sip.txt).

Expected line states come from the readable NOTIFY sequences recorded beside them
(``dialog_watcher_100{1,2}_notifies.txt``: callee early -> confirmed -> terminated, caller Trying ->
early -> confirmed -> terminated) and the dialog-info rules of RFC 4235 / reference sip-presence.md.
"""

from __future__ import annotations

import hashlib

from adapters.sip_blf.lifecycle import Phase
from adapters.sip_blf.message import SipRequest, SipResponse, parse_auth_params
from bridge.model import LineState, Toggle
from tests.adapters.sip_blf.replay import Replay, make_subscription


def lines(replay: Replay) -> list[LineState | None]:
    return [change.line for change in replay.changes]


def test_callee_sees_idle_ringing_in_call_idle() -> None:
    """1001 answers a call from 1002: Teams would see the call start and end (ringing in between)."""
    replay = Replay(make_subscription("1001"))
    replay.run("dialog_watcher_1001_sip.txt")
    assert lines(replay)[:4] == [LineState.IDLE, LineState.RINGING, LineState.IN_CALL, LineState.IDLE]
    assert {c.endpoint.extension for c in replay.changes} == {"1001"}


def test_caller_sees_dialing_then_in_call() -> None:
    """1002 places the call: Trying (capital T) and early are dialing, confirmed is in a call."""
    replay = Replay(make_subscription("1002"))
    replay.run("dialog_watcher_1002_sip.txt")
    assert lines(replay)[:4] == [LineState.IDLE, LineState.DIALING, LineState.IN_CALL, LineState.IDLE]


def test_every_notify_is_answered_200_with_its_own_via_and_cseq() -> None:
    """Kamailio retransmits (and finally drops the subscription) when a NOTIFY goes unanswered."""
    replay = Replay(make_subscription("1001"))
    replay.run("dialog_watcher_1001_sip.txt")
    answers = [m for m in replay.sent if isinstance(m, SipResponse)]
    notifies = sum(1 for step in replay.steps for name in step.counts if name == "notifies")
    assert notifies >= 5 and len(answers) == notifies
    assert all(a.status == 200 and a.get("Via") and a.cseq.method == "NOTIFY" for a in answers)
    assert all(a.get("Contact") == "<sip:watcher@127.0.0.1:5091>" for a in answers)


def test_expiry_notify_ends_the_subscription_and_resubscribes() -> None:
    """The capture's last NOTIFY is terminated;reason=timeout (RFC 6665: resubscribe at once): a new
    SUBSCRIBE with a new Call-ID follows within a second, the line unknown in between is not said."""
    sub = make_subscription("1001")
    replay = Replay(sub)
    replay.run("dialog_watcher_1001_sip.txt")
    old_call_id = sub.dialog.call_id
    deadline = sub.next_deadline
    assert deadline is not None
    last_offset = 40.0  # the capture's last NOTIFY came about 33 s in
    assert deadline < last_offset
    step = sub.on_timer(deadline)
    (request,) = step.send
    assert isinstance(request, SipRequest) and request.method == "SUBSCRIBE"
    assert request.call_id != old_call_id and request.to.tag is None


def test_digest_auth_replay_answers_kamailio_407_with_a_correct_md5_response() -> None:
    """With -A WITH_AUTH the lab challenges every SUBSCRIBE (407, qop=auth); the retry must carry a
    Proxy-Authorization Kamailio accepts: checked here by recomputing RFC 2617's formula."""
    sub = make_subscription("1001", password="labpass")
    replay = Replay(sub)
    replay.run("dialog_auth_watcher_1001_sip.txt", stop_after=3)  # 407, 200, the first NOTIFY
    subscribes = [m for m in replay.sent if isinstance(m, SipRequest)]
    retry = subscribes[1]
    assert retry.cseq.number == 2 and retry.call_id == subscribes[0].call_id
    scheme, params = parse_auth_params(retry.require("Proxy-Authorization"))
    assert scheme == "digest" and params["qop"] == "auth" and params["nc"] == "00000001"

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"watcher:{params['realm']}:labpass")
    ha2 = md5(f"SUBSCRIBE:{params['uri']}")
    expected = md5(f"{ha1}:{params['nonce']}:{params['nc']}:{params['cnonce']}:auth:{ha2}")
    assert params["response"] == expected and params["uri"] == retry.uri
    assert sub.phase is Phase.ACTIVE
    assert lines(replay)[0] is LineState.IDLE


def test_wrong_password_is_bad_credentials_then_a_long_pause() -> None:
    """Kamailio challenges a wrong password again: BAD_CREDENTIALS naming the realm, the line unknown,
    and no further SUBSCRIBE for the whole auth pause (no account lockout, no hot loop)."""
    sub = make_subscription("1001", password="not-the-password")
    replay = Replay(sub)
    replay.run("auth_wrong_password_watcher_sip.txt", stop_after=2)
    assert sub.phase is Phase.BAD_CREDENTIALS
    assert "realm '127.0.0.1'" in sub.detail and "not-the-password" not in sub.detail
    assert lines(replay) == [LineState.UNKNOWN]
    subscribes_before = len(replay.sent)
    assert subscribes_before == 2
    for second in range(1, 300):
        assert sub.on_timer(float(second)).send == []
    assert sub.next_deadline is not None and sub.next_deadline >= 300.0


def test_presence_replay_gives_dnd_and_away() -> None:
    """PIDF PUBLISHes relayed by Kamailio (away, busy + "Do Not Disturb"): DND and away follow them."""
    replay = Replay(make_subscription("1001", "presence"))
    replay.run("presence_watcher_1001_sip.txt", stop_after=7)  # 200 and six NOTIFYs; not the 7th
    dnd = [c.dnd for c in replay.changes if c.dnd is not None]
    away = [c.away for c in replay.changes if c.away is not None]
    # notifies.txt: empty (nothing published), open, on-the-phone, away, busy + "Do Not Disturb", closed
    assert dnd == [Toggle.OFF, Toggle.ON, Toggle.OFF]
    assert away == [Toggle.OFF, Toggle.ON, Toggle.OFF]
