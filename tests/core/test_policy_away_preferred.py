"""PBX away as the user's preferred Away (issue 16), decided by the pure policy.

Expected values come from the issue and README's mapping rules, not from the code: with
``away_preferred`` the PBX's away asks for the preferred Away/Away with ``away_preferred_expiry``;
precedence is unchanged (DND beats calls beats away), so a call during away still sets our
Busy/InACall session while the preferred Away stays, and a DND drops the preferred Away. Both the
reference (``bridge.policy``) and the engine's fast path (``bridge.policy_fast``) are held to them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bridge.config_mapping import MappingConfig, TableCache
from bridge.mapping import MappingTable
from bridge.model import EndpointKey, EndpointRole, EndpointState, LineState, Toggle
from bridge.policy import decide
from bridge.policy_fast import fast_decide
from bridge.presence import AWAY, IN_A_CALL, PRESENTING, Pair, TeamsIntent

DESK = EndpointKey("pbx", "1001")
DECT = EndpointKey("dect", "1001")
PREFERRED_AWAY = Pair("Away", "Away")
PREFERRED_DND = Pair("DoNotDisturb", "DoNotDisturb")
EIGHT_HOURS = timedelta(hours=8)
ON, OFF, UNKNOWN = Toggle.ON, Toggle.OFF, Toggle.UNKNOWN

OPTED_IN: dict[str, Any] = {"away_preferred": True, "away_preferred_expiry": "PT8H"}
DECIDERS = pytest.mark.parametrize("decider", [decide, fast_decide], ids=["reference", "fast"])


def tables(doc: dict[str, Any]) -> Callable[[str], MappingTable]:
    cache = TableCache(MappingConfig.model_validate(doc))
    return lambda adapter: cache.get(adapter)


def desk(
    line: LineState = LineState.IDLE, away: Toggle = ON, dnd: Toggle = OFF, key: EndpointKey = DESK
) -> Any:
    return key, EndpointRole.PERSONAL, EndpointState(line=line, dnd=dnd, away=away, line_since=0.0)


# (what the desk phone reports, mapping, our session, the preferred presence we want)
SETTLED_ROWS = [
    ("away-idle", desk(), OPTED_IN, None, PREFERRED_AWAY),
    ("away-off", desk(away=OFF), OPTED_IN, None, None),
    ("away-unknown", desk(away=UNKNOWN), OPTED_IN, None, None),
    ("away-in-call", desk(LineState.IN_CALL), OPTED_IN, IN_A_CALL, PREFERRED_AWAY),
    ("away-unavailable-phone", desk(LineState.UNAVAILABLE), OPTED_IN, None, PREFERRED_AWAY),
    ("dnd-beats-away", desk(dnd=ON), OPTED_IN, PRESENTING, None),
    (
        "preferred-dnd-beats-away",
        desk(dnd=ON),
        {**OPTED_IN, "dnd_preferred": True, "dnd_preferred_expiry": "PT8H"},
        PRESENTING,
        PREFERRED_DND,
    ),
    ("away-session-too", desk(), {**OPTED_IN, "away": "Away/Away"}, AWAY, PREFERRED_AWAY),
    ("not-opted-in", desk(), {}, None, None),
    ("opted-in-elsewhere", desk(), {"adapters": {"dect": OPTED_IN}}, None, None),
    ("opted-in-adapter", desk(key=DECT), {"adapters": {"dect": OPTED_IN}}, None, PREFERRED_AWAY),
]


@DECIDERS
@pytest.mark.parametrize(
    ("row", "doc", "session", "preferred"), [r[1:] for r in SETTLED_ROWS], ids=[r[0] for r in SETTLED_ROWS]
)
def test_what_teams_is_asked_for(
    decider: Any, row: Any, doc: dict[str, Any], session: Pair | None, preferred: Pair | None
) -> None:
    d = decider([row], tables(doc), None, 1000.0)
    assert d.intent.session == session
    assert d.intent.preferred == preferred
    if preferred == PREFERRED_AWAY:
        assert d.intent.preferred_expiry == EIGHT_HOURS
        assert "away on" in d.cause


@DECIDERS
def test_a_call_during_away_keeps_the_preferred_away_and_its_hold_follows_away(decider: Any) -> None:
    table_for = tables(OPTED_IN)
    call = decider([desk(LineState.IN_CALL)], table_for, None, 10.0).intent
    assert (call.session, call.preferred) == (IN_A_CALL, PREFERRED_AWAY)
    hung_up = EndpointState(line=LineState.IDLE, dnd=OFF, away=ON, line_since=20.0)
    held = decider([(DESK, EndpointRole.PERSONAL, hung_up)], table_for, call, 21.0)
    assert (held.intent.session, held.intent.preferred) == (IN_A_CALL, PREFERRED_AWAY)  # the 3 s hold
    back = hung_up._replace(away=OFF)  # away goes off during the hold: the preferred Away goes at once
    off = decider([(DESK, EndpointRole.PERSONAL, back)], table_for, held.intent, 22.0)
    assert (off.intent.session, off.intent.preferred) == (IN_A_CALL, None)
    assert off.recheck_at == 23.0
    assert decider([(DESK, EndpointRole.PERSONAL, back)], table_for, off.intent, 23.0).intent.session is None


GRACE_PREVIOUS = TeamsIntent(IN_A_CALL, PREFERRED_AWAY, EIGHT_HOURS, "in_call on pbx/1001")


# (away while the line is unknown, the preferred Away the kept intent carries)
GRACE_ROWS = [
    ("away-still-on", ON, PREFERRED_AWAY),
    ("away-unknown-too", UNKNOWN, PREFERRED_AWAY),  # an adapter blip: away may still be on
    ("away-said-off", OFF, None),  # a fresh explicit "away off" beats the grace for that field
]


@DECIDERS
@pytest.mark.parametrize(("away", "preferred"), [r[1:] for r in GRACE_ROWS], ids=[r[0] for r in GRACE_ROWS])
def test_the_unknown_grace_keeps_the_call_and_follows_away(
    decider: Any, away: Toggle, preferred: Pair | None
) -> None:
    state = EndpointState(line=LineState.UNKNOWN, dnd=OFF, away=away, line_since=200.0)
    d = decider([(DESK, EndpointRole.PERSONAL, state)], tables(OPTED_IN), GRACE_PREVIOUS, 250.0)
    assert d.intent.session == IN_A_CALL and "keeping the last state" in d.cause
    assert d.intent.preferred == preferred
    assert d.recheck_at == 320.0
