"""A fake FreePBX that remembers what is written to it: AstDB and custom device states.

``FakeAmi`` replays fixed recorded replies; verifying ``release`` (read back) and restarts needs a
PBX whose AstDB and device states follow the writes. As in Asterisk (reference 4.3, capture 11: a
``DBGetTree CustomDevstate`` lists every custom device), a ``Setvar DEVICE_STATE(Custom:X)`` is also
kept in AstDB ``CustomDevstate/X``; deleting that key is what removes the device for good.
Every reply here is a recorded Asterisk 22.10.1
frame with only its values swapped (the capture and ActionID named at each use); a ``Setvar`` of a
``DEVICE_STATE`` pushes the ``DeviceStateChange`` event a real Asterisk sends (recorded shape of 07).
Actions not modelled here get ``FakeAmi``'s recorded FreePBX replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from adapters.asterisk_ami.frames import AmiMessage
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, ManagerUser, _with_id, recorded

_DB_GET = recorded("11_astdb", "11-3")  # response, one DBGetResponse, DBGetComplete
_DB_TREE = recorded("11_astdb", "11-5")  # response, DBGetTreeResponse items, DBGetTreeComplete
_NOT_FOUND = recorded("11_astdb", "11-7")  # Database entry not found
_DELETED = recorded("11_astdb", "11-6")
_NOT_DELETED = recorded("11_astdb", "11-8")  # Database entry could not be deleted
_PUT = recorded("11_astdb", "11-2")
_GETVAR = recorded("06_devstate_events", "06-8")
_SETVAR = recorded("06_devstate_events", "06-2", response_only=True)
_DEVICE_LIST = recorded("30_freepbx_synth", "DSL")  # synthesized from the recorded 09 shape
_DEVSTATE = re.compile(r"DEVICE_STATE\((.+)\)")

# The FreePBX lab at rest: AstDB DEVICE keys as in 30_freepbx_synth, nobody in DND.
FREEPBX_DEVICES = {
    "DEVICE/1001/dial": "PJSIP/1001",
    "DEVICE/1001/user": "1001",
    "DEVICE/1002/dial": "PJSIP/1002",
    "DEVICE/1002/user": "1002",
    "DEVICE/1102/dial": "PJSIP/1102",
    "DEVICE/1102/user": "1002",
    "DEVICE/1102/type": "adhoc",
}
AT_REST = {
    "PJSIP/1001": "NOT_INUSE",
    "PJSIP/1002": "NOT_INUSE",
    "PJSIP/1102": "NOT_INUSE",
    "Custom:DND1001": "UNAVAILABLE",
    "Custom:DND1002": "UNAVAILABLE",
}


def _swap(frame: bytes, **values: str) -> bytes:
    for header, value in values.items():
        frame = re.sub(
            rf"^{header}: [^\r\n]*\r\n".encode(), f"{header}: {value}\r\n".encode(), frame, flags=re.M
        )
    return frame


def device_event(device: str, state: str) -> bytes:
    """A DeviceStateChange in the recorded shape of 07 (Event, Privilege, Device, State)."""
    lines = ("Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class FreePbx(FakeAmi):
    """``astdb`` keys are ``FAMILY/KEY``; ``devices`` maps device names to their state."""

    def __init__(
        self,
        astdb: dict[str, str] | None = None,
        devices: dict[str, str] | None = None,
        *,
        user: ManagerUser | None = None,
    ) -> None:
        super().__init__(FREEPBX_REPLIES, user=user)
        self.astdb = dict(FREEPBX_DEVICES if astdb is None else astdb)
        self.devices = dict(AT_REST if devices is None else devices)
        self.undeletable: set[str] = set()  # AstDB keys whose DBDel fails ("could not be deleted")

    def dnd(self, ext: str) -> tuple[str | None, str]:
        """FreePBX DND for ``ext`` as an admin would check it: ``DND/<ext>`` and its hint device."""
        return self.astdb.get(f"DND/{ext}"), self.devices.get(f"Custom:DND{ext}", "UNKNOWN")

    async def _answer(self, message: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        name = (message.get("Action") or "").lower()
        handler = {
            "dbput": self._db_put,
            "dbdel": self._db_del,
            "dbget": self._db_get,
            "dbgettree": self._db_tree,
            "getvar": self._getvar,
            "setvar": self._setvar,
            "devicestatelist": self._device_list,
        }.get(name)
        refused = self.user is not None and not self.user.allows(name)
        if handler is None or refused or self.silent or name in self.hold_replies:
            return await super()._answer(message, writer)
        self.actions.append(message)
        writer.write(_with_id(handler(message), message.action_id))
        await writer.drain()
        if name == "setvar":
            device = _DEVSTATE.fullmatch(message.get("Variable") or "")
            if device is not None:
                writer.write(device_event(device.group(1), self.devices[device.group(1)]))
                await writer.drain()
        return True

    @staticmethod
    def _key(message: AmiMessage) -> str:
        return f"{message.get('Family')}/{message.get('Key')}"

    def _db_put(self, message: AmiMessage) -> list[bytes]:
        self.astdb[self._key(message)] = message.get("Val") or ""
        return _PUT

    def _db_del(self, message: AmiMessage) -> list[bytes]:
        key = self._key(message)
        if key in self.undeletable:
            return _NOT_DELETED
        return _DELETED if self.astdb.pop(key, None) is not None else _NOT_DELETED

    def _db_get(self, message: AmiMessage) -> list[bytes]:
        value = self.astdb.get(self._key(message))
        if value is None:
            return _NOT_FOUND
        item = _swap(_DB_GET[1], Family=message.get("Family") or "", Key=message.get("Key") or "", Val=value)
        return [_DB_GET[0], item, _DB_GET[2]]

    def _db_tree(self, message: AmiMessage) -> list[bytes]:
        prefix = f"{message.get('Family')}/"
        found = sorted((k, v) for k, v in self.astdb.items() if k.startswith(prefix))
        if not found:
            return _NOT_FOUND
        items = [_swap(_DB_TREE[1], Key=f"/{k}", Val=v) for k, v in found]
        return [_DB_TREE[0], *items, _swap(_DB_TREE[-1], ListItems=str(len(items)))]

    def _getvar(self, message: AmiMessage) -> list[bytes]:
        variable = message.get("Variable") or ""
        device = _DEVSTATE.fullmatch(variable)
        value = self.devices.get(device.group(1), "UNKNOWN") if device else ""
        return [_swap(_GETVAR[0], Variable=variable, Value=value)]

    def _setvar(self, message: AmiMessage) -> list[bytes]:
        device = _DEVSTATE.fullmatch(message.get("Variable") or "")
        if device is not None:
            value = message.get("Value") or ""
            self.devices[device.group(1)] = value
            if device.group(1).startswith("Custom:"):
                self.astdb[f"CustomDevstate/{device.group(1).removeprefix('Custom:')}"] = value
        return _SETVAR

    def _device_list(self, message: AmiMessage) -> list[bytes]:
        template = _DEVICE_LIST[1]
        items = [_swap(template, Device=d, State=s) for d, s in sorted(self.devices.items())]
        return [_DEVICE_LIST[0], *items, _swap(_DEVICE_LIST[-1], ListItems=str(len(items)))]


@contextlib.asynccontextmanager
async def serving(pbx: FreePbx) -> AsyncIterator[FreePbx]:
    """``pbx`` listening on 127.0.0.1 for the block."""
    await pbx.start()
    try:
        yield pbx
    finally:
        await pbx.close()
