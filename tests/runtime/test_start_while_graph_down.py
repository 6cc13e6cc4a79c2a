"""Start-up while Graph answers 503 to user look-ups (issue 11): the CTI listener accepts at once,
the events of people whose UPN is not resolved yet wait in the core (their latest state), and reach
Teams when Graph recovers. CTI over real loopback HTTP -> BridgeService -> msal + Graph over HTTPS
-> the Graph emulator, on one fake clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import PEOPLE, demo_yaml, running_service
from bridge.emulator.faults import Fault, FaultKind
from bridge.presence import IN_A_CALL
from tests.runtime.rig import ID, TOKEN, emulator, new_clock, post

ALICE, BOB = ID["Alice"], ID["Bob"]
START_LIMIT = 10.0  # real seconds: the listener must not wait for Graph at all


def by_upn(text: str) -> str:
    """Everyone given by UPN (resolved through ``GET /users/{upn}``), not by object id."""
    for person in PEOPLE:
        text = text.replace(f"id: {person.object_id}", f"upn: {person.name.lower()}@demo.example")
    return text


async def test_listeners_start_while_graph_is_down_and_queued_state_reaches_teams(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        emu.faults.inject(Fault(FaultKind.UNAVAILABLE), 1000)  # every Graph call answers 503
        config = load_config_text(by_upn(demo_yaml(handle, TOKEN, tmp_path / "state.db")), "<t>", environ={})
        async with asyncio.timeout(START_LIMIT):
            entered = running_service(config, clock)
            service = await entered.__aenter__()
        try:
            assert all(slot.object_id is None for slot in service.engine.slots())  # nobody resolved
            first = await post(service.adapters["pbx"], {"extension": "1001", "line": "ringing"})
            latest = await post(service.adapters["pbx"], {"extension": "1001", "line": "in_call"})
            bob = await post(service.adapters["pbx"], {"extension": "1002", "line": "in_call"})
            assert (first.status_code, latest.status_code, bob.status_code) == (202, 202, 202)
            await clock.advance(30)
            assert emu.presence_of(ALICE) != IN_A_CALL  # Graph is still down

            emu.faults.clear()  # Graph recovers
            for _ in range(120):  # the resolver's next round comes within 10 s; at most 60 s
                if emu.presence_of(ALICE) == IN_A_CALL and emu.presence_of(BOB) == IN_A_CALL:
                    break
                await clock.advance(0.5)
                await asyncio.sleep(0.01)  # msal and the emulator answer on real threads/sockets
            assert emu.presence_of(ALICE) == IN_A_CALL
            assert emu.presence_of(BOB) == IN_A_CALL
        finally:
            await entered.__aexit__(None, None, None)
