"""PIDF/RPID -> presence (pidf.py), RFC 3680 reg bodies (reginfo.py), write-back PIDF
(pidf_publish.py).

A user would notice a break as a PBX DND that never reaches Teams, an "away" that looks like a
call, a phone that shows nothing when the person is in a Teams meeting, or a watcher fooled by a
note carrying markup.
"""

from __future__ import annotations

import pytest

from adapters.sip_blf.dialoginfo import Freshness
from adapters.sip_blf.message import SipRequest, parse_message
from adapters.sip_blf.pidf import PresenceWord, parse_pidf
from adapters.sip_blf.pidf_publish import PIDF_CONTENT_TYPE, ROUTABLE_TO_PIDF, build_pidf
from adapters.sip_blf.reginfo import RegView, apply_reginfo, parse_reginfo
from adapters.sip_blf.xmlbody import SipBodyError
from bridge.model import LineState, RoutableState, Toggle
from tests.adapters.sip_blf.captures import load

ON, OFF = Toggle.ON, Toggle.OFF
W = PresenceWord


def test_the_captured_publish_sequence_reads_as_published() -> None:
    """presence_watcher_1001: nothing published, then PUBLISHes of Available, on-the-phone,
    away, busy + "Do Not Disturb", then remove (Kamailio's generated closed tuple)."""
    readings = []
    for datagram in load("presence_watcher_1001_sip.txt"):
        if datagram.sent or not datagram.data.startswith(b"NOTIFY"):
            continue
        notify = parse_message(datagram.data)
        assert isinstance(notify, SipRequest) and notify.get("Event") == "presence"
        reading = parse_pidf(notify.body)
        readings.append(None if reading is None else (reading.line, reading.dnd, reading.away))
    assert readings == [
        None,  # initial NOTIFY: empty body (nothing published)
        (LineState.IDLE, OFF, OFF),  # open, "Available"
        (LineState.IN_CALL, OFF, OFF),  # rpid:on-the-phone
        (LineState.IDLE, OFF, ON),  # rpid:away
        (LineState.IDLE, ON, OFF),  # rpid:busy + "Do Not Disturb": DND, not a call
        (LineState.UNAVAILABLE, OFF, OFF),  # removed: closed
        None,  # un-SUBSCRIBE NOTIFY: empty body
    ]


def pidf(person: str = "", basic: str = "open", note: str = "", ns: bool = True) -> bytes:
    xmlns = (
        ' xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
        ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"'
        if ns
        else ""
    )
    tuple_note = f"<note>{note}</note>" if note else ""
    return (
        f'<?xml version="1.0"?><presence{xmlns} entity="sip:1001@pbx">'
        f'<tuple id="t1"><status><basic>{basic}</basic></status>{tuple_note}</tuple>'
        f'<dm:person id="p1">{person}</dm:person></presence>'
    ).encode()


def activity(name: str) -> str:
    return f"<rpid:activities><rpid:{name}/></rpid:activities>"


# RFC 4480 activity meanings and DESIGN 3/5 (dnd, away, line), written out independently.
ROWS = [
    ("open", "", "", {W.AVAILABLE}, LineState.IDLE, OFF, OFF),
    ("closed", "", "", {W.CLOSED}, LineState.UNAVAILABLE, OFF, OFF),
    ("open", activity("on-the-phone"), "", {W.AVAILABLE, W.ON_THE_PHONE}, LineState.IN_CALL, OFF, OFF),
    ("open", activity("busy"), "", {W.AVAILABLE, W.BUSY}, LineState.BUSY, OFF, OFF),  # Asterisk: in use
    ("open", activity("busy"), "Do Not Disturb", {W.AVAILABLE, W.BUSY, W.DND}, LineState.IDLE, ON, OFF),
    ("open", activity("away"), "", {W.AVAILABLE, W.AWAY}, LineState.IDLE, OFF, ON),
    ("open", activity("vacation"), "", {W.AVAILABLE, W.AWAY}, LineState.IDLE, OFF, ON),
    ("open", activity("meeting"), "", {W.AVAILABLE, W.BUSY}, LineState.BUSY, OFF, OFF),
    ("closed", activity("away"), "", {W.CLOSED, W.AWAY}, None, OFF, ON),
    ("open", "<dm:note>DND</dm:note>", "", {W.AVAILABLE, W.DND}, LineState.IDLE, ON, OFF),
    ("open", "", "Out of Office", {W.AVAILABLE, W.AWAY}, LineState.IDLE, OFF, ON),
    (
        "open",
        activity("on-the-phone") + activity("away"),
        "",
        {W.AVAILABLE, W.ON_THE_PHONE, W.AWAY},
        LineState.IN_CALL,
        OFF,
        ON,
    ),
    ("open", activity("unknown"), "Available", {W.AVAILABLE}, LineState.IDLE, OFF, OFF),
    (
        "open",
        "<rpid:activities><rpid:Away/></rpid:activities>",
        "",
        {W.AVAILABLE, W.AWAY},
        LineState.IDLE,
        OFF,
        ON,
    ),
]


@pytest.mark.parametrize(
    ("basic", "person", "note", "words", "line", "dnd", "away"), ROWS, ids=lambda v: str(v)
)
def test_pidf_rows(
    basic: str,
    person: str,
    note: str,
    words: set[PresenceWord],
    line: LineState | None,
    dnd: Toggle,
    away: Toggle,
) -> None:
    reading = parse_pidf(pidf(person, basic, note))
    assert reading is not None
    assert set(reading.words) == words
    assert (reading.line, reading.dnd, reading.away) == (line, dnd, away)


