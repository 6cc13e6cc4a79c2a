"""Event -> canonical tables, one case per row, and the tracker's rules (no loop, two devices)."""

from __future__ import annotations

import pytest

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import AmiMessage, FrameParser
from adapters.asterisk_ami.parse import (
    DEVICE_STATE_TO_LINE,
    EXTENSION_STATUS_TO_LINE,
    FREEPBX_DND_STATE,
    PRESENCE_TO_AWAY,
    AstDbFact,
    DeviceFact,
    Fact,
    HintFact,
    Ignored,
    QueueMemberFact,
    Unrecognised,
    parse_message,
)
from adapters.asterisk_ami.tracker import AmiTracker
from bridge.model import LINE_RANK, EndpointKey, LineState, StateChange, Toggle
from tests.adapters.asterisk_ami.fixtures import connections, frames_with


def _msg(*lines: str) -> AmiMessage:
    return FrameParser().feed(("\r\n".join(lines) + "\r\n\r\n").encode())[0]


def _device_event(device: str, state: str) -> AmiMessage:
    return _msg("Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}")


def _config(**kw: object) -> AmiConfig:
    return AmiConfig(username="bridge", secret="bridgesecret", **kw)  # type: ignore[arg-type]


def _tracker(**kw: object) -> AmiTracker:
    return AmiTracker("pbx", _config(**kw))


def _feed(tracker: AmiTracker, msg: AmiMessage) -> list[StateChange]:
    return tracker.apply(parse_message(msg))


def _facts(needle: bytes, name: str = "30_freepbx_synth") -> list[Fact]:
    return [parse_message(FrameParser().feed(f)[0]) for f in frames_with(name, needle)]


def _line_of(changes: list[StateChange], device: str = "") -> LineState | None:
    lines = [c.line for c in changes if c.endpoint.device == device and c.line is not None]
    return lines[-1] if lines else None


@pytest.mark.parametrize(("state", "line"), DEVICE_STATE_TO_LINE.items(), ids=list(DEVICE_STATE_TO_LINE))
def test_every_pjsip_device_state_maps_to_its_line_state(state: str, line: LineState) -> None:
    tracker = _tracker(devices={"PJSIP/1001": "1001"})
    tracker.learn([])
    tracker.snapshot()
    if state == "NOT_INUSE":
        _feed(tracker, _device_event("PJSIP/1001", "INUSE"))
    changes = _feed(tracker, _device_event("PJSIP/1001", state))
    assert changes == [StateChange(EndpointKey("pbx", "1001", "", "PJSIP/1001"), line=line)]


@pytest.mark.parametrize("tech", ["PJSIP", "SIP", "IAX2"])
def test_sip_and_iax2_devices_are_phones_too_and_bound_through_their_hint(tech: str) -> None:
    tracker = _tracker()
    hint = f"{tech}/1001&Custom:DND1001,CustomPresence:1001"
    _feed(
        tracker,
        _msg(
            "Event: ExtensionStatus",
            "Exten: 1001",
            "Context: ext-local",
            f"Hint: {hint}",
            "Status: 0",
            "StatusText: Idle",
        ),
    )
    changes = _feed(tracker, _device_event(f"{tech}/1001", "INUSE"))
    assert _line_of(changes, f"{tech}/1001") is LineState.IN_CALL


@pytest.mark.parametrize(
    ("status", "line"), EXTENSION_STATUS_TO_LINE.items(), ids=[str(s) for s in EXTENSION_STATUS_TO_LINE]
)
def test_extension_status_maps_only_where_no_device_is_known(status: int, line: LineState) -> None:
    tracker = _tracker()
    changes = _feed(
        tracker,
        _msg(
            "Event: ExtensionStatus",
            "Exten: 1001",
            "Context: lab-hints",
            "Hint: Custom:1001",
            f"Status: {status}",
            "StatusText: x",
        ),
    )
    assert _line_of(changes) is line


def test_recorded_extension_status_sequence_of_capture_06() -> None:
    tracker = _tracker()
    lines = []
    for raw in frames_with("06_devstate_events", b"Event: ExtensionStatus"):
        lines.append(_line_of(tracker.apply(parse_message(FrameParser().feed(raw)[0]))))
    # INUSE, RINGING, ONHOLD, NOT_INUSE, BUSY, UNAVAILABLE, reset NOT_INUSE via DEVICE_STATE(Custom:1001)
    assert lines == [
        LineState.IN_CALL,
        LineState.RINGING,
        LineState.ON_HOLD,
        LineState.IDLE,
        LineState.BUSY,
        LineState.UNAVAILABLE,
        LineState.IDLE,
    ]


