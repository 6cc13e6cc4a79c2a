"""dialog-info -> line state (adapters/sip_blf/dialoginfo.py).

The replays feed every NOTIFY Kamailio sent in the lab through the message parser and the
dialog-info reader, in order, and compare the line after each with what the reference document
(shared/reference/sip-presence.md, "What was seen working") says the phone was doing. A user
would notice a break as a BLF-driven Teams status that shows Busy while idle, or never shows it.
"""

from __future__ import annotations

import pytest

from adapters.sip_blf.dialoginfo import (
    DIALOG_TO_LINE,
    DialogPhase,
    DialogView,
    Direction,
    Freshness,
    apply_dialog_info,
    parse_dialog_info,
)
from adapters.sip_blf.message import SipRequest, SubState, parse_message, parse_subscription_state
from adapters.sip_blf.xmlbody import SipBodyError
from bridge.model import LineState
from tests.adapters.sip_blf.captures import load

IDLE, RINGING, DIALING, IN_CALL, ON_HOLD = (
    LineState.IDLE,
    LineState.RINGING,
    LineState.DIALING,
    LineState.IN_CALL,
    LineState.ON_HOLD,
)


def replay(capture: str) -> list[list[tuple[SubState, LineState | None]]]:
    """Per subscription (Call-ID) in the capture: (subscription state, line after the NOTIFY)
    for each NOTIFY received; line None when the NOTIFY carried no body (the expiry NOTIFY).
    Each subscription starts from a fresh view: versions restart with it."""
    views: dict[str, DialogView] = {}
    runs: dict[str, list[tuple[SubState, LineState | None]]] = {}
    for datagram in load(capture):
        if datagram.sent or not datagram.data.startswith(b"NOTIFY"):
            continue
        notify = parse_message(datagram.data)
        assert isinstance(notify, SipRequest) and notify.get("Event") == "dialog"
        state = parse_subscription_state(notify.require("Subscription-State")).state
        run = runs.setdefault(notify.call_id, [])
        info = parse_dialog_info(notify.body)
        if info is None:
            run.append((state, None))
            continue
        assert notify.content_type == "application/dialog-info+xml"
        update = apply_dialog_info(views.get(notify.call_id, DialogView()), info)
        assert update.freshness is Freshness.APPLIED
        views[notify.call_id] = update.view
        run.append((state, update.line))
    return list(runs.values())


A, T = SubState.ACTIVE, SubState.TERMINATED
# missed call (caller CANCEL) and rejected (486): early -> terminated; the un-SUBSCRIBE NOTIFY
# keeps the body. Each of these captures holds three runs of the scenario.
MISSED = [(A, IDLE), (A, RINGING), (A, IDLE), (T, IDLE)]

REPLAYS = {
    # callee: dummy dialog (idle), early, confirmed, terminated, dummy again, expiry NOTIFY (no body)
    "dialog_watcher_1001_sip.txt": [[(A, IDLE), (A, RINGING), (A, IN_CALL), (A, IDLE), (A, IDLE), (T, None)]],
    # caller: Trying (capital T) and early are dialing; un-SUBSCRIBE NOTIFY keeps the body
    "dialog_watcher_1002_sip.txt": [
        [(A, IDLE), (A, DIALING), (A, DIALING), (A, IN_CALL), (A, IDLE), (T, IDLE)]
    ],
    "cancel_watcher_1001_sip.txt": [MISSED] * 3,
    "reject_watcher_1001_sip.txt": [MISSED] * 3,
    # the same call with digest auth on everything
    "dialog_auth_watcher_1001_sip.txt": [
        [(A, IDLE), (A, RINGING), (A, IN_CALL), (A, IDLE), (A, IDLE), (T, None)]
    ],
}


@pytest.mark.parametrize("capture", sorted(REPLAYS))
def test_captured_notifies_give_the_line_the_phone_had(capture: str) -> None:
    assert replay(capture) == REPLAYS[capture]


NS = 'xmlns="urn:ietf:params:xml:ns:dialog-info"'


def doc(
    *dialogs: str, version: int = 1, state: str = "full", root: str = "dialog-info", ns: str = NS
) -> bytes:
    return (
        f'<?xml version="1.0"?><{root} {ns} version="{version}" state="{state}" entity="sip:1001@pbx">'
        + "".join(dialogs)
        + f"</{root}>"
    ).encode()


def dialog(state: str, direction: str | None = "recipient", ident: str = "d1", extra: str = "") -> str:
    direction_attr = f' direction="{direction}"' if direction else ""
    return f'<dialog id="{ident}"{direction_attr}><state>{state}</state>{extra}</dialog>'


def line_of(body: bytes) -> LineState:
    info = parse_dialog_info(body)
    assert info is not None
    return apply_dialog_info(DialogView(), info).line


