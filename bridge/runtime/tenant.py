"""One Entra tenant's Graph side, built from its config: token provider, HTTP client, budget,
publisher, and the Teams -> PBX watcher.

``build_tenant`` is the one place these are put together (the service, ``release``, ``check`` and
the benchmarks use it), so every caller gets the same timeouts, TLS and proxy rules.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from bridge.config import BridgeConfig, TenantConfig
from bridge.errors import BridgeError, ConfigError
from bridge.kit.clock import Clock
from bridge.kit.config_types import FileSecret
from bridge.kit.health import Health
from bridge.presence import TeamsIntent
from bridge.runtime.engine import held_intents
from bridge.runtime.store import StateStore
from bridge.teams.auth import MsalTokenProvider
from bridge.teams.auth_http import tls_context
from bridge.teams.budget import Budget
from bridge.teams.credentials import CredentialFile, CredentialWatch
from bridge.teams.graph import GraphClient, TokenProvider
from bridge.teams.inflight import connections
from bridge.teams.publisher import Publisher
from bridge.teams.watcher import Apply, Ours, Watcher, held_for_us

log = logging.getLogger(__name__)

GRAPH_TIMEOUT_SECONDS = 30.0


@dataclass
class TenantRuntime:
    """Everything that talks to one Entra tenant."""

    name: str
    config: TenantConfig
    tokens: TokenProvider
    http: httpx.AsyncClient
    graph: GraphClient
    budget: Budget
    publisher: Publisher
    credentials: CredentialWatch | None = None  # the secret or certificate file, when there is one

    async def aclose(self) -> None:
        await self.http.aclose()
        close = getattr(self.tokens, "close", None)
        if callable(close):
            close()


def token_provider(cfg: TenantConfig) -> MsalTokenProvider:
    secret = cfg.client_secret.get_secret_value() if cfg.client_secret is not None else None
    pem = None
    if cfg.certificate_file is not None:
        try:
            pem = Path(cfg.certificate_file).read_bytes()
        except OSError as exc:
            raise ConfigError([f"certificate_file {cfg.certificate_file}: {exc.strerror or exc}"]) from exc
    return MsalTokenProvider(
        tenant_id=cfg.tenant_id,
        client_id=cfg.client_id,
        authority_base=cfg.authority,
        secret=secret,
        certificate_pem=pem,
        ca_file=str(cfg.ca_file) if cfg.ca_file else None,
        proxy=cfg.proxy,
    )


def credential_file(cfg: TenantConfig) -> CredentialFile | None:
    """The file the tenant's credential was read from (None: given inline or by the environment)."""
    if cfg.certificate_file is not None:
        return CredentialFile(Path(cfg.certificate_file), is_certificate=True)
    if isinstance(cfg.client_secret, FileSecret):
        return CredentialFile(cfg.client_secret.path, is_certificate=False)
    return None


def build_tenant(
    name: str,
    cfg: TenantConfig,
    *,
    clock: Clock,
    store: StateStore,
    rng: random.Random,
    tokens: TokenProvider | None = None,
    http: httpx.AsyncClient | None = None,
) -> TenantRuntime:
    tokens = tokens or token_provider(cfg)
    http = http or httpx.AsyncClient(
        verify=tls_context(str(cfg.ca_file) if cfg.ca_file else None),
        trust_env=False,  # environment proxies and CA overrides are not trusted implicitly
        proxy=cfg.proxy,
        timeout=GRAPH_TIMEOUT_SECONDS,
        limits=httpx.Limits(  # every request in flight may hold its own HTTP/1.1 connection
            max_connections=connections(cfg.max_in_flight),
            max_keepalive_connections=connections(cfg.max_in_flight),
        ),
    )
    refresh_interval = float(cfg.refresh_interval)
    budget = Budget(
        clock,
        requests=cfg.budget.requests,
        window_seconds=cfg.budget.window_seconds,
        refresh_share=cfg.budget.refresh_share,
        refresh_interval=refresh_interval,
    )
    graph = GraphClient(
        cfg.graph_url,
        tokens,
        http,
        clock,
        rng,
        on_throttle=budget.throttled,
        before_retry=budget.acquire_retry,
    )
    publisher = Publisher(
        tenant=name,
        client_id=cfg.client_id,
        graph=graph,
        budget=budget,
        store=store,
        clock=clock,
        session_expiry=cfg.session_expiry,
        refresh_interval=refresh_interval,
        flap_window=cfg.flap_window,
        max_in_flight=cfg.max_in_flight,
    )
    runtime = TenantRuntime(name, cfg, tokens, http, graph, budget, publisher)
    source = credential_file(cfg)
    if isinstance(tokens, MsalTokenProvider) and source is not None:
        provider = tokens

        def replace(secret: str | None, pem: bytes | None) -> None:
            provider.replace_credential(secret=secret, certificate_pem=pem)

        runtime.credentials = CredentialWatch(
            name,
            source,
            clock,
            replace=replace,
            retry=publisher.retry_credentials,
            probe=publisher.check_credentials,
        )
    return runtime


def build_watcher(tenant: TenantRuntime, clock: Clock, apply: Apply) -> Watcher:
    """The tenant's Teams -> PBX watcher; it never reflects what our publisher holds (its preferred
    presence, else its session)."""
    publisher = tenant.publisher

    def ours(object_id: str) -> Ours:  # CONNECTING: not yet reconciled with the store
        return held_for_us(publisher.view(object_id), publisher.health is not Health.CONNECTING)

    return Watcher(
        tenant=tenant.name,
        graph=tenant.graph,
        budget=tenant.budget,
        clock=clock,
        people=[],
        ours=ours,
        apply=apply,
        interval=tenant.config.watch.interval_seconds,
        meeting=tenant.config.watch.meeting,
    )


def build_tenants(
    config: BridgeConfig, *, clock: Clock, store: StateStore, rng: random.Random
) -> dict[str, TenantRuntime]:
    return {
        name: build_tenant(name, cfg, clock=clock, store=store, rng=rng)
        for name, cfg in config.tenants.items()
    }


def held_by_tenant(
    tenants: Mapping[str, TenantRuntime], store: StateStore, wall: datetime
) -> dict[str, dict[str, TeamsIntent]]:
    """Tenant -> object id -> what its publisher will restore from the store (``engine.held_intents``),
    which the start-up gate holds while it waits for the PBX (DESIGN 14), and ``UnresolvedHolds``
    while UPNs are not resolved yet."""
    held: dict[str, dict[str, TeamsIntent]] = {}
    for tenant in tenants:
        try:
            held[tenant] = held_intents(store.load_published(tenant).values(), wall)
        except BridgeError as exc:
            log.warning("tenant %s: could not read what we published before the restart: %s", tenant, exc)
    return held
