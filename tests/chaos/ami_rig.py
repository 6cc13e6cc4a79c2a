"""The Asterisk side of an AMI chaos run: a FreePBX that remembers everything written to it and
survives its own restarts, the people's phones and DND keys on it, and the bridge's configuration.

``ChaosPbx`` is ``pbx_state.FreePbx`` (recorded Asterisk 22.10.1 frames, values swapped) plus one
queue: ``QueueStatus`` answers the recorded ``15_queue`` list with the member's current pause, and
``QueuePause`` changes it and pushes the recorded ``QueueMemberPause`` event, as Asterisk does.
``down()`` / ``up()`` stop and restart the AMI listener on the same port; AstDB, device states and
the queue survive (they are Asterisk's, not the session's).

What a person does on their phone is what FreePBX does (reference asterisk-ami.md 4.1): a call
changes ``PJSIP/<ext>`` and pushes ``DeviceStateChange``; ``*78`` / ``*76`` set or delete
``DND/<ext>`` and set ``Custom:DND<ext>`` and ``Custom:DEVDND<device>`` (with their events); an
admin's ``database put DND <ext> YES`` changes AstDB alone (no event: the bridge's AstDB poll finds it).
"""

from __future__ import annotations

import asyncio
import re

from adapters.asterisk_ami.frames import AmiMessage
from bridge.demo import tenant_yaml
from bridge.emulator.server import EmulatorHandle
from tests.adapters.asterisk_ami.fake_ami import ManagerUser, _with_id, live, recorded
from tests.adapters.asterisk_ami.pbx_state import FreePbx, device_event
from tests.chaos.rig import PEOPLE, START_WAIT

WATCH_INTERVAL = 5.0  # watch.interval_seconds
ASTDB_POLL = 5.0  # astdb_poll_interval: an AstDB-only DND is found within this
OPTED_IN = "1002"  # Bob: pbx_dnd_from_teams (README "Default mapping, Teams -> PBX")
QUEUE_MEMBER = "Local/1001@lab-agents"  # Alice's queue membership in the recorded 15_queue

# Device states a phone reports, and the line README's PBX -> Teams table reads from them
# (reference asterisk-ami.md: DeviceStateChange states; NOT_INUSE is a phone at rest).
PHONE_STATES: dict[str, str] = {
    "NOT_INUSE": "idle",
    "INUSE": "in_call",
    "ONHOLD": "on_hold",
    "BUSY": "busy",
    "RINGING": "ringing",
    "UNAVAILABLE": "unavailable",
}

_STATUS = recorded("15_queue", "15-3")  # response, QueueParams, QueueMember, QueueStatusComplete
_PAUSED = recorded("15_queue", "15-5", response_only=True)  # Interface paused successfully
_UNPAUSED = recorded("15_queue", "15-6", response_only=True)  # Interface unpaused successfully
_MEMBER_PAUSE = live("15_queue", b"Event: QueueMemberPause")[0]


def _swap(frame: bytes, **values: str) -> bytes:
    for header, value in values.items():
        frame = re.sub(
            rf"^{header}: [^\r\n]*\r\n".encode(), f"{header}: {value}\r\n".encode(), frame, flags=re.M
        )
    return frame


def at_rest() -> tuple[dict[str, str], dict[str, str]]:
    """AstDB and device states of the lab at rest: one PJSIP phone per person, nobody in DND."""
    astdb: dict[str, str] = {}
    devices: dict[str, str] = {}
    for person in PEOPLE:
        ext = person.extension
        astdb[f"DEVICE/{ext}/dial"] = f"PJSIP/{ext}"
        astdb[f"DEVICE/{ext}/user"] = ext
        astdb[f"AMPUSER/{ext}/device"] = ext
        devices[f"PJSIP/{ext}"] = "NOT_INUSE"
        devices[f"Custom:DND{ext}"] = "UNAVAILABLE"
    return astdb, devices


