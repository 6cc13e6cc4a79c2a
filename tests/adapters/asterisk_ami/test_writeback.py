"""Teams -> PBX write-back over the fake AMI server: routable state, opt-in DND, queue pause."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.asterisk_ami.writeback import freepbx_hints, sanitize
from adapters.base import Health, RoutableState, WriteBack
from bridge.errors import AdapterError
from bridge.model import Toggle
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, live
from tests.adapters.asterisk_ami.harness import Run


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    yield server
    await server.close()


def _sent(fake: FakeAmi, since: int) -> list[tuple[str, ...]]:
    return [tuple(v for _, v in a.headers if _ != "ActionID") for a in fake.actions[since:]]


def _device_event(device: str, state: str) -> bytes:
    lines = ["Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_routable_state_goes_to_astdb_and_the_teams_blf_device(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        n = len(freepbx.actions)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.CALL))
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.NONE))
        assert _sent(freepbx, n) == [
            ("DBPut", "TEAMS", "1001", "call"),
            ("Setvar", "DEVICE_STATE(Custom:TEAMS1001)", "INUSE"),
            ("DBDel", "TEAMS", "1001"),
            ("Setvar", "DEVICE_STATE(Custom:TEAMS1001)", "NOT_INUSE"),
        ]


async def test_setting_our_teams_state_never_changes_the_persons_line_state(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        await run.adapter.write_back(WriteBack("1001", routable=RoutableState.DND))
        mark = run.mark()
        echo = (
            _device_event("Custom:TEAMS1001", "BUSY")
            + b"Event: ExtensionStatus\r\nPrivilege: call,all\r\nExten: 1001\r\nContext: teams-blf\r\n"
            b"Hint: Custom:TEAMS1001\r\nStatus: 2\r\nStatusText: Busy\r\n\r\n"
            + _device_event("PJSIP/1002", "NOT_INUSE")  # a real change, as a fence
        )
        await freepbx.push(echo)
        await run.until(lambda seen: len(run.changes_since(mark)) >= 1)
        assert [c.endpoint.extension for c in run.changes_since(mark)] == ["1002"]


async def test_pbx_dnd_is_opt_in(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        with pytest.raises(AdapterError, match="freepbx_dnd_write"):
            await run.adapter.write_back(WriteBack("1001", pbx_dnd=True))


async def test_pbx_dnd_uses_freepbx_values_and_its_echo_is_marked(freepbx: FakeAmi) -> None:
    async with Run(freepbx, freepbx_dnd_write=True) as run:
        await run.until_health(Health.CONNECTED)
        n = len(freepbx.actions)
        await run.adapter.write_back(WriteBack("1002", pbx_dnd=False))  # DND 1002 is the person's own
        assert _sent(freepbx, n) == []
        await run.adapter.write_back(WriteBack("1001", pbx_dnd=True))
        assert _sent(freepbx, n) == [
            ("DBPut", "DND", "1001", "YES"),
            ("Setvar", "DEVICE_STATE(Custom:DND1001)", "BUSY"),
            ("Setvar", "DEVICE_STATE(Custom:DEVDND1001)", "BUSY"),
        ]
        mark = run.mark()
        await freepbx.push(_device_event("Custom:DND1001", "BUSY"))
        await run.until(lambda seen: len(run.changes_since(mark)) >= 1)
        change = run.changes_since(mark)[0]
        assert change.dnd is Toggle.ON and change.echo
        n = len(freepbx.actions)
        await run.adapter.write_back(WriteBack("1001", pbx_dnd=False))
        assert _sent(freepbx, n)[:2] == [
            ("DBDel", "DND", "1001"),
            ("Setvar", "DEVICE_STATE(Custom:DND1001)", "UNAVAILABLE"),
        ]


async def test_pbx_dnd_we_set_is_released_after_the_cap(freepbx: FakeAmi) -> None:
    async with Run(
        freepbx,
        freepbx_dnd_write=True,
        dnd_max_hold=600.0,
        astdb_poll_interval=86400.0,
        ping_interval=86400.0,
    ) as run:
        await run.until_health(Health.CONNECTED)
        await run.adapter.write_back(WriteBack("1001", pbx_dnd=True))
        n = len(freepbx.actions)
        await run.clock.advance(599.0)
        assert freepbx.actions_named("DBDel") == []
        await run.clock.advance(61.0)
        await run.until(lambda seen: len(freepbx.actions_named("Setvar")) >= 2 + 2)
        assert ("DBDel", "DND", "1001") in _sent(freepbx, n)
        assert run.adapter.counters["dnd_releases"] == 1


async def test_the_persons_own_dnd_off_wins_over_ours(freepbx: FakeAmi) -> None:
    async with Run(freepbx, freepbx_dnd_write=True) as run:
        await run.until_health(Health.CONNECTED)
        await run.adapter.write_back(WriteBack("1001", pbx_dnd=True))
        await freepbx.push(_device_event("Custom:DND1001", "BUSY"))  # our echo
        await freepbx.push(_device_event("Custom:DND1001", "UNAVAILABLE"))  # they pressed *79
        await run.until(lambda seen: any(c.dnd is Toggle.OFF and not c.echo for c in run.changes))
        assert run.adapter.counters["pbx_dnd_owned"] == 0


async def test_queue_pause_with_teams_reason_and_unpause_only_while_ours() -> None:
    fake = FakeAmi()  # lab replies: QueueStatus has Local/1001@lab-agents for 1001
    await fake.start()
    try:
        async with Run(fake, queue_pause_write=True) as run:
            await run.until_health(Health.CONNECTED)
            n = len(fake.actions)
            await run.adapter.write_back(WriteBack("1001", queue_pause="call\r\nAction: Originate"))
            assert _sent(fake, n) == [
                ("QueuePause", "Local/1001@lab-agents", "true", "teams:call Action: Originate")
            ]
            lunch = live("15_queue", b"Event: QueueMemberPause")[0]  # the agent paused for lunch
            await fake.push(lunch)
            await run.until(lambda seen: any(c.agent and c.agent.reason == "lunch" for c in run.changes))
            n = len(fake.actions)
            await run.adapter.write_back(WriteBack("1001", queue_pause=""))
            assert _sent(fake, n) == []  # not our pause: left alone
            await fake.push(lunch.replace(b"PausedReason: lunch", b"PausedReason: teams:call"))
            await run.until(lambda seen: any(c.agent and c.agent.reason == "teams:call" for c in run.changes))
            await run.adapter.write_back(WriteBack("1001", queue_pause=""))
            assert _sent(fake, n) == [("QueuePause", "Local/1001@lab-agents", "false")]
    finally:
        await fake.close()


async def test_write_back_refuses_bad_extensions_and_when_disconnected(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        with pytest.raises(AdapterError, match="not an extension"):
            await run.adapter.write_back(WriteBack("1001\r\nAction: Command", routable=RoutableState.CALL))
        await freepbx.refuse()
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        with pytest.raises(AdapterError, match="not connected"):
            await run.adapter.write_back(WriteBack("1001", routable=RoutableState.CALL))


def test_sanitize_strips_line_breaks_and_commas_where_parsed() -> None:
    assert sanitize("In a call\r\nAction: Originate") == "In a call Action: Originate"
    assert sanitize("dnd,,msg", commas=True) == "dnd  msg"
    assert len(sanitize("x" * 1000)) == 200


def test_freepbx_hints_snippet_lists_one_hint_per_extension_in_its_own_context() -> None:
    text = freepbx_hints(["1001", "1002"])
    assert "[teams-blf]" in text
    assert "exten => 1001,hint,Custom:TEAMS1001" in text and "exten => 1002,hint,Custom:TEAMS1002" in text
    assert "extensions_custom.conf" in text
    with pytest.raises(AdapterError):
        freepbx_hints(["1001;evil"])
    with pytest.raises(ValueError, match="context"):
        freepbx_hints(["1001"], context="bad]\n[ctx")
