"""Whom each tenant's watcher reads (bridge/runtime/watched.py), from docs/teams-to-pbx.md:
``shared`` endpoints get routable state but never PBX DND, ``ignore`` endpoints get nothing, PBX
DND only for people who opted in; and a watcher reads only its own tenant's people, once their
object id is known."""

from __future__ import annotations

from bridge.config_model import EndpointConfig, PersonConfig
from bridge.model import EndpointRole
from bridge.runtime.watched import watched_by_tenant
from bridge.teams.watcher import Endpoint, WatchedPerson

ALICE_ID = "11111111-1111-1111-1111-111111111111"
CAROL_ID = "33333333-3333-3333-3333-333333333333"

ALICE = PersonConfig(
    id=ALICE_ID,
    tenant="contoso",
    pbx_dnd_from_teams=True,
    endpoints=(
        EndpointConfig(adapter="pbx", extension="1001"),
        EndpointConfig(adapter="pbx", extension="1100", role=EndpointRole.SHARED),
        EndpointConfig(adapter="pbx", extension="1101", role=EndpointRole.IGNORE),
    ),
)
BOB = PersonConfig(
    upn="bob@contoso.example", tenant="contoso", endpoints=(EndpointConfig(adapter="pbx", extension="1002"),)
)
CAROL = PersonConfig(
    id=CAROL_ID, tenant="fabrikam", endpoints=(EndpointConfig(adapter="pbx", extension="2001"),)
)


def test_each_watcher_reads_its_own_resolved_people_with_their_write_back_endpoints() -> None:
    people = {p.key: (p, p.id) for p in (ALICE, BOB, CAROL)}  # Bob's UPN is not resolved yet
    watched = watched_by_tenant(people, ["contoso"])
    assert watched == {
        "contoso": [
            WatchedPerson(
                ALICE_ID,
                ALICE.key,
                (Endpoint("pbx", "1001", "", False), Endpoint("pbx", "1100", "", True)),
                pbx_dnd_opt_in=True,
            )
        ]
    }


def test_a_resolved_upn_is_watched_and_a_tenant_without_people_reads_nobody() -> None:
    bob_id = "22222222-2222-2222-2222-222222222222"
    people = {BOB.key: (BOB, bob_id), CAROL.key: (CAROL, CAROL_ID)}
    watched = watched_by_tenant(people, ["contoso", "empty"])
    assert watched["contoso"] == [
        WatchedPerson(bob_id, BOB.key, (Endpoint("pbx", "1002"),), pbx_dnd_opt_in=False)
    ]
    assert watched["empty"] == []
