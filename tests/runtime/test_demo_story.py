"""The demo's story, end to end: scripted PBX -> CTI ingress -> bridge -> msal + Graph over HTTPS -> emulator.

Time is the injected clock (shared by the bridge and the emulator); waits are on the emulator's
change events. What is asserted is what a user sees in Teams.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.demo import PEOPLE, Demo
from bridge.kit.clock import FakeClock
from bridge.presence import AWAY, IN_A_CALL, IN_A_CONFERENCE_CALL, PRESENTING, Pair
from tests.runtime.support import our_writes, until

ID = {p.name: p.object_id for p in PEOPLE}
AVAILABLE = Pair("Available", "Available")
BRB = Pair("BeRightBack", "BeRightBack")


async def test_the_demo_story_as_teams_users_see_it() -> None:
    clock = FakeClock(datetime.now(UTC))
    async with Demo.start(clock) as demo:
        emu = demo.handle.emulator

        def shows(name: str) -> Pair:
            return emu.presence_of(ID[name])

        assert shows("Alice") == AVAILABLE and shows("Bob") == AWAY and shows("Dave") == BRB

        # Alice: rings (no change), answers (Busy), holds and resumes (nothing new), hangs up (back).
        await demo.send("1001", {"line": "ringing"})
        await demo.send("1001", {"line": "in_call"})
        await until(emu, lambda: shows("Alice") == IN_A_CALL)
        await demo.send("1001", {"line": "on_hold"})
        await demo.send("1001", {"line": "in_call"})
        await demo.send("1001", {"line": "idle"})
        await clock.advance(3.5)  # the idle hold (transfers, call waiting)
        await until(emu, lambda: shows("Alice") == AVAILABLE)
        assert our_writes(emu, ID["Alice"]) == ["setPresence", "clearPresence"]

        # Bob's desktop is Away: a call shows Busy, and after it he is Away again, not Available.
        await demo.send("1002", {"line": "in_call"})
        await until(emu, lambda: shows("Bob") == IN_A_CALL)
        await demo.send("1002", {"line": "idle"})
        await clock.advance(3.5)
        await until(emu, lambda: shows("Bob") == AWAY)

        # Carol's conference shows as a conference call.
        await demo.send("1003", {"line": "in_conference"})
        await until(emu, lambda: shows("Carol") == IN_A_CONFERENCE_CALL)

        # Erin's DND on the phone: Do not disturb (Presenting) in Teams, and off again.
        await demo.send("1005", {"dnd": True})
        await until(emu, lambda: shows("Erin") == PRESENTING)
        await demo.send("1005", {"dnd": False})
        await until(emu, lambda: shows("Erin") == AVAILABLE)

        # Dave chose Be right back by hand: our session is written underneath, his status stays.
        await demo.send("1004", {"line": "in_call"})
        await until(emu, lambda: our_writes(emu, ID["Dave"]) == ["setPresence"])
        assert shows("Dave") == BRB
        await demo.send("1004", {"line": "idle"})
        await clock.advance(3.5)
        await until(emu, lambda: our_writes(emu, ID["Dave"]) == ["setPresence", "clearPresence"])
        assert shows("Dave") == BRB
        assert emu.state.describe(ID["Dave"], clock.now())["preferred"] is not None

        rows = {r["person"]: r for r in demo.rows()}
        assert rows["Carol"]["teams"] == str(IN_A_CONFERENCE_CALL)
        assert rows["Carol"]["desired"] == str(IN_A_CONFERENCE_CALL)
        assert "in_conference" in rows["Carol"]["why"]
