"""The engine's event path (route cache, shared cells, ``bridge.policy_fast``) agrees with the
reference policy folded over plain dicts.

A user would notice a disagreement as a person shown in the wrong Teams state although every
policy table test passes: an event routed to a stale cell, a cell shared wrongly between people,
a route cache that behaves differently once full, a timer that re-decides with the wrong state.
The reference below is the engine's job written plainly: route each event through the
configuration, merge it with ``bridge.policy.merge``, re-decide the person with
``bridge.policy.decide``, re-decide people whose recheck time has come.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.config import BridgeConfig, load_config_text
from bridge.model import (
    AgentState,
    CallKind,
    EndpointKey,
    EndpointRole,
    EndpointState,
    LineState,
    StateChange,
    Toggle,
)
from bridge.policy import Decision, decide, merge
from bridge.presence import TeamsIntent
from bridge.runtime.engine import Engine

ANN = "a1a1a1a1-0000-4000-8000-000000001001"
BEN = "b2b2b2b2-0000-4000-8000-000000001002"
CID = "c3c3c3c3-0000-4000-8000-000000001003"
# Three people, two adapters, several endpoints each in every role, a global table with an
# adapter override and per-person overrides: each person decides with different tables.
YAML = f"""
allow_inline_secrets: true
tenants:
  t:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: a-long-enough-secret
mapping:
  idle_hold: 2
  away: Away/Away
  adapters:
    dect: {{dialing_delay: 0, dnd: Busy/InACall, agent_wrapup: Busy/InACall}}
people:
  - id: {ANN}
    tenant: t
    mapping: {{unknown_grace: 5, ringing_personal: Busy/InACall}}
    endpoints:
      - {{adapter: pbx, extension: "1001"}}
      - {{adapter: pbx, extension: "1001", device: soft}}
      - {{adapter: dect, extension: "1001"}}
      - {{adapter: pbx, extension: "1000", role: shared}}
  - id: {BEN}
    tenant: t
    mapping: {{dnd_preferred: true, dnd_preferred_expiry: PT1H, line: {{in_conference: Busy/InACall}}}}
    endpoints:
      - {{adapter: pbx, extension: "1002"}}
      - {{adapter: dect, extension: "1002"}}
      - {{adapter: pbx, extension: "1009", role: ignore}}
  - id: {CID}
    tenant: t
    publish: false
    endpoints: [{{adapter: dect, extension: "1003"}}]
adapters:
  pbx: {{kind: generic_cti, token: a-long-enough-token}}
  dect: {{kind: generic_cti, token: another-long-enough-token}}