# RFC 4235 3.7.1 and the reference's mapping, written out independently of DIALOG_TO_LINE.
STATE_ROWS = [
    ("trying", "initiator", DIALING),
    ("proceeding", "initiator", DIALING),
    ("early", "initiator", DIALING),
    ("trying", "recipient", RINGING),
    ("proceeding", "recipient", RINGING),
    ("early", "recipient", RINGING),
    ("early", None, RINGING),
    ("confirmed", "initiator", IN_CALL),
    ("confirmed", "recipient", IN_CALL),
    ("confirmed", None, IN_CALL),
    ("terminated", "initiator", IDLE),
    ("terminated", "recipient", IDLE),
    ("Trying", "Initiator", DIALING),
    ("CONFIRMED", "RECIPIENT", IN_CALL),
]


@pytest.mark.parametrize(("state", "direction", "line"), STATE_ROWS, ids=lambda v: str(v))
def test_dialog_states(state: str, direction: str | None, line: LineState) -> None:
    assert line_of(doc(dialog(state, direction))) is line


def test_every_table_row_is_reachable_and_only_live_states_have_a_line() -> None:
    assert {p for p, _ in DIALOG_TO_LINE} == set(DialogPhase)
    assert {d for _, d in DIALOG_TO_LINE} == set(Direction)
    assert all(
        (line is None) == (phase is DialogPhase.TERMINATED) for (phase, _), line in DIALOG_TO_LINE.items()
    )


HOLD_LOCAL = (
    '<local><identity>sip:1001@pbx</identity><target uri="sip:1001@pbx">'
    '<param pname="+sip.rendering" pvalue="no"/></target></local>'
)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (HOLD_LOCAL, ON_HOLD),  # Asterisk PJSIP / FreeSWITCH shape
        (HOLD_LOCAL.replace('pvalue="no"', 'pvalue="yes"'), IN_CALL),
        (HOLD_LOCAL.replace("+sip.rendering", "sip.rendering"), ON_HOLD),
        ('<local><target uri="sip:1001@pbx;+sip.rendering=no"/></local>', ON_HOLD),
        (HOLD_LOCAL.replace("local>", "remote>"), IN_CALL),  # the far end held us: still in a call
        (
            '<LOCAL><Target URI="sip:1001@pbx"><Param PName="+sip.rendering" PValue="NO"/></Target></LOCAL>',
            ON_HOLD,
        ),
    ],
    ids=["asterisk", "rendering yes", "no plus", "uri param", "remote held", "capitals"],
)
def test_hold(extra: str, line: LineState) -> None:
    assert line_of(doc(dialog("confirmed", extra=extra))) is line


def test_hold_only_applies_to_a_call() -> None:
    assert line_of(doc(dialog("early", extra=HOLD_LOCAL))) is RINGING


@pytest.mark.parametrize(
    "body",
    [
        doc(dialog("confirmed"), ns=""),  # no namespace at all
        doc(
            dialog("confirmed").replace("dialog", "d:dialog").replace("state>", "d:state>"),
            root="d:dialog-info",
            ns='xmlns:d="urn:ietf:params:xml:ns:dialog-info"',
        ),
        doc(dialog("confirmed"), ns='xmlns="urn:example:wrong"'),
        doc(dialog("confirmed").replace("dialog", "Dialog").replace("state>", "State>"), root="Dialog-Info"),
        # an undeclared prefix: read again with prefixes stripped
        doc(dialog("confirmed").replace("<state>", "<x:state>").replace("</state>", "</x:state>")),
    ],
    ids=["none", "prefixed", "other namespace", "capitalised", "undeclared prefix"],
)
def test_namespaces_and_capitals_are_tolerated(body: bytes) -> None:
    assert line_of(body) is IN_CALL


def test_several_dialogs_the_busiest_wins_and_each_is_judged_alone() -> None:
    # Kamailio keeps a terminated dialog next to a new early one (reject_watcher, trap 5)
    assert line_of(doc(dialog("terminated", ident="old"), dialog("early", ident="new"))) is RINGING
    # call waiting: a confirmed call and a second one ringing
    assert line_of(doc(dialog("confirmed", ident="a"), dialog("early", ident="b"))) is IN_CALL
    assert (
        line_of(doc(dialog("confirmed", ident="a", extra=HOLD_LOCAL), dialog("confirmed", ident="b")))
        is IN_CALL
    )
    assert line_of(doc()) is IDLE


def _apply_all(*bodies: bytes) -> tuple[DialogView, list[Freshness]]:
    view = DialogView()
    seen = []
    for body in bodies:
        info = parse_dialog_info(body)
        assert info is not None
        update = apply_dialog_info(view, info)
        view = update.view
        seen.append(update.freshness)
    return view, seen


