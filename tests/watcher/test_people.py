"""Configured people -> watched people, and replacing them keeps what we set."""

from __future__ import annotations

from bridge.config_model import EndpointConfig, PersonConfig
from bridge.model import EndpointRole
from bridge.runtime.watched import watched_people
from bridge.teams.watcher import Endpoint

OID = "9d3c0a1f-5b7e-4c2d-8f60-1a2b3c4d5e6f"


def test_watched_people_from_config() -> None:
    bob = PersonConfig(
        id=OID,
        tenant="contoso",
        pbx_dnd_from_teams=True,
        endpoints=(
            EndpointConfig(adapter="pbx", extension="1002"),
            EndpointConfig(adapter="pbx", extension="1002", device="softphone"),  # same extension
            EndpointConfig(adapter="pbx", extension="1000", role=EndpointRole.SHARED),
            EndpointConfig(adapter="pbx", extension="1099", role=EndpointRole.IGNORE),
        ),
    )
    alice = PersonConfig(
        upn="alice@contoso.com",
        tenant="contoso",
        endpoints=(EndpointConfig(adapter="pbx", extension="1001"),),
    )
    watched = watched_people([bob, alice], lambda p: p.id)  # alice not resolved yet
    assert len(watched) == 1
    assert watched[0].object_id == OID and watched[0].key == OID and watched[0].pbx_dnd_opt_in
    assert watched[0].endpoints == (Endpoint("pbx", "1002"), Endpoint("pbx", "1000", shared=True))