@pytest.mark.parametrize(("state", "dnd"), FREEPBX_DND_STATE.items(), ids=list(FREEPBX_DND_STATE))
def test_freepbx_dnd_device_state_maps_to_dnd(state: str, dnd: Toggle) -> None:
    tracker = _tracker()
    if dnd is Toggle.OFF:
        _feed(tracker, _device_event("Custom:DND1001", "BUSY"))
    changes = _feed(tracker, _device_event("Custom:DND1001", state))
    assert [c.dnd for c in changes] == [dnd]


def test_freepbx_dnd_from_astdb_on_and_off() -> None:
    tracker = _tracker()
    entry = parse_message(_msg("Event: DBGetTreeResponse", "Key: /DND/1001", "Val: YES"))
    assert isinstance(entry, AstDbFact)
    on = [c.dnd for c in tracker.replace_astdb([entry], ["DND"])]
    off = [c.dnd for c in tracker.replace_astdb([], ["DND"])]
    assert on == [Toggle.ON] and off == [Toggle.OFF]


@pytest.mark.parametrize(("status", "away"), PRESENCE_TO_AWAY.items(), ids=list(PRESENCE_TO_AWAY))
def test_presence_state_maps_to_away(status: str, away: Toggle) -> None:
    tracker = _tracker()
    if away is Toggle.OFF:
        _feed(tracker, _msg("Event: PresenceStateChange", "Presentity: CustomPresence:1001", "Status: away"))
    changes = _feed(
        tracker,
        _msg(
            "Event: PresenceStateChange",
            "Presentity: CustomPresence:1001",
            f"Status: {status}",
            "Subtype: ",
            "Message: ",
        ),
    )
    assert [c.away for c in changes] == [away]
    assert all(c.dnd in (None, Toggle.OFF) for c in changes)


def test_queue_member_pause_with_reason_from_recorded_capture_15() -> None:
    tracker = _tracker()
    pauses = [FrameParser().feed(f)[0] for f in frames_with("15_queue", b"Event: QueueMemberPause")]
    first = _feed(tracker, pauses[0])
    assert first[0].endpoint.extension == "1001"
    assert first[0].agent is not None and first[0].agent.paused and first[0].agent.reason == "lunch"
    assert not first[0].echo
    second = _feed(tracker, pauses[1])
    assert second[0].agent is not None and second[0].agent.logged_in and not second[0].agent.paused


def test_our_teams_pause_reason_is_recognised_as_echo() -> None:
    tracker = _tracker()
    raw = frames_with("15_queue", b"Event: QueueMemberPause")[0]
    raw = raw.replace(b"PausedReason: lunch", b"PausedReason: teams:call")
    changes = _feed(tracker, FrameParser().feed(raw)[0])
    assert changes[0].echo and changes[0].agent is not None and changes[0].agent.reason == "teams:call"


def test_our_teams_custom_state_never_changes_line_state() -> None:
    tracker = _tracker()
    hint = "PJSIP/1001&Custom:DND1001&Custom:TEAMS1001,CustomPresence:1001"
    _feed(tracker, _msg("Event: ExtensionStatus", "Exten: 1001", "Context: ext-local", f"Hint: {hint}"))
    _feed(tracker, _device_event("PJSIP/1001", "NOT_INUSE"))
    for state in ("INUSE", "BUSY", "NOT_INUSE"):
        assert _feed(tracker, _device_event("Custom:TEAMS1001", state)) == []
        changes = _feed(
            tracker,
            _msg(
                "Event: ExtensionStatus",
                "Exten: 1001",
                "Context: teams-blf",
                "Hint: Custom:TEAMS1001",
                "Status: 1",
            ),
        )
        assert changes == []
    assert tracker.counters["own_state_events"] == 3


def test_hint_with_our_state_but_no_phone_is_not_read_from_its_aggregate() -> None:
    tracker = _tracker()
    changes = _feed(
        tracker,
        _msg(
            "Event: ExtensionStatus",
            "Exten: 1005",
            "Context: ext-local",
            "Hint: Custom:TEAMS1005",
            "Status: 1",
        ),
    )
    assert _line_of(changes) is None


