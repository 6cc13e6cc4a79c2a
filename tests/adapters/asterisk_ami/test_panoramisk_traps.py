"""panoramisk 1.4's traps (reference asterisk-ami.md 5 and 9), reproduced with recorded bytes.

Where panoramisk's own code shows the trap cheaply, the test shows it there first, then shows our
replacement (frames.py / protocol.py / adapter.py) does not have it. Traps covered elsewhere:

| trap | where (test module :: test) |
|---|---|
| 2 no liveness detection | test_adapter :: test_ping_watchdog_drops_a_silent_connection... |
| 3 events lost on reconnect | test_adapter :: test_pbx_restart_mid_call_reconnects_resyncs... |
| 5 async on_login never awaited | n/a: no callbacks; the supervisor awaits login and resync |
| 6 wrong credentials loop forever | test_adapter :: test_wrong_password_is_bad_credentials... |
| 7, 8 close()/refused connect keep reconnecting | test_adapter :: test_stop_during_an_outage... |
| 13 header injection | test_writeback :: test_queue_pause_with_teams_reason...; test_frames |
| 19 echo loop | test_writeback :: test_setting_our_teams_state_never_changes... |
| 11, 25, 26 Command output, testing.Manager, loop outside | n/a: not used |
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from adapters.asterisk_ami.frames import AmiMessage, FrameParser
from adapters.asterisk_ami.protocol import AmiSession
from adapters.base import Health
from bridge.kit.clock import FakeClock
from tests.adapters.asterisk_ami.fake_ami import FakeAmi, live, recorded
from tests.adapters.asterisk_ami.fixtures import connections, frames_with
from tests.adapters.asterisk_ami.harness import WAIT, Run


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Factory:
    save_stream = None

    def __init__(self, fail_first: bool = False) -> None:
        self.events: list[Message] = []
        self.fail_first = fail_first

    def dispatch(self, message: Message) -> None:
        if self.fail_first and not self.events:
            self.events.append(message)
            raise RuntimeError("handler bug")
        self.events.append(message)

    def connection_lost(self, exc: object) -> None:
        pass


def _panoramisk(chunks: list[bytes], factory: _Factory | None = None) -> list[Message]:
    protocol = AMIProtocol()
    protocol.connection_made(_Transport())
    protocol.factory = factory or _Factory()
    protocol.encoding = "utf8"
    for chunk in chunks:
        protocol.data_received(chunk)
    return protocol.factory.events


def test_trap_12_utf8_split_across_reads_loses_characters_in_panoramisk_not_here() -> None:
    data = connections("30_freepbx_synth")[0]
    cut = data.index("Jürgen".encode()) + 2  # inside the two bytes of "ü"
    theirs = [m for m in _panoramisk([data[:cut], data[cut:]]) if m.get("Event") == "Newchannel"]
    assert theirs[0]["CallerIDName"] != "Jürgen Müller-Åström"  # the trap: "Jrgen ..."
    ours = [m for m in FrameParser().feed_all([data[:cut], data[cut:]]) if m.event == "Newchannel"]
    assert ours[0].get("CallerIDName") == "Jürgen Müller-Åström"


def test_empty_last_header_is_dropped_by_panoramisk_kept_here() -> None:
    data = connections("10_presence")[0]
    theirs = [m for m in _panoramisk([data]) if m.get("Status") == "available"]
    assert theirs and "Message" not in theirs[0]  # the trap (5.6): strip() ate "Message: "
    ours = [
        m
        for m in FrameParser().feed(data)
        if m.event == "PresenceStateChange" and m.get("Status") == "available"
    ]
    assert ours[0].get("Message") == ""


def test_trap_10_duplicate_message_header_becomes_a_list_in_panoramisk_kept_in_order_here() -> None:
    frame = frames_with("10_presence", b"PresenceMessage:")[0]
    theirs = Message.from_line(frame.decode().strip())
    assert isinstance(theirs["Message"], list)  # the trap
    ours = FrameParser().feed(frame)[0]
    assert ours.get("Message") == "Presence State" and ours.get("PresenceMessage") == "Busy in a meeting"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


async def test_trap_4_a_raising_handler_kills_panoramisk_but_not_our_session(fake: FakeAmi) -> None:
    events = b"".join(live("07_devstate_dnd_hint", b"Event: DeviceStateChange"))
    with pytest.raises(RuntimeError):
        _panoramisk([events], _Factory(fail_first=True))  # escapes data_received: connection dropped

    got: list[AmiMessage] = []
    calls = 0

    def handler(message: AmiMessage) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler bug")
        got.append(message)

    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    session = AmiSession(reader, writer, FakeClock(), handler, action_timeout=10)
    task = asyncio.create_task(session.run())
    try:
        await fake.push(events)
        login = await asyncio.wait_for(
            session.send("Login", [("Username", "bridge"), ("Secret", "bridgesecret")]), WAIT
        )
        assert login.ok
        pong = await asyncio.wait_for(session.send("Ping"), WAIT)
        assert pong.response.get("Ping") == "Pong"  # still alive after the handler blew up
        assert session.handler_errors == 1 and len(got) >= 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await session.close()


async def test_trap_9_list_items_stay_with_their_action_even_with_actionid_last(fake: FakeAmi) -> None:
    fake.replies["dbget"] = recorded("11_astdb", "11-3")  # DBGetResponse carries ActionID as last header
    live_events: list[AmiMessage] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    session = AmiSession(reader, writer, FakeClock(), live_events.append, action_timeout=10)
    task = asyncio.create_task(session.run())
    try:
        reply = await asyncio.wait_for(session.send("DBGet", [("Family", "DND"), ("Key", "1001")]), WAIT)
        assert [(i.get("Key"), i.get("Val")) for i in reply.items] == [("1001", "YES")]
        single = await asyncio.wait_for(session.send("Ping"), WAIT)
        assert single.items == [] and single.ok
        assert [m for m in live_events if m.event == "DBGetResponse"] == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await session.close()


async def test_trap_1_no_fullybooted_needed_login_without_it_still_resyncs(fake: FakeAmi) -> None:
    # Recorded connection 2 of capture 01 logged in with "Events: off": no FullyBooted follows.
    fake.login_ok = recorded("01_login_plain", "01-1", connection=1)[:1]
    async with Run(fake) as run:
        await run.until_health(Health.CONNECTED)
        assert run.snapshots and fake.actions_named("DeviceStateList")
