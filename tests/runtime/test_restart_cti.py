"""Restarts with a push-only PBX (generic CTI), end to end: CTI over real loopback HTTP and TCP ->
BridgeService -> msal + Graph over HTTPS -> the Graph emulator, on one fake clock (issue 10,
defects 6, 7 and 8; DESIGN 14 "Start-up waits for the PBX").

What is asserted is what a Teams user sees, and the writes Graph received.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.generic_cti.adapter import CtiAdapter
from bridge.config import BridgeConfig, load_config_text
from bridge.demo import demo_yaml, running_service
from bridge.emulator.server import EmulatorHandle
from bridge.model import EndpointKey, EndpointState, LineState
from bridge.presence import IN_A_CALL, PRESENTING, Pair
from bridge.runtime.store import StateStore
from tests.adapters.generic_cti.harness import TcpClient
from tests.runtime.rig import ID, TOKEN, emulator, new_clock
from tests.runtime.support import confirmed, live_through, our_writes, until

AVAILABLE = Pair("Available", "Available")
ALICE, ERIN = ID["Alice"], ID["Erin"]


def cti_config(handle: EmulatorHandle, tmp: Path, state: str = "") -> BridgeConfig:
    """The demo's people on one CTI adapter listening on HTTP and TCP; ``state`` adds settings."""
    text = demo_yaml(handle, TOKEN, tmp / "state.db", tcp_port=0, state_extra=state)
    return load_config_text(text, "<cti-restart>", environ={})


async def post(adapter: object, body: object) -> httpx.Response:
    assert isinstance(adapter, CtiAdapter) and adapter.http_address is not None
    host, port = adapter.http_address
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(
            f"http://{host}:{port}/cti/events", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )


async def tcp_pbx(adapter: object) -> tuple[TcpClient, dict[str, object] | None]:
    """A PBX logging in over TCP; returns the connection and the bridge's login ack."""
    assert isinstance(adapter, CtiAdapter)
    client = await TcpClient.connect(adapter)
    return client, await client.send(json.dumps({"token": TOKEN}).encode())


async def test_a_hangup_lost_while_the_bridge_was_down_is_learnt_from_the_snapshot_asked_on_login(
    tmp_path: Path,
) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            assert (
                await post(service.adapters["pbx"], {"extension": "1001", "line": "in_call"})
            ).status_code == 202
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await confirmed(service.tenants["demo"].publisher, ALICE, IN_A_CALL)
        # the bridge is down; Alice hangs up meanwhile, and the PBX's hang-up reaches nobody
        await clock.advance(60)
        async with running_service(config, clock) as service:
            pbx, ack = await tcp_pbx(service.adapters["pbx"])
            assert ack == {"ok": True, "request": "snapshot"}  # the bridge asks for the PBX's full state
            assert await pbx.send(b'{"snapshot": true, "events": []}') == {
                "ok": True,
                "accepted": 0,
                "ignored": [],
            }
            await clock.advance(3.5)  # the idle hold
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            await pbx.close()
        assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]


async def test_a_restored_call_nothing_confirms_is_not_kept_busy_for_ever(tmp_path: Path) -> None:
    """An HTTP PBX that never sends a snapshot: the restored in_call is trusted for
    ``restored_trust_seconds`` (here 300), then unknown with its grace (120 s), then cleared."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path, "  restored_trust_seconds: 300\n")
        async with running_service(config, clock) as service:
            await post(service.adapters["pbx"], {"extension": "1001", "line": "in_call"})
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
        await clock.advance(60)
        async with running_service(config, clock) as service:
            client_id = config.tenants["demo"].client_id
            await live_through(emu, clock, ALICE, client_id, 6 * 60)  # trusted, then the grace: kept
            assert emu.presence_of(ALICE) == IN_A_CALL
            await clock.advance(60)  # 7 min > 300 s trust + 120 s grace
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)
            row = next(r for r in service.status_rows() if r["person"] == "Alice")
            assert row["pbx"] == "unknown"


async def test_dnd_off_right_after_a_restart_drops_do_not_disturb_at_once(tmp_path: Path) -> None:
    """Defect 8: the PBX's fresh "DND off" beats the unknown grace of the restored endpoint."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await post(service.adapters["pbx"], {"extension": "1001", "dnd": True})
            await until(emu, lambda: emu.presence_of(ALICE) == PRESENTING)
            await confirmed(service.tenants["demo"].publisher, ALICE, PRESENTING)
        await clock.advance(30)
        async with running_service(config, clock) as service:
            response = await post(service.adapters["pbx"], {"extension": "1001", "dnd": False})
            assert response.status_code == 202
            await until(emu, lambda: emu.presence_of(ALICE) == AVAILABLE)  # no clock advance: at once
        assert our_writes(emu, ALICE) == ["setPresence", "clearPresence"]


