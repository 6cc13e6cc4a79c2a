"""``presence-bridge demo -c FILE``: run a real configuration against Graph emulators.

The adapters are the configured ones (they connect to the real PBX); every tenant's Graph
side is replaced by a local emulator that knows the configured people, so an admin sees what
the bridge would do in Teams without touching the tenant. UPNs resolve to made-up ids.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from bridge.config import BridgeConfig, StateConfig
from bridge.demo import frame_text, running_service
from bridge.emulator.config import AppRegistration, EmulatorConfig, UserRecord
from bridge.emulator.server import EmulatorHandle, run_emulator
from bridge.kit.clock import Clock, SystemClock
from bridge.presence import Pair
from bridge.runtime.service import BridgeService
from bridge.runtime.table import event_text


def emulator_config(config: BridgeConfig, tenant: str, secret: str) -> EmulatorConfig:
    cfg = config.tenants[tenant]
    users = []
    for person in config.people:
        if person.tenant != tenant:
            continue
        oid = person.id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"upn:{person.upn}"))
        users.append(UserRecord(oid, person.upn or f"{oid}@dry-run.invalid", person.name))
    return EmulatorConfig(
        tenant_id=cfg.tenant_id,
        apps=(AppRegistration(cfg.client_id, secret=secret),),
        users=tuple(users),
    )


def pointed_at(
    config: BridgeConfig, handles: dict[str, EmulatorHandle], secret: str, state: Path
) -> BridgeConfig:
    """The same configuration with every tenant's Graph side on its emulator (and a scratch store)."""
    tenants = {
        name: cfg.model_copy(
            update={
                "authority": handles[name].base_url,
                "graph_url": handles[name].graph_url,
                "ca_file": handles[name].ca_file,
                "client_secret": SecretStr(secret),
                "certificate_file": None,
                "proxy": None,
            }
        )
        for name, cfg in config.tenants.items()
    }
    return config.model_copy(update={"tenants": tenants, "state": StateConfig(path=state)})


async def dry_run(
    config: BridgeConfig, out: TextIO, *, duration: float | None, clock: Clock | None = None
) -> int:
    clock = clock or SystemClock()
    async with dry_running(config, clock) as (service, handles):
        out.write(f"dry run: {len(config.people)} people, Graph replaced by local emulators\n")
        begin = clock.monotonic()
        while duration is None or clock.monotonic() - begin < duration:
            out.write("\n" + frame(service, handles, clock.monotonic() - begin) + "\n")
            out.flush()
            await clock.sleep(2.0)
    return 0


@contextlib.asynccontextmanager
async def dry_running(
    config: BridgeConfig, clock: Clock
) -> AsyncIterator[tuple[BridgeService, dict[str, EmulatorHandle]]]:
    """The configured adapters and a bridge on a scratch store, every tenant on its emulator."""
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="presence-bridge-dry-run-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            handles = {
                name: await stack.enter_async_context(
                    run_emulator(
                        emulator_config(config, name, secret), clock=clock, state_dir=Path(tmp) / name
                    )
                )
                for name in config.tenants
            }
            dry = pointed_at(config, handles, secret, Path(tmp) / "state.db")
            service = await stack.enter_async_context(running_service(dry, clock))
            yield service, handles


def frame(service: BridgeService, handles: dict[str, EmulatorHandle], elapsed: float) -> str:
    """One table: what each emulated Teams shows, and in the header the real adapters' latest event."""
    teams: dict[str, Pair] = {}
    for handle in handles.values():
        for user in handle.emulator.state.users():
            teams[user.id] = handle.emulator.presence_of(user.id)
    return frame_text(service.status_rows(teams), elapsed, event_text(service.last_event))
