"""Our preferred Away is never written back to the PBX (issue 16; README "No loops").

End to end as in ``test_teams_to_pbx``: the fake Asterisk answers with recorded Asterisk 22 frames
(the PresenceStateChange is the recorded one of capture 10 with its Status swapped), the Graph
emulator plays Teams, the watcher polls on the shared fake clock. Alice is in a Teams call on her
desktop, which the PBX learns as the routable state ``call``; then her PBX presence goes away, and
with ``away_preferred`` Teams shows our preferred Away over that call. A Teams state our own
preferred presence explains is not hers: ``TEAMS/1001`` must stay ``call``, nothing deleted.
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.config import load_config_text
from bridge.demo import running_service
from bridge.presence import AWAY, IN_A_CALL
from tests.adapters.asterisk_ami.fake_ami import live
from tests.runtime.rig import emulator, new_clock
from tests.runtime.support import our_writes, until
from tests.runtime.test_ami_end_to_end import ALICE, fake_pbx, settled
from tests.runtime.test_teams_to_pbx import astdb, poll, teams_client, watching_yaml

RECORDED_PRESENCE = live("10_presence", b"Event: PresenceStateChange")[0]  # CustomPresence:1001


def presence(status: str) -> bytes:
    return re.sub(rb"^Status: [^\r\n]*\r\n", f"Status: {status}\r\n".encode(), RECORDED_PRESENCE, flags=re.M)


async def test_our_preferred_away_over_a_teams_call_is_not_written_back_to_the_pbx(tmp_path: Path) -> None:
    assert b"Presentity: CustomPresence:1001" in RECORDED_PRESENCE
    clock = new_clock()
    async with fake_pbx() as pbx, emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = (
            watching_yaml(handle, tmp_path, pbx.port)
            + "mapping: {away_preferred: true, away_preferred_expiry: PT8H}\n"
        )
        config = load_config_text(text, "<away-loop>", environ={})
        async with running_service(config, clock) as service:
            watcher = service.watchers["demo"]
            await settled(clock, lambda: watcher.shown(ALICE) is not None)
            teams_client(emu, clock, IN_A_CALL)  # a Teams call on her desktop
            await poll(clock, watcher)
            await settled(clock, lambda: astdb(pbx, "TEAMS", "1001") == ["call"])
            await pbx.push(presence("away"))
            await until(emu, lambda: emu.presence_of(ALICE) == AWAY)  # our preferred Away wins in Teams
            await poll(clock, watcher)
            await poll(clock, watcher)
            await settled(clock, lambda: watcher.shown(ALICE) == AWAY)
            await poll(clock, watcher)
            assert astdb(pbx, "TEAMS", "1001") == ["call"]  # nothing written back for our own Away
            await pbx.push(presence("available"))
            await until(emu, lambda: emu.presence_of(ALICE) == IN_A_CALL)
            await poll(clock, watcher)
            await poll(clock, watcher)
            assert astdb(pbx, "TEAMS", "1001") == ["call"]
        assert our_writes(emu, ALICE) == ["setUserPreferredPresence", "clearUserPreferredPresence"]