async def test_start_up_writes_nothing_until_the_snapshot_then_only_what_changed(tmp_path: Path) -> None:
    """Defect 6: the stored state (Alice in a call, Erin in DND) is not published at start; the
    snapshot says Alice still talks and Erin's DND is off: one write in all (Erin's clear)."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            await post(
                service.adapters["pbx"],
                [{"extension": "1001", "line": "in_call"}, {"extension": "1005", "dnd": True}],
            )
            await until(
                emu, lambda: emu.presence_of(ALICE) == IN_A_CALL and emu.presence_of(ERIN) == PRESENTING
            )
            await confirmed(service.tenants["demo"].publisher, ALICE, IN_A_CALL)
            await confirmed(service.tenants["demo"].publisher, ERIN, PRESENTING)
        # Erin's state as stored is older than what Teams holds: the store says in_call, not DND
        with StateStore(config.state.path) as store:
            store.save_endpoint(EndpointKey("pbx", "1005"), EndpointState(line=LineState.IN_CALL))
        await clock.advance(30)
        written = our_writes(emu, ALICE) + our_writes(emu, ERIN)
        async with running_service(config, clock) as service:
            await clock.advance(10)  # inside the start-up wait: nothing is written
            assert our_writes(emu, ALICE) + our_writes(emu, ERIN) == written
            assert emu.presence_of(ERIN) == PRESENTING and emu.presence_of(ALICE) == IN_A_CALL
            pbx, _ = await tcp_pbx(service.adapters["pbx"])
            await pbx.send(b'{"snapshot": true, "events": [{"extension": "1001", "line": "in_call"}]}')
            await until(emu, lambda: emu.presence_of(ERIN) == AVAILABLE)
            await pbx.close()
        assert our_writes(emu, ALICE) == ["setPresence"]
        assert our_writes(emu, ERIN) == ["setPresence", "clearPresence"]


async def test_an_event_from_the_future_is_refused_and_does_not_freeze_the_endpoint(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path)
        async with running_service(config, clock) as service:
            adapter = service.adapters["pbx"]
            future = await post(adapter, {"extension": "1001", "line": "idle", "at": "2099-01-01T00:00:00Z"})
            assert future.status_code == 400 and future.json()["field"] == "at"
            overflow = await post(adapter, {"extension": "1001", "at": "9999-12-31T23:59:59-01:00"})
            assert overflow.status_code == 400 and overflow.json()["field"] == "at"
            pbx, _ = await tcp_pbx(adapter)
            ack = await pbx.send(b'{"extension": "1001", "at": "9999-12-31T23:59:59-01:00"}')
            assert ack is not None and ack["ok"] is False and ack["field"] == "at"
            now = clock.now().isoformat()
            assert await pbx.send(
                json.dumps({"extension": "1001", "line": "in_call", "at": now}).encode()
            ) == {
                "ok": True,
                "accepted": 1,
                "ignored": [],
            }
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)  # not "stale": the connection lived
            await pbx.close()
            assert adapter.counters["rejected_time"] == 3


async def test_a_future_time_already_in_the_store_does_not_freeze_the_endpoint_after_a_restart(
    tmp_path: Path,
) -> None:
    """A store written by an older bridge that accepted ``at: 2099``: after a restart, events with
    today's time are not taken for stale."""
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        config = cti_config(handle, tmp_path)
        frozen = EndpointState(line=LineState.IDLE, observed_at=datetime(2099, 1, 1, tzinfo=UTC))
        with StateStore(config.state.path) as store:
            store.save_endpoint(EndpointKey("pbx", "1001"), frozen)
        async with running_service(config, clock) as service:
            at = (clock.now() - timedelta(seconds=1)).isoformat()
            await post(service.adapters["pbx"], {"extension": "1001", "line": "in_call", "at": at})
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            assert service.engine.counters["stale"] == 0


async def test_no_personal_endpoint_is_not_logged_for_everyone_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, item 9: before the PBX said anything, nobody is "decided" with "no personal endpoint"."""
    clock = new_clock()
    caplog.set_level(logging.INFO)
    async with emulator(tmp_path, clock) as handle:
        async with running_service(cti_config(handle, tmp_path), clock) as service:
            await clock.settle()
            said = [r.getMessage() + str(getattr(r, "why", "")) for r in caplog.records]
            assert not [line for line in said if "no personal endpoint" in line]
            rows = {r["person"]: r for r in service.status_rows()}
            assert rows["Alice"]["why"] == "no PBX event yet"