AP, DUP, FULL = Freshness.APPLIED, Freshness.DUPLICATE, Freshness.NEED_FULL_STATE


@pytest.mark.parametrize(
    ("bodies", "freshness", "line"),
    [
        # partial updates add, change and end dialogs
        (
            [
                doc(dialog("early", ident="a")),
                doc(dialog("early", ident="b"), version=2, state="partial"),
                doc(dialog("terminated", ident="a"), version=3, state="partial"),
            ],
            [AP, AP, AP],
            RINGING,
        ),
        (
            [
                doc(dialog("confirmed", ident="a")),
                doc(dialog("terminated", ident="a"), version=2, state="partial"),
            ],
            [AP, AP],
            IDLE,
        ),
        # a retransmitted or repeated version changes nothing
        ([doc(dialog("confirmed")), doc(version=1)], [AP, DUP], IN_CALL),
        # a partial document that skips a version: we lost one, ask for full state, keep the view
        (
            [doc(dialog("confirmed")), doc(dialog("terminated"), version=3, state="partial")],
            [AP, FULL],
            IN_CALL,
        ),
        # an older version
        ([doc(dialog("confirmed"), version=5), doc(version=4)], [AP, FULL], IN_CALL),
        # the first document of a subscription must be full
        ([doc(dialog("confirmed"), state="partial")], [FULL], IDLE),
        # a full document may skip versions: it replaces everything
        ([doc(dialog("confirmed")), doc(version=7)], [AP, AP], IDLE),
        # full state drops dialogs it does not list
        (
            [doc(dialog("confirmed", ident="a")), doc(dialog("early", ident="b"), version=2)],
            [AP, AP],
            RINGING,
        ),
    ],
    ids=[
        "partial merge",
        "partial end",
        "duplicate",
        "gap",
        "older",
        "partial first",
        "full gap",
        "full replaces",
    ],
)
def test_versions(bodies: list[bytes], freshness: list[Freshness], line: LineState) -> None:
    view, seen = _apply_all(*bodies)
    assert seen == freshness
    assert view.line is line


def test_the_view_keeps_a_capped_number_of_dialogs() -> None:
    view = DialogView()
    for version in range(1, 6):
        info = parse_dialog_info(
            doc(
                dialog("confirmed", ident=f"d{version}"),
                version=version,
                state="full" if version == 1 else "partial",
            )
        )
        assert info is not None
        update = apply_dialog_info(view, info, max_dialogs=3)
        view = update.view
    assert [d.id for d in view.dialogs] == ["d3", "d4", "d5"]
    assert update.evicted == 1


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"<dialog-info", "malformed XML"),
        (doc(root="presence"), "not <dialog-info>"),
        (doc().replace(b'version="1"', b""), "version"),
        (doc().replace(b'version="1"', b'version="-1"'), "version"),
        (doc().replace(b'state="full"', b'state="some"'), "full nor partial"),
        (doc(dialog("ringing")), "not an RFC 4235 state"),
        (doc(dialog("early", direction="sideways")), "direction"),
        (doc("<dialog><state>early</state></dialog>"), "without an id"),
        (doc(*[dialog("early", ident=str(i)) for i in range(65)]), "more than 64 dialogs"),
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><dialog-info/>', "forbidden"),
        (b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd"><dialog-info/>', "forbidden"),
        (b"x" * (256 * 1024 + 1), "over the"),
        (doc().replace(b'version="1.0"?>', b'version="1.0" encoding="TF-8"?>'), "unreadable XML"),
    ],
    ids=[
        "truncated",
        "wrong root",
        "no version",
        "negative version",
        "bad state attr",
        "bad state",
        "bad direction",
        "no id",
        "too many dialogs",
        "entity",
        "external dtd",
        "too big",
        "unknown encoding",
    ],
)
def test_bad_bodies_raise_a_named_error(body: bytes, names: str) -> None:
    with pytest.raises(SipBodyError, match=names):
        parse_dialog_info(body)


def test_billion_laughs_is_refused_without_expanding() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "'
        + b"a" * 10
        + b'">'
        + b"".join(
            b'<!ENTITY a%d "&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;">' % ((i,) + (i - 1,) * 10)
            for i in range(1, 10)
        ).replace(b"&a0;", b"&a;")
        + b']><dialog-info version="1" state="full">&a9;</dialog-info>'
    )
    with pytest.raises(SipBodyError, match="forbidden"):
        parse_dialog_info(lol)


def test_an_empty_body_is_not_a_document() -> None:
    assert parse_dialog_info(b"") is None
    assert parse_dialog_info(b"  \r\n") is None
