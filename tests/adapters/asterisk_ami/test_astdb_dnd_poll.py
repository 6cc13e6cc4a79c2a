"""FreePBX DND set or cleared through AstDB alone (no device state) is noticed by the AstDB poll.

AstDB raises no AMI event (reference asterisk-ami.md 4.2): ``database put DND 1002 YES`` on the
CLI, or a provisioning script, changes what FreePBX routes on (``DND/<ext>``) and nothing else.
The DBGetTree replies below are SYNTHESIZED from the recorded shape of ``11_astdb`` (action 11-5:
response, one ``DBGetTreeResponse`` per key with the ActionID last, ``DBGetTreeComplete``) and the
recorded "Database entry not found" for an empty family; keys and values are invented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import Health
from bridge.model import EndpointKey, Toggle
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, LAB_REPLIES, FakeAmi, recorded
from tests.adapters.asterisk_ami.harness import Run

POLL = 30.0
_TREE = recorded("11_astdb", "11-5")  # response, /DND/1001 = YES, /DND/1002 = "", complete


def dnd_tree(entries: dict[str, str]) -> list[bytes]:
    """A DBGetTree reply for family DND holding ``entries`` (extension -> value), recorded shape."""
    if not entries:
        return LAB_REPLIES["dbgettree:device"]  # recorded: Response: Error / Database entry not found
    response, item, _, complete = _TREE
    items = [
        item.replace(b"Key: /DND/1001", f"Key: /DND/{ext}".encode()).replace(
            b"Val: YES", f"Val: {v}".encode()
        )
        for ext, v in entries.items()
    ]
    return [response, *items, complete.replace(b"ListItems: 2", f"ListItems: {len(items)}".encode())]


def _device_event(device: str, state: str) -> bytes:
    lines = ["Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)  # synthesized FreePBX: AstDB DND/1002 = YES at start
    await server.start()
    yield server
    await server.close()


def _dnd_of(run: Run, ext: str, since: int) -> list[Toggle]:
    key = EndpointKey("pbx", ext, "", "")
    return [c.dnd for c in run.changes_since(since) if c.endpoint == key and c.dnd is not None]


async def _polls(run: Run, fake: FakeAmi, count: int) -> None:
    for _ in range(count):
        asked = len(fake.actions_named("DBGetTree"))
        await run.clock.advance(POLL)
        await fake.until_actions("DBGetTree", asked + 2)  # DEVICE and DND


async def test_dnd_put_into_astdb_alone_after_devstate_on_and_off_is_seen(freepbx: FakeAmi) -> None:
    async with Run(freepbx, astdb_poll_interval=POLL, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        snap = {c.endpoint.extension: c.dnd for c in run.snapshots[0].changes if not c.endpoint.device}
        assert snap["1002"] is Toggle.ON
        mark = run.mark()
        freepbx.replies["dbgettree:dnd"] = dnd_tree({})  # *79: DBdel DND/1002 ...
        await freepbx.push(_device_event("Custom:DND1002", "UNAVAILABLE"))  # ... and the lamp off
        await run.until(lambda _: _dnd_of(run, "1002", mark) == [Toggle.OFF])
        freepbx.replies["dbgettree:dnd"] = dnd_tree(
            {"1002": "YES"}
        )  # `database put DND 1002 YES`, no devstate
        await _polls(run, freepbx, 3)
        await run.until(lambda _: _dnd_of(run, "1002", mark) == [Toggle.OFF, Toggle.ON])
        assert not run.changes_since(mark)[-1].echo  # the person's (or admin's) DND: not ours


async def test_dnd_deleted_from_astdb_alone_while_the_lamp_still_says_busy_is_seen(freepbx: FakeAmi) -> None:
    async with Run(freepbx, astdb_poll_interval=POLL, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        await freepbx.push(_device_event("Custom:DND1002", "BUSY"))  # lamp agrees with AstDB: no change
        freepbx.replies["dbgettree:dnd"] = dnd_tree({})  # `database del DND 1002`: FreePBX routes again
        await _polls(run, freepbx, 1)
        await run.until(lambda _: _dnd_of(run, "1002", mark) == [Toggle.OFF])


async def test_polls_keep_quiet_while_astdb_and_lamps_agree(freepbx: FakeAmi) -> None:
    async with Run(freepbx, astdb_poll_interval=POLL, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        await _polls(run, freepbx, 3)
        await freepbx.push(_device_event("PJSIP/1001", "INUSE"))  # read after the last poll's reply
        await run.until(lambda _: any(c.endpoint.device == "PJSIP/1001" for c in run.changes_since(mark)))
        assert _dnd_of(run, "1002", mark) == [] and _dnd_of(run, "1001", mark) == []
