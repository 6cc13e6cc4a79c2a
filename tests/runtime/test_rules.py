"""The service's routing rules (bridge/runtime/rules.py) against the documented rules, no event loop.

Sources: DESIGN 13 (roles: ``ignore`` events are dropped, ``shared`` ones never count for the
person; the health mapping), docs/teams-to-pbx.md (PBX DND is the person's own on their endpoints,
an echo of our write is flagged, write-back is opt-in per adapter), README "Operating it".
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from adapters.base import HealthChange
from bridge.kit.health import Health
from bridge.model import (
    EndpointKey,
    EndpointRole,
    LineState,
    RoutableState,
    Snapshot,
    StateChange,
    Toggle,
    WriteBack,
)
from bridge.runtime.rules import DndNote, alarms, dnd_notes, overall, readiness, write_back_targets


@dataclass(frozen=True)
class Person:
    key: str
    tenant: str


ALICE, BOB, CAROL = Person("alice", "contoso"), Person("bob", "contoso"), Person("carol", "fabrikam")
PERSONAL, SHARED, IGNORE = EndpointRole.PERSONAL, EndpointRole.SHARED, EndpointRole.IGNORE

ROUTES = {
    EndpointKey("pbx", "1001"): (ALICE, PERSONAL),
    EndpointKey("pbx", "1002"): (BOB, PERSONAL),
    EndpointKey("pbx", "1100"): (ALICE, SHARED),  # reception phone Alice answers too
    EndpointKey("pbx", "1101"): (ALICE, IGNORE),  # her intercom
    EndpointKey("pbx", "2001"): (CAROL, PERSONAL),  # a tenant whose watcher is off
}
WATCHED = {"contoso"}


def route(key: EndpointKey) -> tuple[Person, EndpointRole] | None:
    return ROUTES.get(key)


def change(ext: str, **fields: object) -> StateChange:
    return StateChange(EndpointKey("pbx", ext), **fields)  # type: ignore[arg-type]


ON, OFF, UNKNOWN = Toggle.ON, Toggle.OFF, Toggle.UNKNOWN

DND_ROWS = [
    ("personal DND on", change("1001", dnd=ON), [DndNote("contoso", "alice", True, False)]),
    ("personal DND off (*79)", change("1001", dnd=OFF), [DndNote("contoso", "alice", False, False)]),
    ("echo of our own write", change("1001", dnd=ON, echo=True), [DndNote("contoso", "alice", True, True)]),
    ("DND unknown says nothing", change("1001", dnd=UNKNOWN), []),
    ("a line event carries no DND", change("1001", line=LineState.IN_CALL), []),
    ("shared endpoints never carry PBX DND", change("1100", dnd=ON), []),
    ("ignore endpoints are dropped", change("1101", dnd=ON), []),
    ("unmapped endpoint", change("9999", dnd=ON), []),
    ("tenant without a watcher", change("2001", dnd=ON), []),
    (
        "a resync reports every person",
        Snapshot("pbx", (change("1001", dnd=ON), change("1100", dnd=ON), change("1002", dnd=OFF))),
        [DndNote("contoso", "alice", True, False), DndNote("contoso", "bob", False, False)],
    ),
    ("health changes are not DND", HealthChange("pbx", Health.CONNECTED), []),
]


@pytest.mark.parametrize(("event", "expected"), [r[1:] for r in DND_ROWS], ids=[r[0] for r in DND_ROWS])
def test_pbx_dnd_reports_reach_the_persons_watcher_by_role(event: object, expected: list[DndNote]) -> None:
    assert dnd_notes(event, route, WATCHED) == expected


CALL = WriteBack("1001", routable=RoutableState.CALL)
DND = WriteBack("1001", pbx_dnd=True)
CTI = WriteBack("3001", routable=RoutableState.CALL)
GONE = WriteBack("4001", routable=RoutableState.NONE)
ACCEPTS = {"ami": True, "cti": False}  # cti: a listener without write-back


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        ([("ami", CALL)], [("ami", CALL)]),
        ([("cti", CTI)], []),
        ([("removed", GONE)], []),
        ([("ami", CALL), ("cti", CTI), ("ami", DND), ("removed", GONE)], [("ami", CALL), ("ami", DND)]),
        ([], []),
    ],
    ids=[
        "accepting adapter",
        "adapter without write-back",
        "adapter gone from config",
        "mixed, in order",
        "none",
    ],
)
def test_write_back_goes_only_to_adapters_that_accept_it(
    commands: list[tuple[str, WriteBack]], expected: list[tuple[str, WriteBack]]
) -> None:
    assert write_back_targets(commands, lambda name: ACCEPTS.get(name, False)) == expected


# DESIGN 13: CONNECTED ok; CONNECTING and TRANSIENT_DISCONNECT degraded; BAD_CREDENTIALS failed.
HEALTH_ROWS = [
    ([Health.CONNECTED], "ok"),
    ([Health.CONNECTING], "degraded"),
    ([Health.TRANSIENT_DISCONNECT], "degraded"),
    ([Health.BAD_CREDENTIALS], "failed"),
    ([Health.CONNECTED, Health.CONNECTING], "degraded"),
    ([Health.TRANSIENT_DISCONNECT, Health.CONNECTED, Health.BAD_CREDENTIALS], "failed"),
    ([Health.CONNECTED, Health.CONNECTED], "ok"),
]


@pytest.mark.parametrize(("states", "expected"), HEALTH_ROWS, ids=[" + ".join(r[0]) for r in HEALTH_ROWS])
def test_overall_health_is_the_worst_component(states: list[Health], expected: str) -> None:
    assert overall(s.value for s in states) == expected


def test_a_health_value_we_do_not_know_is_failed() -> None:
    assert overall(["CONNECTED", "SOMETHING_NEW"]) == "failed"


def test_components_are_named_by_side() -> None:
    ready = readiness({"pbx": Health.CONNECTED}, {"contoso": Health.BAD_CREDENTIALS})
    assert ready == {"adapter:pbx": "CONNECTED", "graph:contoso": "BAD_CREDENTIALS"}


def test_alarms_are_named_by_tenant_and_sorted() -> None:
    raised = {"fabrikam": {"dnd_unsupported"}, "contoso": {"refresh_capacity_exceeded", "dnd_unsupported"}}
    assert alarms(raised) == [
        "contoso:dnd_unsupported",
        "contoso:refresh_capacity_exceeded",
        "fabrikam:dnd_unsupported",
    ]


def test_the_rules_and_status_rows_load_no_asyncio_or_io_library() -> None:
    code = (
        "import sys, bridge.runtime.rules, bridge.runtime.status\n"
        "bad = ('asyncio', 'pydantic', 'httpx', 'prometheus_client', 'bridge.teams', 'adapters')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad or m.startswith(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
