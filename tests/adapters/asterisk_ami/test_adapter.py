"""The adapter over a fake AMI server on 127.0.0.1 replaying recorded Asterisk 22 bytes."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator

import pytest

from adapters.base import Health
from bridge.model import EndpointKey, LineState, StateChange, Toggle
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, live
from tests.adapters.asterisk_ami.harness import Run


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    yield server
    await server.close()


def _key(ext: str, device: str = "") -> EndpointKey:
    return EndpointKey("pbx", ext, "", device)


async def test_login_then_one_resync_snapshot_then_connected(fake: FakeAmi) -> None:
    async with Run(fake) as run:
        await run.until_health(Health.CONNECTED)
        assert run.healths == [Health.CONNECTING, Health.CONNECTED]
        snap = run.snapshots[0]
        assert run.seen.index(snap) < len(run.seen) - 1, "the snapshot comes before CONNECTED"
        by_key = {c.endpoint: c for c in snap.changes}
        assert by_key[_key("1001")].line is LineState.IDLE
        assert by_key[_key("1001")].dnd is Toggle.ON  # recorded DBGetTree DND: /DND/1001 = YES
        assert by_key[_key("1002")].dnd is Toggle.OFF  # /DND/1002 = "" and Custom:DND1002 NOT_INUSE
        assert by_key[_key("1001")].agent is not None and by_key[_key("1001")].agent.logged_in
        login = fake.actions_named("Login")[0]
        assert login.get("Events") == "call,system,agent"
        sent = [a.get("Action") for a in fake.actions]
        assert sent[:4] == ["Login", "DeviceStateList", "ExtensionStateList", "PresenceStateList"]
        assert {"QueueStatus", "DBGetTree"} <= set(sent)


async def test_md5_login_with_the_recorded_challenge(fake: FakeAmi) -> None:
    async with Run(fake, auth="md5") as run:
        await run.until_health(Health.CONNECTED)
        login = fake.actions_named("Login")[0]
        assert login.get("Key") == "8a3a991e17e6d446ee57f6fa8be1c7e1" and login.get("Secret") is None


async def test_live_pjsip_events_map_per_device_and_our_teams_state_never_loops(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        events = live("30_freepbx_synth")
        await freepbx.push(events[:-1])  # everything but the Shutdown
        await run.until(lambda seen: any(c.away is Toggle.ON for c in run.changes_since(mark)))
        got = [(c.endpoint.device, c.line) for c in run.changes_since(mark) if c.line is not None]
        assert got == [
            ("PJSIP/1001", LineState.IN_CALL),
            ("PJSIP/1102", LineState.RINGING),
            ("PJSIP/1102", LineState.IN_CALL),
            ("PJSIP/1001", LineState.ON_HOLD),
            ("PJSIP/1001", LineState.IDLE),
            ("PJSIP/1102", LineState.IDLE),
            ("PJSIP/1002", LineState.IDLE),
        ]
        dnd = [(c.endpoint.extension, c.dnd) for c in run.changes_since(mark) if c.dnd is not None]
        assert dnd == [("1002", Toggle.OFF)]
        assert run.adapter.counters["own_state_events"] >= 1  # Custom:TEAMS1001 seen, not published


async def test_pbx_restart_mid_call_reconnects_resyncs_and_leaves_no_stale_busy(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        await freepbx.push(live("30_freepbx_synth", b"Event: DeviceStateChange")[0])  # PJSIP/1001 INUSE
        await run.until(lambda seen: any(c.line is LineState.IN_CALL for c in run.changes))
        mark = run.mark()
        shutdown = live("17_core_restart_eof", b"Event: Shutdown")[0]  # recorded bytes, then EOF
        await freepbx.push_and_close(shutdown)
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        blind = {c.endpoint.device: c.line for c in run.changes_since(mark)}
        assert blind["PJSIP/1001"] is LineState.UNKNOWN  # the core's grace period applies
        await run.clock.advance(2.0)  # first backoff is 0.5..1 s
        snap = await run.until_snapshots(2)
        await run.until_health(Health.CONNECTED, count=2)
        lines = {c.endpoint.device: c.line for c in snap.changes if c.endpoint.device}
        assert lines["PJSIP/1001"] is LineState.IDLE and not snap.partial
        assert freepbx.logins == 2


async def test_wrong_password_is_bad_credentials_with_one_error_and_a_slow_retry(
    fake: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    fake.secret = "something-else"
    with caplog.at_level(logging.DEBUG, logger="adapters.asterisk_ami"):
        async with Run(fake, auth_failure_backoff=300.0) as run:
            await run.until_health(Health.BAD_CREDENTIALS)
            for _ in range(12):  # one simulated hour
                await run.clock.advance(300.0)
                await run.until(lambda seen: len(fake.actions_named("Login")) >= 1)
            attempts = len(fake.actions_named("Login"))
            assert run.adapter.health is Health.BAD_CREDENTIALS
    assert 2 <= attempts <= 14, attempts
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "BAD_CREDENTIALS" in errors[0].getMessage()
    assert "something-else" not in caplog.text and "bridgesecret" not in caplog.text
    assert run.healths.count(Health.BAD_CREDENTIALS) == 1


async def test_the_configured_auth_failure_backoff_paces_the_next_login(fake: FakeAmi) -> None:
    fake.secret = "something-else"
    async with Run(fake, auth_failure_backoff=45.0) as run:
        await run.until_health(Health.BAD_CREDENTIALS)
        assert len(fake.actions_named("Login")) == 1
        await run.clock.advance(45.0)  # the SDK's default pause is 300 s: the setting must win
        for _ in range(500):  # real time only bounds loopback I/O
            if len(fake.actions_named("Login")) == 2:
                break
            await asyncio.sleep(0.01)
        assert len(fake.actions_named("Login")) == 2
        assert run.adapter.counters["auth_failures"] >= 1


async def test_ping_watchdog_drops_a_silent_connection_and_reconnects(fake: FakeAmi) -> None:
    async with Run(fake, ping_interval=20.0, ping_timeout=5.0) as run:
        await run.until_health(Health.CONNECTED)
        fake.answer_ping = False
        await run.clock.advance(20.0)
        await run.until(lambda seen: len(fake.actions_named("Ping")) >= 1)
        await run.clock.advance(5.0)
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        assert run.adapter.counters["watchdog_timeouts"] == 1
        fake.answer_ping = True
        await run.clock.advance(1.0)
        await run.until_health(Health.CONNECTED, count=2)


async def test_reconnect_backoff_grows_capped_with_jitter(fake: FakeAmi) -> None:
    fake.close_on_accept = True
    async with Run(fake, backoff_initial=1.0, backoff_max=60.0) as run:
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        seen_at: list[float] = []
        count = fake.connections
        for _ in range(600):  # ten simulated minutes, one second at a time
            await run.clock.advance(1.0)
            if fake.connections != count:
                await run.until(lambda seen: True)
                count = fake.connections
                seen_at.append(run.clock.monotonic())
        gaps = [b - a for a, b in itertools.pairwise(seen_at)]
        assert 8 <= len(seen_at) <= 25, seen_at
        assert max(gaps) <= 61 and gaps[-1] >= 30, gaps  # capped, but not hammering
        assert len(set(gaps[-4:])) > 1, "jittered, not in lock-step"


async def test_stop_during_an_outage_really_stops(fake: FakeAmi) -> None:
    async with Run(fake) as run:
        await run.until_health(Health.CONNECTED)
        await fake.refuse()
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        await run.adapter.stop()
        await run.adapter.stop()  # idempotent
        assert run.adapter.health is Health.STOPPED
        await fake.start()
        before = fake.connections
        await run.clock.advance(600.0)
        assert fake.connections == before
        assert run.clock.sleepers == 0


async def test_disconnect_mid_message_drops_the_partial_frame_and_recovers(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        frame = live("30_freepbx_synth", b"Event: DeviceStateChange")[0]
        await freepbx.push(frame[: len(frame) // 2])
        freepbx.drop()
        await run.until_health(Health.TRANSIENT_DISCONNECT)
        assert all(c.line is not LineState.IN_CALL for c in run.changes_since(mark))
        await run.clock.advance(2.0)
        await run.until_health(Health.CONNECTED, count=2)


async def test_garbage_and_oversized_frames_are_counted_not_fatal(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        await freepbx.push(b"\xff\xfe garbage line\r\n\r\n" + b"Event: X\r\nH: " + b"y" * 20000 + b"\r\n\r\n")
        await freepbx.push(live("30_freepbx_synth", b"Event: DeviceStateChange")[0])
        await run.until(lambda seen: any(c.line is LineState.IN_CALL for c in run.changes))
        counters = run.adapter.counters
        assert counters["rejected_frames"] == 1 and counters["oversized_frames"] == 1
        assert run.adapter.health is Health.CONNECTED


async def _replay(fake: FakeAmi, stream: bytes, chunk: int) -> list[StateChange]:
    async with Run(fake) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        for i in range(0, len(stream), chunk):
            await fake.push(stream[i : i + chunk])
        await run.until(lambda seen: sum(c.dnd is not None for c in run.changes_since(mark)) >= 2)
        changes = run.changes_since(mark)
    fake.drop()
    return changes


async def test_recorded_captures_replayed_byte_by_byte_give_the_same_events(fake: FakeAmi) -> None:
    stream = b"".join(live("06_devstate_events")) + b"".join(live("07_devstate_dnd_hint"))
    whole = await _replay(fake, stream, len(stream))
    assert await _replay(fake, stream, 1) == whole
    lines = [c.line for c in whole if c.endpoint.extension == "1001" and c.line is not None]
    assert lines == [
        LineState.IN_CALL,
        LineState.RINGING,
        LineState.ON_HOLD,
        LineState.IDLE,
        LineState.BUSY,
        LineState.UNAVAILABLE,
        LineState.IDLE,
    ]
    assert [c.dnd for c in whole if c.endpoint.extension == "1002" and c.dnd] == [Toggle.ON, Toggle.OFF]
