"""At start, what the publishers restored for people whose UPN is not resolved yet is held, not
cleared.

A stored session names an object id; until the resolver has tied every UPN to its object id, an id
that no configured person claims yet may well be one of the unresolved people (in a call right now)
rather than someone removed from the configuration. So it is held as it was restored (the publisher
writes nothing for a hold and clears nothing), and released (cleared, as any session nobody wants
after a restart) only once a complete resolution round left it unclaimed. A person who resolves
takes over their own id through the engine (``Engine.handle_resolved``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bridge.presence import TeamsIntent

Publish = Callable[[str, str, TeamsIntent, str], None]  # (tenant, object id, intent, cause)
NOT_WANTED = TeamsIntent(reason="not wanted after restart")


class UnresolvedHolds:
    def __init__(self, held: Mapping[str, Mapping[str, TeamsIntent]], publish: Publish) -> None:
        """``held``: tenant -> object id -> what its publisher restored (``tenant.held_by_tenant``)."""
        self._held = {tenant: dict(ids) for tenant, ids in held.items()}
        self._publish = publish
        self._holding: set[tuple[str, str]] = set()

    def update(self, claimed: set[str], *, complete: bool) -> None:
        """After a resolution round: hold the ids nobody claims yet, or release them once
        ``complete`` (every UPN resolved) says nobody will."""
        for tenant, ids in self._held.items():
            for object_id, intent in list(ids.items()):
                if object_id in claimed:
                    del ids[object_id]  # its person's own decisions publish it from now on
                    self._holding.discard((tenant, object_id))
                elif complete:
                    del ids[object_id]
                    self._holding.discard((tenant, object_id))
                    self._publish(tenant, object_id, NOT_WANTED, "restart: no configured person")
                elif (tenant, object_id) not in self._holding:
                    self._holding.add((tenant, object_id))
                    self._publish(tenant, object_id, intent, "waiting for the UPN to resolve")

    @property
    def holding(self) -> int:
        return len(self._holding)
