"""AMI messages -> typed facts, and the tables that give them canonical meaning. Pure.

Every mapping is one table (reference asterisk-ami.md sections 2, 4 and 8; DESIGN 13):
``DEVICE_STATE_TO_LINE`` (DeviceStateChange / DeviceStateList of phones),
``EXTENSION_STATUS_TO_LINE`` (ExtensionStatus, used only where no phone device is known),
``FREEPBX_DND_STATE`` (``Custom:DND<ext>``), ``PRESENCE_TO_AWAY`` (PresenceStateChange) and
``DEVICE_STATE_RANK`` (Asterisk's own aggregation order). ``parse_message`` never raises: what
it does not know comes back as ``Unrecognised`` (counted by the caller) or ``Ignored``.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.asterisk_ami.frames import AmiMessage
from bridge.model import LineState, Toggle

# DeviceStateChange "State:" strings (devicestate.c devstatestring) -> line of a phone.
# UNKNOWN is what PJSIP says when it does not know the endpoint's state; Asterisk itself
# shows it as Idle in hints, and so do we (canonical `unknown` is kept for "adapter blind").
DEVICE_STATE_TO_LINE: dict[str, LineState] = {
    "UNKNOWN": LineState.IDLE,
    "NOT_INUSE": LineState.IDLE,
    "INUSE": LineState.IN_CALL,
    "BUSY": LineState.BUSY,
    "INVALID": LineState.UNAVAILABLE,
    "UNAVAILABLE": LineState.UNAVAILABLE,
    "RINGING": LineState.RINGING,
    "RINGINUSE": LineState.IN_CALL,  # in a call with another one ringing: the call wins
    "ONHOLD": LineState.ON_HOLD,
}

# Asterisk's aggregation rank (devicestate.c ast_devstate_aggregate_add): higher wins.
DEVICE_STATE_RANK: dict[str, int] = {
    "INVALID": 0,
    "UNKNOWN": 1,
    "UNAVAILABLE": 2,
    "NOT_INUSE": 3,
    "ONHOLD": 4,
    "RINGING": 5,
    "INUSE": 6,
    "BUSY": 7,
    "RINGINUSE": 8,
}
assert set(DEVICE_STATE_RANK) == set(DEVICE_STATE_TO_LINE), "one rank per device state"

# ExtensionStatus "Status:" codes (pbx.h ast_extension_states) -> line. 17 is documented but
# never produced; -1/-2 (hint or extension removed) say nothing about the phone.
EXTENSION_STATUS_TO_LINE: dict[int, LineState] = {
    -2: LineState.UNKNOWN,
    -1: LineState.UNKNOWN,
    0: LineState.IDLE,
    1: LineState.IN_CALL,
    2: LineState.BUSY,
    4: LineState.UNAVAILABLE,
    8: LineState.RINGING,
    9: LineState.IN_CALL,
    16: LineState.ON_HOLD,
    17: LineState.ON_HOLD,
}

# FreePBX DND custom device state (DESIGN 13): BUSY is on; UNAVAILABLE, NOT_INUSE or absent off.
FREEPBX_DND_STATE: dict[str, Toggle] = {
    "BUSY": Toggle.ON,
    "UNAVAILABLE": Toggle.OFF,
    "NOT_INUSE": Toggle.OFF,
    "UNKNOWN": Toggle.OFF,
    "INVALID": Toggle.OFF,
}
FREEPBX_DND_ON_VALUE = "BUSY"
FREEPBX_DND_OFF_VALUE = "UNAVAILABLE"  # as FreePBX writes it: never masks the phone's real state

# PresenceStateChange "Status:" (presencestate.c state2string) -> away. A presence "dnd" is a
# status message, not FreePBX's DND feature (that has its own keys), so it does not set dnd.
PRESENCE_TO_AWAY: dict[str, Toggle] = {
    "not_set": Toggle.OFF,
    "available": Toggle.OFF,
    "chat": Toggle.OFF,
    "dnd": Toggle.OFF,
    "away": Toggle.ON,
    "xa": Toggle.ON,
    "unavailable": Toggle.ON,
}

FREEPBX_DND_DEVICE = "Custom:DND"
FREEPBX_DEVICE_DND_DEVICE = "Custom:DEVDND"
CUSTOM_PRESENCE = "CustomPresence:"

QUEUE_MEMBER_EVENTS = frozenset(
    {
        "QueueMember",
        "QueueMemberStatus",
        "QueueMemberAdded",
        "QueueMemberPause",
        "QueueMemberPenalty",
        "QueueMemberRinginuse",
        "QueueMemberRemoved",
    }
)
# Events we receive but do not use (our Events: mask still lets the call class through).
IGNORED_EVENTS = frozenset(
    {
        "FullyBooted",
        "PresenceStatus",
        "QueueParams",
        "QueueSummary",
        "Newchannel",
        "Newstate",
        "Hangup",
        "Newexten",
        "NewCallerid",
        "NewConnectedLine",
        "VarSet",
        "DialBegin",
        "DialEnd",
        "DialState",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "Hold",
        "Unhold",
        "LocalBridge",
        "OriginateResponse",
        "QueueCallerJoin",
        "QueueCallerLeave",
        "QueueCallerAbandon",
        "AgentCalled",
        "AgentConnect",
        "AgentRingNoAnswer",
        "AgentDump",
        "UserEvent",
        "Cdr",
        "Registry",
        "HangupRequest",
        "SoftHangupRequest",
        "NewAccountCode",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "DeviceStateListComplete",
        "ExtensionStateListComplete",
        "PresenceStateListComplete",
        "DBGetTreeComplete",
        "DBGetComplete",
        "QueueStatusComplete",
        "QueueSummaryComplete",
        "PeerStatus",
        "ContactStatus",
        "DeviceStateChangeComplete",
        "RTCPSent",
        "RTCPReceived",
        "DTMFBegin",
        "DTMFEnd",
        "LocalOptimizationBegin",
        "LocalOptimizationEnd",
        "ChallengeSent",
        "SuccessfulAuth",
        "Reload",
        "Load",
        "Unload",
        "ChannelTalkingStart",
        "ChannelTalkingStop",
    }
)


# --- facts -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceFact:
    device: str
    state: str  # upper-case Asterisk device state string


@dataclass(frozen=True, slots=True)
class HintFact:
    exten: str
    context: str
    devices: tuple[str, ...]  # the hint's device part, split on "&"
    status: int | None  # None when the code is not a number


@dataclass(frozen=True, slots=True)
class PresenceFact:
    provider: str
    status: str


@dataclass(frozen=True, slots=True)
class QueueMemberFact:
    queue: str
    interface: str
    state_interface: str
    member_name: str
    paused: bool
    reason: str
    in_call: bool
    removed: bool
    last_call: int
    wrapup_time: int


@dataclass(frozen=True, slots=True)
class AgentCallEnded:
    """AgentComplete: a queue member's call ended; the member's wrap-up time starts now."""

    queue: str
    interface: str


@dataclass(frozen=True, slots=True)
class AstDbFact:
    """One AstDB entry, ``key`` as the full path without the leading slash ("DND/1001")."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Shutdown:
    restart: bool


