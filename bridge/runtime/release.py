"""``presence-bridge release``: clear every value of ours on both sides, and say what is left.

The CLI runs it with the system clock; the chaos suite (``tests/chaos``) runs the very same steps
on its fake clock between bridge runs. Stop ``run`` first, or it re-publishes.
"""

from __future__ import annotations

import random
from typing import TextIO

from adapters.base import AdapterDeps
from bridge.config import BridgeConfig
from bridge.errors import BridgeError
from bridge.kit.clock import Clock
from bridge.runtime.pbx_owned import release_all
from bridge.runtime.pbx_side import build_adapters
from bridge.runtime.store import StateStore
from bridge.runtime.tenant import build_tenant


def person_label(config: BridgeConfig, object_id: str) -> str:
    """``Alice (a1a1...)``: the configured name beside the object id, as `status` shows people."""
    for person in config.people:
        if person.id == object_id and person.name:
            return f"{person.name} ({object_id})"
    return object_id


async def release(
    config: BridgeConfig,
    store: StateStore,
    *,
    clock: Clock,
    out: TextIO,
    err: TextIO,
    retry_for: float,
    rng: random.Random | None = None,
) -> bool:
    """PBX values first (each read back), then every tenant's sessions and preferred presences
    (failed clears retried for ``retry_for`` seconds), then forget the stored PBX states so the
    next ``run`` publishes only what the PBX reports afresh. True when nothing of ours is left."""
    rng = rng or random.Random()
    adapters = build_adapters(config, AdapterDeps(clock, rng))
    failed = not await release_all(store, adapters, out, clock.now())
    for name, cfg in config.tenants.items():
        tenant = build_tenant(name, cfg, clock=clock, store=store, rng=rng)
        try:
            released = await tenant.publisher.release(retry_for=retry_for)
            print(f"tenant {name}: {released.cleared} clear request(s) sent", file=out)
            for person_id, what in sorted(released.still_set.items()):
                failed = True
                print(f"tenant {name}: NOT cleared for {person_label(config, person_id)}: {what}", file=out)
        except BridgeError as exc:
            failed = True
            print(f"tenant {name}: release failed: {exc}", file=err)
        finally:
            await tenant.aclose()
    # What the PBX told us before the release is no ground to publish again: the next `run`
    # decides from the adapters' fresh reports (and clears whatever a failed release left).
    try:
        store.forget_endpoints()
    except BridgeError as exc:
        failed = True
        print(f"presence-bridge: release: could not forget the stored PBX states: {exc}", file=err)
    return not failed