def test_pidf_without_namespaces_or_with_an_undeclared_prefix() -> None:
    plain = parse_pidf(pidf(activity("away"), ns=False).replace(b"rpid:", b"").replace(b"dm:", b""))
    undeclared = parse_pidf(pidf(activity("away"), ns=False))
    assert plain is not None and undeclared is not None
    assert plain.away is ON and undeclared.away is ON


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"<presence>", "malformed"),
        (b"<dialog-info/>", "not <presence>"),
        (b'<!DOCTYPE p [<!ENTITY x "y">]><presence>&x;</presence>', "forbidden"),
    ],
)
def test_bad_pidf(body: bytes, names: str) -> None:
    with pytest.raises(SipBodyError, match=names):
        parse_pidf(body)


# --- reg (RFC 3680) -----------------------------------------------------------------------------


def reginfo(version: int, state: str, *registrations: tuple[str, str, list[str]]) -> bytes:
    regs = "".join(
        f'<registration aor="{aor}" id="r{i}" state="{rstate}">'
        + "".join(
            f'<contact id="c{j}" state="{c}" event="registered">sip:x@h</contact>' for j, c in enumerate(cs)
        )
        + "</registration>"
        for i, (aor, rstate, cs) in enumerate(registrations)
    )
    return (
        f'<?xml version="1.0"?><reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="{version}" '
        f'state="{state}">{regs}</reginfo>'
    ).encode()


def test_registration_state_sequence() -> None:
    view = RegView()
    assert view.line is None  # nothing known yet
    lines = []
    for body in (
        reginfo(0, "full", ("sip:1001@pbx", "active", ["active"])),
        reginfo(1, "partial", ("sip:1001@pbx", "terminated", ["terminated"])),
        reginfo(2, "partial", ("sip:1001@pbx", "active", ["terminated", "active"])),
        reginfo(3, "full", ("sip:1001@pbx", "init", [])),
    ):
        info = parse_reginfo(body)
        assert info is not None
        view, freshness = apply_reginfo(view, info)
        assert freshness is Freshness.APPLIED
        lines.append(view.line)
    # registered says nothing about the line; unregistered is unavailable (DESIGN 3)
    assert lines == [None, LineState.UNAVAILABLE, None, LineState.UNAVAILABLE]


def test_registration_versions_and_errors() -> None:
    first = parse_reginfo(reginfo(4, "full", ("sip:1001@pbx", "active", ["active"])))
    gap = parse_reginfo(reginfo(6, "partial", ("sip:1001@pbx", "terminated", [])))
    assert first is not None and gap is not None
    view, _ = apply_reginfo(RegView(), first)
    assert apply_reginfo(view, gap)[1] is Freshness.NEED_FULL_STATE
    assert parse_reginfo(b"") is None
    with pytest.raises(SipBodyError, match="without an aor"):
        parse_reginfo(reginfo(1, "full", ("", "active", [])))
    with pytest.raises(SipBodyError, match="more than 64 registrations"):
        parse_reginfo(reginfo(1, "full", *[(f"sip:{i}@pbx", "active", ["active"]) for i in range(65)]))


# --- write-back PUBLISH bodies ------------------------------------------------------------------

# DESIGN 6: what a phone watching the person should make of each routable Teams state.
PUBLISHED_MEANING = {
    RoutableState.CALL: (W.ON_THE_PHONE, LineState.IN_CALL, OFF),
    RoutableState.PRESENTING: (W.BUSY, LineState.BUSY, OFF),
    RoutableState.DND: (W.DND, LineState.IDLE, ON),
    RoutableState.OOF: (W.AWAY, LineState.IDLE, OFF),
    RoutableState.MEETING: (W.BUSY, LineState.BUSY, OFF),
}


@pytest.mark.parametrize("state", sorted(PUBLISHED_MEANING))
def test_every_routable_state_publishes_what_a_watcher_reads_back(state: RoutableState) -> None:
    body = build_pidf("sip:1001@pbx", state)
    assert body is not None
    reading = parse_pidf(body)
    assert reading is not None and reading.entity == "sip:1001@pbx"
    word, line, dnd = PUBLISHED_MEANING[state]
    assert word in reading.words
    assert (reading.line, reading.dnd) == (line, dnd)
    assert build_pidf("sip:1001@pbx", state) == body  # a refresh republishes the same tuple


def test_clearing_publishes_no_body() -> None:
    assert build_pidf("sip:1001@pbx", RoutableState.NONE) is None
    assert set(ROUTABLE_TO_PIDF) == set(RoutableState)
    assert PIDF_CONTENT_TYPE == "application/pidf+xml"


def test_hostile_entity_and_note_cannot_change_the_document() -> None:
    body = build_pidf(
        'sip:a"b<c>&d@pbx', RoutableState.MEETING, note='</note></tuple><rpid:vacation/>&x;\x00\x1b "q"'
    )
    assert body is not None
    reading = parse_pidf(body)
    assert reading is not None
    assert reading.entity == 'sip:a"b<c>&d@pbx'
    assert reading.words == {W.AVAILABLE, W.BUSY}  # the injected <rpid:vacation/> stayed text
    assert b"&lt;/note&gt;&lt;/tuple&gt;&lt;rpid:vacation/&gt;&amp;x;" in body
    assert b"\x00" not in body and b"\x1b" not in body
    for bad in ("", "sip:a b@pbx", "sip:a\n@pbx", "http://x", "sip:\x00@x"):
        with pytest.raises(ValueError, match="entity"):
            build_pidf(bad, RoutableState.DND)
