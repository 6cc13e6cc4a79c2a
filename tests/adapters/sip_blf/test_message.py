"""SIP message parsing and building (adapters/sip_blf/message.py).

What a user would notice if these broke: a NOTIFY from the PBX not understood (no lamp change,
or the subscription dropped for a 400 we should not have sent), a SUBSCRIBE the PBX refuses, or
a watcher that can be made to buffer without limit by one hostile peer.
"""

from __future__ import annotations

import random

import pytest

from adapters.sip_blf.message import (
    NameAddr,
    Resubscribe,
    SipFramingError,
    SipLimits,
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    SubState,
    auth_challenges,
    parse_cseq,
    parse_delta_seconds,
    parse_event,
    parse_message,
    parse_name_addr,
    parse_subscription_state,
    parse_via,
    response_to,
)
from tests.adapters.sip_blf.captures import FIXTURES, load, load_stream

CAPTURES = sorted(p.name for p in FIXTURES.glob("*_sip.txt"))


@pytest.mark.parametrize("name", CAPTURES)
def test_every_captured_datagram_parses_and_survives_a_round_trip(name: str) -> None:
    for datagram in load(name):
        message = parse_message(datagram.data)
        again = parse_message(message.encode())
        assert _without_length(again) == _without_length(message)
        assert message.call_id and message.cseq.number >= 1
        assert message.vias[0].branch is not None and message.vias[0].branch.startswith("z9hG4bK")


def _without_length(message: SipRequest | SipResponse) -> tuple[object, ...]:
    """Everything but where Content-Length stands (encode() always writes it last)."""
    start = (
        (message.method, message.uri) if isinstance(message, SipRequest) else (message.status, message.reason)
    )
    return (*start, tuple(h for h in message.headers if h[0] != "Content-Length"), message.body)


def _first(name: str, start: bytes, *, sent: bool) -> bytes:
    return next(d.data for d in load(name) if d.sent is sent and d.data.startswith(start))


def test_a_captured_notify_reads_as_kamailio_sent_it() -> None:
    notify = parse_message(_first("dialog_watcher_1001_sip.txt", b"NOTIFY", sent=False))
    assert isinstance(notify, SipRequest)
    assert notify.method == "NOTIFY"
    assert notify.uri == "sip:watcher@127.0.0.1:5091"
    assert notify.get("event") == "dialog"
    assert notify.content_type == "application/dialog-info+xml"
    assert notify.cseq.method == "NOTIFY"
    assert notify.to.tag == "b22d3952"
    assert notify.from_.tag is not None and notify.from_.uri == "sip:1001@127.0.0.1"
    assert parse_subscription_state(notify.require("Subscription-State")) == parse_subscription_state(
        "active;expires=30"
    )
    assert notify.body.startswith(b'<?xml version="1.0"?>') and len(notify.body) == int(
        notify.require("Content-Length")
    )


def test_the_servers_via_tells_us_our_public_address() -> None:
    response = parse_message(_first("dialog_auth_watcher_1001_sip.txt", b"SIP/2.0 200", sent=False))
    assert isinstance(response, SipResponse) and response.status == 200
    via = response.vias[0]
    assert (via.transport, via.host, via.port) == ("UDP", "127.0.0.1", 5091)
    assert via.rport == 5091 and via.received == "127.0.0.1"
    assert via.branch == "z9hG4bK6652aa80fbaa"
    assert response.to.tag == "25483a2a9fa04090c2dd4f1854d1ed2b-da8036f0"
    assert response.get("Expires") == "30"


def test_a_407_challenge_is_found() -> None:
    response = parse_message(_first("dialog_auth_watcher_1001_sip.txt", b"SIP/2.0 407", sent=False))
    assert isinstance(response, SipResponse)
    assert response.reason == "Proxy Authentication Required"
    assert auth_challenges(response) == [
        (
            "Proxy-Authenticate",
            'Digest realm="127.0.0.1", nonce="awqhGGsKn+yWsLWoQr8eadRqaoSVJafI", qop="auth"',
        )
    ]


NOTIFY_COMPACT = (
    b"NOTIFY sip:watcher@[2001:db8::1]:5091;transport=tcp SIP/2.0\r\n"
    b"v: SIP/2.0/TCP [2001:db8::9]:5070;branch=z9hG4bKa;received=2001:db8::9,"
    b" SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb\r\n"
    b"Via: SIP/2.0/UDP proxy.example;branch=z9hG4bKc\r\n"
    b'f: "Doe, John" <sip:1001@pbx.example>;tag=abc\r\n'
    b"t: <sip:watcher@pbx.example>;tag=xyz\r\n"
    b"i: call-1@host\r\n"
    b"CSeq: 7 NOTIFY\r\n"
    b"o: dialog;id=42\r\n"
    b"Subscription-State: active;\r\n expires=600\r\n"
    b'm: <sip:pbx.example;transport=tcp>, "A, B" <sip:b@x>\r\n'
    b"c: application/dialog-info+xml; charset=UTF-8\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"body"
)


