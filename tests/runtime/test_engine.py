"""The core loop: routing events to people, counting what it drops, timers, snapshots, publish flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.base import Health, HealthChange
from bridge.config import load_config_text
from bridge.model import EndpointKey, LineState, Snapshot, StateChange, Toggle
from bridge.presence import IN_A_CALL, PRESENTING, TeamsIntent
from bridge.runtime.engine import Engine

ALICE = "a1a1a1a1-0000-4000-8000-000000001001"
BOB = "b2b2b2b2-0000-4000-8000-000000001002"
YAML = f"""
allow_inline_secrets: true
tenants:
  t:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: a-long-enough-secret
people:
  - id: {ALICE}
    tenant: t
    endpoints:
      - {{adapter: pbx, extension: "1001"}}
      - {{adapter: pbx, extension: "1000", role: shared}}
      - {{adapter: pbx, extension: "1009", role: ignore}}
  - id: {BOB}
    tenant: t
    publish: false
    endpoints: [{{adapter: pbx, extension: "1002"}}]
adapters:
  pbx: {{kind: generic_cti, token: a-long-enough-token}}
"""
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


class Rig:
    def __init__(self) -> None:
        self.mono = 100.0
        self.sent: list[tuple[str, TeamsIntent]] = []
        self.engine = Engine(
            load_config_text(YAML, "<test>", environ={}),
            publish=lambda tenant, oid, intent, cause: self.sent.append((oid, intent)),
            store=None,
            monotonic=lambda: self.mono,
        )

    def change(self, ext: str, context: str = "", **fields: object) -> None:
        self.engine.handle(StateChange(EndpointKey("pbx", ext, context), **fields))  # type: ignore[arg-type]

    def last(self, oid: str = ALICE) -> TeamsIntent | None:
        mine = [intent for who, intent in self.sent if who == oid]
        return mine[-1] if mine else None


def test_a_call_on_a_personal_endpoint_publishes_busy() -> None:
    rig = Rig()
    rig.change("1001", line=LineState.IN_CALL)
    last = rig.last()
    assert last is not None and last.session == IN_A_CALL


def test_shared_ignored_unmapped_and_ignored_context_events_never_make_anyone_busy() -> None:
    rig = Rig()
    rig.change("1000", line=LineState.IN_CALL)  # shared reception line
    rig.change("1009", line=LineState.IN_CALL)  # role: ignore
    rig.change("4711", line=LineState.IN_CALL)  # nobody's
    rig.change("1001", context="paging", line=LineState.IN_CALL)  # paging context
    assert all(intent.session is None for _, intent in rig.sent)
    assert rig.engine.counters["ignored_role"] == 1
    assert rig.engine.counters["unmapped"] == 2


def test_stale_events_are_dropped_and_counted() -> None:
    rig = Rig()
    rig.change("1001", line=LineState.IN_CALL, at=T0 + timedelta(seconds=5))
    rig.change("1001", line=LineState.IDLE, at=T0)  # arrived late: older than what we know
    assert rig.engine.counters["stale"] == 1
    last = rig.last()
    assert last is not None and last.session == IN_A_CALL


def test_idle_clears_only_when_its_timer_is_due() -> None:
    rig = Rig()
    rig.change("1001", line=LineState.IN_CALL)
    rig.change("1001", line=LineState.IDLE)
    last = rig.last()
    assert last is not None and last.session == IN_A_CALL  # the idle hold
    assert rig.engine.next_timer() == 103.0
    rig.mono = 103.0
    assert rig.engine.due() == 1
    last = rig.last()
    assert last is not None and last.session is None


def test_publish_false_person_is_decided_but_never_published() -> None:
    rig = Rig()
    rig.change("1002", line=LineState.IN_CALL)
    assert rig.last(BOB) is None
    decision = rig.engine.people[BOB].decision
    assert decision is not None and decision.intent.session == IN_A_CALL


def test_a_full_snapshot_resets_endpoints_it_does_not_mention() -> None:
    rig = Rig()
    rig.change("1001", line=LineState.IN_CALL, dnd=Toggle.ON)
    last = rig.last()
    assert last is not None and last.session == PRESENTING
    rig.engine.handle(Snapshot("pbx", ()))  # after a reconnect: nothing is busy, no DND
    rig.mono += 10
    rig.engine.due()
    last = rig.last()
    assert last is not None and last.session is None


def test_an_echo_of_our_own_write_back_is_never_republished() -> None:
    rig = Rig()
    rig.change("1001", dnd=Toggle.ON, echo=True)
    assert rig.sent == []


def test_a_listener_hiccup_leaves_the_last_known_state_standing() -> None:
    rig = Rig()
    rig.change("1001", line=LineState.IN_CALL)
    rig.engine.handle(HealthChange("pbx", Health.TRANSIENT_DISCONNECT))
    rig.mono += 600
    rig.engine.due()
    last = rig.last()
    assert last is not None and last.session == IN_A_CALL
    assert rig.engine.adapter_health["pbx"] is Health.TRANSIENT_DISCONNECT