class ChaosPbx(FreePbx):
    def __init__(self) -> None:
        astdb, devices = at_rest()
        super().__init__(astdb, devices, user=ManagerUser())
        self.paused = ""  # the queue member's pause reason ("" not paused)
        self.running = False

    async def up(self) -> None:
        await self.start()
        self.running = True

    async def down(self) -> None:
        """Asterisk stops: connections drop, the port refuses, the state stays."""
        self.running = False
        await self.refuse()

    async def phone(self, ext: str, state: str) -> None:
        self.devices[f"PJSIP/{ext}"] = state
        await self.push(device_event(f"PJSIP/{ext}", state))

    async def press_dnd(self, ext: str, on: bool) -> None:
        """``*78`` / ``*76`` (FreePBX: AstDB, the hint device, its event)."""
        if on:
            self.astdb[f"DND/{ext}"] = "YES"
        else:
            self.astdb.pop(f"DND/{ext}", None)
        value = "BUSY" if on else "UNAVAILABLE"
        for device in (f"DND{ext}", f"DEVDND{self.astdb[f'AMPUSER/{ext}/device']}"):  # and each phone's
            self.devices[f"Custom:{device}"] = value
            self.astdb[f"CustomDevstate/{device}"] = value
            await self.push(device_event(f"Custom:{device}", value))

    def astdb_dnd(self, ext: str, on: bool) -> None:
        """``database put DND <ext> YES`` / ``database del DND <ext>``: AstDB only, no event."""
        if on:
            self.astdb[f"DND/{ext}"] = "YES"
        else:
            self.astdb.pop(f"DND/{ext}", None)

    def dnd_on(self, ext: str) -> bool:
        """FreePBX DND as the admin reads it (DESIGN 13): a DND/<ext> value or a BUSY lamp."""
        return (
            bool(self.astdb.get(f"DND/{ext}", "").strip()) or self.devices.get(f"Custom:DND{ext}") == "BUSY"
        )

    async def _answer(self, message: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        name = (message.get("Action") or "").lower()
        if name not in ("queuestatus", "queuepause") or self.silent:
            return await super()._answer(message, writer)
        self.actions.append(message)
        if name == "queuestatus":
            member = _swap(_STATUS[2], Paused="1" if self.paused else "0", PausedReason=self.paused)
            writer.write(_with_id([_STATUS[0], _STATUS[1], member, _STATUS[3]], message.action_id))
        else:
            pause = (message.get("Paused") or "").lower() == "true"
            self.paused = (message.get("Reason") or "paused") if pause else ""
            writer.write(_with_id(_PAUSED if pause else _UNPAUSED, message.action_id))
            writer.write(_swap(_MEMBER_PAUSE, Paused="1" if pause else "0", PausedReason=self.paused))
        await writer.drain()
        return True


def ami_yaml(handle: EmulatorHandle, state: str, port: int) -> str:
    """The bridge with the AMI adapter, Teams -> PBX watching and every write-back README documents."""
    listed = "\n".join(
        f"  - {{id: {p.object_id}, tenant: demo, name: {p.name}, "
        + ("pbx_dnd_from_teams: true, " if p.extension == OPTED_IN else "")
        + f'endpoints: [{{adapter: pbx, extension: "{p.extension}"}}]}}'
        for p in PEOPLE
    )
    teams = tenant_yaml(handle).replace(
        f"    ca_file: {handle.ca_file}\n",
        f"    ca_file: {handle.ca_file}\n"
        f"    watch: {{enabled: true, interval_seconds: {WATCH_INTERVAL:g}}}\n",
    )
    return (
        teams
        + f"""people:
{listed}
adapters:
  pbx:
    kind: asterisk_ami
    host: 127.0.0.1
    port: {port}
    username: bridge
    secret: bridgesecret
    freepbx: true
    freepbx_dnd_write: true
    queue_pause_write: true
    astdb_poll_interval: {ASTDB_POLL:g}
    ping_interval: 3600
    backoff_initial: 1
    backoff_max: 4
state:
  path: {state}
  start_wait_seconds: {START_WAIT:g}
"""
    )