def test_compact_forms_folding_and_list_headers() -> None:
    message = parse_message(NOTIFY_COMPACT)
    assert isinstance(message, SipRequest)
    assert [(v.transport, v.host, v.port, v.branch) for v in message.vias] == [
        ("TCP", "2001:db8::9", 5070, "z9hG4bKa"),
        ("UDP", "10.0.0.1", None, "z9hG4bKb"),
        ("UDP", "proxy.example", None, "z9hG4bKc"),
    ]
    assert message.vias[0].received == "2001:db8::9"
    assert message.from_ == NameAddr("sip:1001@pbx.example", "Doe, John", {"tag": "abc"})
    assert message.call_id == "call-1@host"
    assert parse_event(message.require("Event")).id == "42"
    assert parse_subscription_state(message.require("Subscription-State")).expires == 600
    assert [parse_name_addr(c).uri for c in message.values("Contact")] == [
        "sip:pbx.example;transport=tcp",
        "sip:b@x",
    ]
    assert message.content_type == "application/dialog-info+xml"
    assert message.body == b"body"
    assert b"\r\nCall-ID: call-1@host\r\n" in message.encode()


@pytest.mark.parametrize(
    ("value", "state", "expires", "reason", "retry_after", "resubscribe"),
    [
        ("active;expires=30", SubState.ACTIVE, 30, None, None, None),
        ("Pending", SubState.PENDING, None, None, None, None),
        ("terminated;reason=timeout", SubState.TERMINATED, None, "timeout", None, Resubscribe.NOW),
        ("terminated;reason=deactivated", SubState.TERMINATED, None, "deactivated", None, Resubscribe.NOW),
        (
            "terminated;reason=probation;retry-after=30",
            SubState.TERMINATED,
            None,
            "probation",
            30,
            Resubscribe.AFTER_RETRY_AFTER,
        ),
        (
            "terminated;reason=giveup;retry-after=5",
            SubState.TERMINATED,
            None,
            "giveup",
            5,
            Resubscribe.AFTER_RETRY_AFTER,
        ),
        ("terminated;reason=rejected", SubState.TERMINATED, None, "rejected", None, Resubscribe.NEVER),
        ("terminated;reason=noresource", SubState.TERMINATED, None, "noresource", None, Resubscribe.NEVER),
        ("terminated;reason=invariant", SubState.TERMINATED, None, "invariant", None, Resubscribe.NEVER),
        ("terminated", SubState.TERMINATED, None, None, None, Resubscribe.BACKOFF),
        (
            "terminated;reason=somethingnew",
            SubState.TERMINATED,
            None,
            "somethingnew",
            None,
            Resubscribe.BACKOFF,
        ),
    ],
    ids=lambda v: str(v),
)
def test_subscription_state_follows_rfc_6665(
    value: str,
    state: SubState,
    expires: int | None,
    reason: str | None,
    retry_after: int | None,
    resubscribe: Resubscribe | None,
) -> None:
    parsed = parse_subscription_state(value)
    assert (parsed.state, parsed.expires, parsed.reason, parsed.retry_after) == (
        state,
        expires,
        reason,
        retry_after,
    )
    assert parsed.resubscribe is resubscribe


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"HELLO\r\n\r\n", "request line"),
        (b"SIP/2.0 99 Too Low\r\n\r\n", "status line"),
        (b"SIP/3.0 200 OK\r\n\r\n", "status line"),
        (b"NOTIFY sip:a SIP/2.1\r\n\r\n", "request line"),
        (b"NOTIFY sip:a SIP/2.0\r\nNo colon here\r\n\r\n", "line 2"),
        (b"NOTIFY sip:a SIP/2.0\r\n folded first\r\n\r\n", "continuation"),
        (b"NOTIFY sip:a SIP/2.0\r\nBad Name: x\r\n\r\n", "line 2"),
        (b"NOTIFY sip:a SIP/2.0\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
        (b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nshort", "shorter"),
        (b"NOTIFY sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab", "two different Content-Length"),
        (b"NOTIFY sip:a SIP/2.0\r\nCall-ID: x", "blank line"),
        (b"NOTIFY sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\rInjected: 1\r\n\r\n", "line 2: a bare CR"),
        (b"SIP/2.0 200 O\rK\r\n\r\n", "line 1: a bare CR"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_malformed_messages_raise_a_named_error(data: bytes, names: str) -> None:
    with pytest.raises(SipParseError, match=names):
        parse_message(data)


def test_missing_or_malformed_headers_are_named_when_used() -> None:
    message = parse_message(b"NOTIFY sip:a SIP/2.0\r\nCSeq: x NOTIFY\r\nVia: nonsense\r\n\r\n")
    with pytest.raises(SipParseError, match="missing Call-ID"):
        _ = message.call_id
    with pytest.raises(SipParseError, match="bad CSeq"):
        _ = message.cseq
    with pytest.raises(SipParseError, match="bad Via"):
        _ = message.vias


LIMITS = SipLimits(max_header_block=512, max_header_line=100, max_headers=5, max_body=64)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"NOTIFY sip:a SIP/2.0\r\n" + b"X-Pad: y\r\n" * 60 + b"\r\n", "header block over 512"),
        (b"NOTIFY sip:a SIP/2.0\r\nX-Long: " + b"y" * 120 + b"\r\n\r\n", "over 100"),
        (
            b"NOTIFY sip:a SIP/2.0\r\nX-Fold: a\r\n"
            + b" "
            + b"y" * 60
            + b"\r\n"
            + b" "
            + b"z" * 60
            + b"\r\n\r\n",
            "X-Fold over 100",
        ),
        (b"NOTIFY sip:a SIP/2.0\r\n" + b"X-A: y\r\n" * 6 + b"\r\n", "more than 5 headers"),
        (b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 65\r\n\r\n" + b"x" * 65, "65 bytes over the 64"),
        (b"NOTIFY sip:a SIP/2.0\r\n\r\n" + b"x" * 65, "body over the 64"),
        (b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", "not a number"),
    ],
    ids=["block", "line", "folded line", "count", "declared body", "datagram body", "huge length"],
)
def test_caps_hold(data: bytes, names: str) -> None:
    with pytest.raises(SipParseError, match=names):
        parse_message(data, LIMITS)


def test_a_datagram_may_omit_content_length_and_extra_bytes_are_dropped() -> None:
    assert parse_message(b"NOTIFY sip:a SIP/2.0\r\n\r\nbody").body == b"body"
    assert parse_message(b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 2\r\n\r\nbody").body == b"bo"
    with pytest.raises(SipParseError, match="no Content-Length on a stream"):
        parse_message(b"NOTIFY sip:a SIP/2.0\r\n\r\nbody", stream=True)


def test_bare_lf_and_latin1_display_names_are_accepted() -> None:
    message = parse_message(b'NOTIFY sip:a SIP/2.0\nFrom: "J\xfcrgen" <sip:1@x>;tag=1\n\n')
    assert message.from_.display == "J\u00fcrgen"


# --- stream framing -----------------------------------------------------------------------------


def _received_stream() -> tuple[bytes, list[bytes]]:
    messages = [data for sent, data in load_stream("tcp_subscribe_transcript.txt") if not sent]
    return b"\r\n\r\n".join(messages), messages  # keep-alive CRLFs between them, as RFC 5626 allows


def test_a_tcp_capture_is_framed_the_same_at_every_cut_point() -> None:
    stream, messages = _received_stream()
    for cut in range(len(stream) + 1):
        framer = StreamFramer()
        frames = framer.feed(stream[:cut]) + framer.feed(stream[cut:])
        assert frames == messages, cut
    assert [parse_message(f, stream=True).cseq.method for f in messages] == [
        "SUBSCRIBE",
        "NOTIFY",
        "SUBSCRIBE",
        "NOTIFY",
    ]


def test_random_multi_cuts_and_byte_at_a_time() -> None:
    stream, messages = _received_stream()
    rng = random.Random(12)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(1, 12)))
        framer = StreamFramer()
        frames: list[bytes] = []
        for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            frames += framer.feed(stream[start:end])
        assert frames == messages
    framer = StreamFramer()
    assert [f for i in range(len(stream)) for f in framer.feed(stream[i : i + 1])] == messages
    assert framer.keepalive_bytes == 12  # three CRLFCRLF pings


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"NOTIFY sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n", "no Content-Length"),
        (b"NOTIFY sip:a SIP/2.0\r\nContent-Length: 65\r\n\r\n", "65 bytes over"),
        (b"NOTIFY sip:a SIP/2.0\r\n" + b"X: " + b"y" * 600, "header block over 512"),
    ],
    ids=["no length", "body cap", "endless headers"],
)
def test_an_unframeable_stream_is_refused_for_good(data: bytes, names: str) -> None:
    framer = StreamFramer(LIMITS)
    with pytest.raises(SipFramingError, match=names):
        framer.feed(data)
    with pytest.raises(SipFramingError, match="already unusable"):
        framer.feed(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")


# --- header values and building -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1 SUBSCRIBE", (1, "SUBSCRIBE")),
        ("2147483647 notify", (2147483647, "NOTIFY")),
    ],
)
def test_cseq(value: str, expected: tuple[int, str]) -> None:
    cseq = parse_cseq(value)
    assert (cseq.number, cseq.method) == expected