"""
CONFIG = load_config_text(YAML, "<test>", environ={})
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
KEYS = (
    EndpointKey("pbx", "1001"),
    EndpointKey("pbx", "1001", device="soft"),
    EndpointKey("pbx", "1001", device="desk"),  # matches Ann's device-less entry
    EndpointKey("dect", "1001"),
    EndpointKey("pbx", "1000"),
    EndpointKey("pbx", "1002"),
    EndpointKey("dect", "1002"),
    EndpointKey("pbx", "1009"),
    EndpointKey("dect", "1003"),
    EndpointKey("pbx", "4711"),  # nobody's
)


class ReferenceBridge:
    """What the engine does with events and timers, written plainly over the reference policy."""

    def __init__(self, config: BridgeConfig, mono: float) -> None:
        self._config = config
        self.states: dict[str, dict[EndpointKey, EndpointState]] = {p.key: {} for p in config.people}
        self.previous: dict[str, TeamsIntent | None] = dict.fromkeys(self.states)
        self.decisions: dict[str, Decision | None] = dict.fromkeys(self.states)
        self._timers: dict[str, list[float]] = {key: [] for key in self.states}
        for key in self.states:
            self._decide(key, mono)

    def handle(self, change: StateChange, mono: float) -> None:
        routed = self._config.route(change.endpoint)
        if routed is None or routed[1] is EndpointRole.IGNORE:
            return
        states = self.states[routed[0].key]
        prev = states.get(change.endpoint)
        merged = merge(prev, change, mono)
        if merged is None or merged is prev:
            return
        states[change.endpoint] = merged
        if not change.echo:
            self._decide(routed[0].key, mono)

    def due(self, mono: float) -> None:
        for key, times in self._timers.items():
            if any(t <= mono for t in times):
                self._timers[key] = [t for t in times if t > mono]
                self._decide(key, mono)

    def _decide(self, key: str, mono: float) -> None:
        person = next(p for p in self._config.people if p.key == key)
        rows = []
        for endpoint, state in self.states[key].items():
            routed = self._config.route(endpoint)
            assert routed is not None
            rows.append((endpoint, routed[1], state))
        decision = decide(rows, self._config.table_for(person), self.previous[key], mono)
        self.decisions[key], self.previous[key] = decision, decision.intent
        if decision.recheck_at is not None:
            self._timers[key].append(decision.recheck_at)


OPTIONAL_TOGGLE = st.sampled_from([None, None, None, None, None, Toggle.ON, Toggle.OFF])


@st.composite
def changes(draw: st.DrawFn) -> tuple[str, StateChange]:
    at_minutes = draw(st.one_of(st.none(), st.integers(0, 6)))
    change = StateChange(
        draw(st.sampled_from(KEYS)),
        line=draw(st.sampled_from([None, *LineState, LineState.IN_CALL, LineState.IDLE])),
        dnd=draw(OPTIONAL_TOGGLE),
        away=draw(OPTIONAL_TOGGLE),
        agent=draw(st.one_of(st.none(), st.none(), st.builds(AgentState, wrapup=st.booleans()))),
        call_kind=draw(st.sampled_from([None, None, *CallKind])),
        at=None if at_minutes is None else T0 + timedelta(minutes=at_minutes),
        echo=draw(st.sampled_from([False, False, False, True])),
    )
    return ("event", change)


STEP = st.one_of(
    changes(),
    changes(),
    changes(),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 1.0, 2.0, 3.0, 10.0])),
    st.tuples(st.just("due")),  # the service calls due() once the next timer is reached
)


# A call, a hang-up, the idle hold's timer firing at its exact deadline (the hold ends there).
HANG_UP = [
    ("event", StateChange(KEYS[0], line=LineState.IN_CALL)),
    ("event", StateChange(KEYS[0], line=LineState.IDLE)),
    ("due",),
]


@settings(max_examples=100, deadline=None)
@example(route_cache_max=0, steps=HANG_UP)
@given(route_cache_max=st.sampled_from([0, 3, 200_000]), steps=st.lists(STEP, min_size=5, max_size=50))
def test_engine_and_reference_agree_for_every_person_at_every_step(
    route_cache_max: int, steps: list[tuple[Any, ...]]
) -> None:
    clock = [100.0]
    engine = Engine(
        CONFIG,
        publish=lambda tenant, oid, intent, cause: None,
        store=None,
        monotonic=lambda: clock[0],
        route_cache_max=route_cache_max,  # empty, full after three endpoints, never full
    )
    engine.decide_all()
    reference = ReferenceBridge(CONFIG, clock[0])
    for step in steps:
        if step[0] == "event":
            engine.handle(step[1])
            reference.handle(step[1], clock[0])
        elif step[0] == "tick":
            clock[0] += step[1]
        else:
            next_timer = engine.next_timer()
            if next_timer is not None:
                clock[0] = max(clock[0], next_timer)
            engine.due()
            reference.due(clock[0])
        for key, slot in engine.people.items():
            assert {endpoint: cell[2] for endpoint, cell in slot.endpoints.items()} == reference.states[key]
            assert list(slot.endpoints) == list(reference.states[key]), "the person's endpoint order"
            assert slot.decision == reference.decisions[key], (key, step)
            assert slot.previous == reference.previous[key]