def test_freepbx_dnd_in_the_hint_does_not_read_as_busy_line() -> None:
    # Capture 07: hint Custom:1002&Custom:DND1002 shows "2 Busy" only because of DND.
    tracker = _tracker(line_device_prefixes=("PJSIP/",))
    seen = []
    for raw in frames_with("07_devstate_dnd_hint", b"Event: "):
        for change in tracker.apply(parse_message(FrameParser().feed(raw)[0])):
            seen.append((change.line, change.dnd))
    assert (LineState.BUSY, None) not in seen and (LineState.BUSY, Toggle.ON) not in seen
    assert (None, Toggle.ON) in seen or any(d is Toggle.ON for _, d in seen)


def test_ignored_contexts_and_feature_code_hints_are_dropped_and_counted() -> None:
    tracker = _tracker()
    for ext, ctx in (("*761001", "ext-local"), ("1001", "ext-dnd-hints"), ("1001", "teams-blf")):
        assert (
            _feed(
                tracker,
                _msg(
                    "Event: ExtensionStatus",
                    f"Exten: {ext}",
                    f"Context: {ctx}",
                    "Hint: PJSIP/1001",
                    "Status: 1",
                ),
            )
            == []
        )
    assert tracker.counters["ignored_hints"] == 3


def test_a_person_with_two_devices_is_busy_while_either_is_in_a_call() -> None:
    tracker = _tracker()
    tracker.learn(_facts(b"ActionID: D"))
    snap = tracker.snapshot()
    ext = {c.endpoint.device: c.line for c in snap.changes if c.endpoint.extension == "1002" and c.line}
    lines = {device: line for device, line in ext.items() if device}
    assert set(lines) == {"PJSIP/1002", "PJSIP/1102"}
    assert ext[""] is LineState.IDLE  # the extension's own endpoint: its devices carry the calls
    busiest = max(lines.values(), key=LINE_RANK.__getitem__)
    assert busiest is LineState.IN_CALL
    _feed(tracker, _device_event("PJSIP/1002", "NOT_INUSE"))
    _feed(tracker, _device_event("PJSIP/1102", "INUSE"))
    views = {c.endpoint.device: c.line for c in tracker.snapshot().changes if c.endpoint.extension == "1002"}
    assert max((v for v in views.values() if v), key=LINE_RANK.__getitem__) is LineState.IN_CALL


def test_hot_desking_moves_a_device_to_another_extension() -> None:
    tracker = _tracker()
    tracker.learn(_facts(b"ActionID: DB"))
    tracker.snapshot()
    entries = _facts(b"ActionID: DBDEV")
    moved = [
        e if e.key != "DEVICE/1102/user" else AstDbFact("DEVICE/1102/user", "1003")
        for e in entries
        if isinstance(e, AstDbFact)
    ]
    changes = tracker.replace_astdb(moved, ["DEVICE"])
    assert tracker.devices_of("1003") == ("PJSIP/1102",)
    assert StateChange(EndpointKey("pbx", "1002", "", "PJSIP/1102"), line=LineState.UNAVAILABLE) in changes


def test_snapshot_of_the_synthesized_freepbx_resync() -> None:
    tracker = _tracker()
    tracker.learn(_facts(b"ActionID: D"))
    tracker.learn(_facts(b"ActionID: ESL"))
    snap = tracker.snapshot()
    by_key = {(c.endpoint.extension, c.endpoint.device): c for c in snap.changes}
    assert by_key[("1001", "PJSIP/1001")].line is LineState.IDLE
    assert by_key[("1002", "")].dnd is Toggle.ON and by_key[("1001", "")].dnd is Toggle.OFF
    assert ("*761001", "") not in by_key
    assert by_key[("1003", "")].line is None  # Custom-only hint with FreePBX DND: no trustworthy line
    assert not snap.partial


def test_unknown_events_are_unrecognised_and_known_noise_is_ignored() -> None:
    assert isinstance(parse_message(_msg("Event: Frobnicate", "X: 1")), Unrecognised)
    assert isinstance(parse_message(_msg("Event: Newchannel", "Channel: PJSIP/1-1")), Ignored)
    assert isinstance(parse_message(_device_event("PJSIP/1", "SIDEWAYS")), Unrecognised)
    assert isinstance(parse_message(_msg("Response: Success")), Unrecognised)


def test_every_recorded_event_is_classified_without_raising() -> None:
    kinds = set()
    for conn in connections("15_queue") + connections("14_originate_dial") + connections("10_presence"):
        for msg in FrameParser().feed(conn):
            if msg.event:
                kinds.add(type(parse_message(msg)))
    assert {DeviceFact, HintFact, QueueMemberFact, Ignored} <= kinds