@pytest.mark.parametrize("value", ["", "1", "x NOTIFY", "2147483648 NOTIFY", "1 NOTIFY extra", "-1 NOTIFY"])
def test_bad_cseq(value: str) -> None:
    with pytest.raises(SipParseError, match="CSeq"):
        parse_cseq(value)


def test_expires_caps_huge_values_and_refuses_junk() -> None:
    assert parse_delta_seconds("3600") == 3600
    assert parse_delta_seconds("9" * 5000) == 2**32 - 1
    for junk in ("", "-1", "1.5", "\u0663"):
        with pytest.raises(SipParseError, match="Expires"):
            parse_delta_seconds(junk)


@pytest.mark.parametrize("value", ["<sip:a", "sip:a b", "<>", '"x" <sip:a> junk', ";tag=1"], ids=lambda v: v)
def test_bad_addresses(value: str) -> None:
    with pytest.raises(SipParseError):
        parse_name_addr(value)


def test_addr_spec_params_belong_to_the_header() -> None:
    assert parse_name_addr("sip:1001@pbx;tag=9") == NameAddr("sip:1001@pbx", "", {"tag": "9"})
    assert parse_via("SIP/2.0/TLS [::1]:5061;branch=z9hG4bKx;rport").params == {
        "branch": "z9hG4bKx",
        "rport": None,
    }