@dataclass(frozen=True, slots=True)
class Ignored:
    event: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    reason: str


Fact = (
    DeviceFact
    | HintFact
    | PresenceFact
    | QueueMemberFact
    | AgentCallEnded
    | AstDbFact
    | Shutdown
    | Ignored
    | Unrecognised
)


def _int(text: str | None, default: int = 0) -> int | None:
    if text is None or text.strip() == "":
        return default
    try:
        return int(text.strip())
    except ValueError:
        return None


def hint_devices(hint: str) -> tuple[str, ...]:
    """``PJSIP/100&Custom:DND100,CustomPresence:100`` -> ("PJSIP/100", "Custom:DND100")."""
    device_part = hint.split(",", 1)[0]
    return tuple(d.strip() for d in device_part.split("&") if d.strip())


def _queue_member(msg: AmiMessage, event: str) -> Fact:
    interface = msg.get("Interface") or msg.get("Location")
    queue = msg.get("Queue")
    if not interface or not queue:
        return Unrecognised(f"{event} without Queue/Interface")
    last_call = _int(msg.get("LastCall"))
    wrapup = _int(msg.get("Wrapuptime"))
    return QueueMemberFact(
        queue=queue,
        interface=interface,
        state_interface=msg.text("StateInterface") or interface,
        member_name=msg.text("MemberName") or msg.text("Name"),
        paused=msg.text("Paused").strip() == "1",
        reason=msg.text("PausedReason"),
        in_call=msg.text("InCall").strip() == "1",
        removed=event == "QueueMemberRemoved",
        last_call=last_call or 0,
        wrapup_time=wrapup or 0,
    )


def parse_message(msg: AmiMessage) -> Fact:
    """Classify one event (live or a list item). Never raises."""
    event = msg.event
    if event is None:
        return Unrecognised("not an event")
    if event == "DeviceStateChange":
        device, state = msg.get("Device"), (msg.get("State") or "").strip().upper()
        if not device or state not in DEVICE_STATE_TO_LINE:
            return Unrecognised(f"DeviceStateChange with device={device!r} state={state!r}")
        return DeviceFact(device, state)
    if event == "ExtensionStatus":
        exten, hint = msg.get("Exten"), msg.get("Hint")
        if not exten or hint is None:
            return Unrecognised("ExtensionStatus without Exten/Hint")
        return HintFact(exten, msg.text("Context"), hint_devices(hint), _int(msg.get("Status"), default=-1))
    if event == "PresenceStateChange":
        provider, status = msg.get("Presentity"), (msg.get("Status") or "").strip().lower()
        if not provider or status not in PRESENCE_TO_AWAY:
            return Unrecognised(f"PresenceStateChange with status={status!r}")
        return PresenceFact(provider, status)
    if event in QUEUE_MEMBER_EVENTS:
        return _queue_member(msg, event)
    if event == "AgentComplete":
        queue, interface = msg.get("Queue"), msg.get("Interface")
        if not queue or not interface:
            return Unrecognised("AgentComplete without Queue/Interface")
        return AgentCallEnded(queue, interface)
    if event in ("DBGetTreeResponse", "DBGetResponse"):
        key = msg.get("Key")
        if key is None:
            return Unrecognised(f"{event} without Key")
        if event == "DBGetResponse":
            key = f"{msg.text('Family')}/{key}"
        return AstDbFact(key.lstrip("/"), msg.text("Val"))
    if event == "Shutdown":
        return Shutdown(restart=msg.text("Restart").strip().lower() in ("true", "yes", "1"))
    if event in IGNORED_EVENTS:
        return Ignored(event)
    return Unrecognised(f"event {event}")