def test_a_200_to_a_captured_notify_copies_what_rfc_3261_requires() -> None:
    notify = parse_message(_first("dialog_watcher_1001_sip.txt", b"NOTIFY", sent=False))
    assert isinstance(notify, SipRequest)
    ok = response_to(notify, 200, "OK", extra=[("Contact", "<sip:watcher@127.0.0.1:5091>")])
    wire = parse_message(ok.encode())
    assert isinstance(wire, SipResponse) and wire.status == 200
    assert wire.call_id == notify.call_id and wire.cseq == notify.cseq
    assert wire.get("From") == notify.get("From") and wire.get("To") == notify.get("To")
    assert wire.values("Via") == notify.values("Via")
    assert wire.get("Content-Length") == "0"
    # compared with what the lab watcher (which Kamailio accepted) sent back
    sent = parse_message(_first("dialog_watcher_1001_sip.txt", b"SIP/2.0 200", sent=True))
    assert (sent.call_id, sent.cseq, sent.to.tag, sent.from_.tag) == (
        wire.call_id,
        wire.cseq,
        wire.to.tag,
        wire.from_.tag,
    )


def test_a_tagless_request_gets_our_tag_once() -> None:
    request = SipRequest(
        (("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("To", "<sip:w@h>")), b"", "NOTIFY", "sip:w@h"
    )
    assert (
        response_to(request, 481, "Call/Transaction Does Not Exist", to_tag="t1").get("To")
        == "<sip:w@h>;tag=t1"
    )
    tagged = SipRequest((("To", "<sip:w@h>;tag=a"),), b"", "NOTIFY", "sip:w@h")
    assert response_to(tagged, 200, "OK", to_tag="t1").get("To") == "<sip:w@h>;tag=a"


def test_encoding_refuses_header_injection() -> None:
    with pytest.raises(ValueError, match="line break"):
        SipRequest((("Subject", "x\r\nVia: evil"),), b"", "SUBSCRIBE", "sip:a").encode()
    with pytest.raises(ValueError, match="method"):
        SipRequest((), b"", "SUB SCRIBE", "sip:a").encode()
    with pytest.raises(ValueError, match="line break"):
        NameAddr("sip:a", 'x"\r\ny').encode()
    assert NameAddr("sip:a", 'Doe "JD"', {"tag": "1"}).encode() == '"Doe \\"JD\\"" <sip:a>;tag=1'
