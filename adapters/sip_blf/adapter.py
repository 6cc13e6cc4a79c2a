"""The SIP presence/BLF adapter on the SDK: a ``ConnectionAdapter`` whose session is one SIP
socket (``transport``) carrying every subscription (``watcher``).

Why our own subscriber and not pyVoIP (the package docstring says it in full): pyVoIP 1.6.8
refuses NOTIFY and SUBSCRIBE and cannot answer qop=auth challenges; it is the lab's phones.

What the SDK gives this adapter, and how the watcher feeds it:

* health: CONNECTING until the first subscription is active; CONNECTED while every subscription
  is active (or pending); DEGRADED with the first refusal in words an admin can act on when some
  are refused or waiting to retry; a wrong password is ``AdapterAuthError`` -> BAD_CREDENTIALS
  and the long ``auth_failure_backoff`` pause; a PBX that answers none of our subscriptions any
  more, or a closed TCP/TLS connection, ends the session -> TRANSIENT_DISCONNECT and a reconnect
  with backoff, every watched line ``unknown`` meanwhile (``went_blind``);
* facts: each subscription's ``StateChange`` values, as they come;
* on stop: every live subscription is ended with ``Expires: 0``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

from pydantic import BaseModel

from adapters.base import Adapter, AdapterDeps, AdapterEvent, KnownExtensions
from adapters.sdk import ConnectionAdapter, Session
from adapters.sip_blf.account_check import AccountAnswer, check_account
from adapters.sip_blf.config import SipBlfConfig
from adapters.sip_blf.lifecycle import Timings
from adapters.sip_blf.transport import Peer, SipTransport, open_transport
from adapters.sip_blf.watcher import Watch, Watcher, WatcherVerdict
from bridge.errors import AdapterError
from bridge.kit.backoff import Backoff
from bridge.kit.clock import sleep_or_wake
from bridge.kit.health import Health
from bridge.model import EndpointKey, LineState, StateChange, Toggle

COUNTERS = (
    "connects",
    "auth_failures",
    "disconnects",
    "subscribes",
    "notifies",
    "notify_rejected",
    "notify_unknown_dialog",
    "malformed_messages",
    "retransmissions",
    "transaction_timeouts",
    "auth_stale",
    "auth_rejected",
    "full_state_requests",
)


class SipBlfAdapter(ConnectionAdapter):
    kind = "sip_blf"
    counter_names = COUNTERS

    def __init__(self, name: str, config: SipBlfConfig, deps: AdapterDeps) -> None:
        super().__init__(name, deps)
        self.config = config
        self.watcher: Watcher | None = None
        self._accepted: set[str] = set()

    # --- SDK hooks -------------------------------------------------------------------------------

    def backoff(self) -> Backoff:
        return Backoff(self.config.backoff_initial, self.config.backoff_max, rng=self.deps.rng)

    def auth_pause(self) -> float:
        return self.config.auth_failure_backoff

    def went_blind(self) -> Iterable[AdapterEvent]:
        for watch in self.watches():
            presence = watch.event == "presence"
            line = LineState.UNKNOWN if watch.line_from_body else None
            toggle = Toggle.UNKNOWN if presence else None
            yield StateChange(watch.endpoint, line=line, dnd=toggle, away=toggle)

    async def known_extensions(self) -> KnownExtensions | None:
        """Extensions whose subscription the PBX accepted (``adapters.base.KnowsExtensions``)."""
        return KnownExtensions(
            frozenset(self._accepted), complete=False, source="subscriptions the PBX accepted"
        )

    async def check_account(self, limit: float) -> list[AccountAnswer]:
        """``presence-bridge check``: one SUBSCRIBE per event package and the PBX's answer in words
        (``account_check``); the adapter need not be started."""
        watched = self.deps.watched(self.name)
        return await check_account(self.config, watched, self.clock, self.deps.rng, limit, self.tls_context())

    # --- the session -----------------------------------------------------------------------------

    def watches(self) -> list[Watch]:
        cfg = self.config
        extensions = sorted(self.deps.watched(self.name) | set(cfg.extensions))
        line_from_presence = "dialog" not in cfg.events
        return [
            Watch(
                EndpointKey(self.name, extension, cfg.context), event, event == "dialog" or line_from_presence
            )
            for extension in extensions
            for event in cfg.events
        ]

    def timings(self) -> Timings:
        cfg = self.config
        return Timings(
            expires=cfg.expires,
            backoff_initial=cfg.backoff_initial,
            backoff_max=cfg.backoff_max,
            auth_pause=cfg.auth_failure_backoff,
            refused_pause=cfg.refused_backoff,
        )

    def tls_context(self) -> ssl.SSLContext | None:
        if self.config.transport != "tls":
            return None
        context = ssl.create_default_context()
        if not self.config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def run_session(self, session: Session) -> None:
        cfg = self.config
        wake = asyncio.Event()
        box: list[Watcher] = []

        def on_message(data: bytes, peer: Peer) -> None:
            if box:
                box[0].received(data, peer, self.clock.monotonic())
                wake.set()

        opening = open_transport(
            cfg.host, cfg.server_port, cfg.transport.upper(), on_message, tls=self.tls_context()
        )
        transport = await session.within(self.connect_timeout, opening, f"connecting to {cfg.host}")
        self.count("connects")
        transport.closed.add_done_callback(lambda _: wake.set())
        password = cfg.password.get_secret_value() if cfg.password is not None else None
        watcher = Watcher(
            transport,
            self.watches(),
            user=cfg.user,
            domain=cfg.sip_domain,
            auth_user=cfg.digest_user,
            password=password,
            rng=self.deps.rng,
            on_change=self.emit,
            count=self.count,
            timings=self.timings(),
            pace=cfg.pace,
            accepted=self._accepted,
        )
        box.append(watcher)
        self.watcher = watcher
        try:
            await self._watch(session, transport, watcher, wake)
        finally:
            if not transport.closed.done():
                watcher.stop(self.clock.monotonic())
            transport.close()
            self.watcher = None

    async def _watch(
        self, session: Session, transport: SipTransport, watcher: Watcher, wake: asyncio.Event
    ) -> None:
        reported: WatcherVerdict | None = None
        while True:
            if transport.closed.done():
                raise AdapterError(transport.closed.result())
            now = self.clock.monotonic()
            deadline = watcher.tick(now)
            verdict = watcher.verdict()
            if watcher.pbx_silent:
                raise AdapterError(f"the PBX answers none of our subscriptions ({verdict.detail})")
            if verdict != reported:
                self._report(session, verdict)
                reported = verdict
            wake.clear()
            await sleep_or_wake(self.clock, None if deadline is None else max(0.0, deadline - now), wake)

    def _report(self, session: Session, verdict: WatcherVerdict) -> None:
        if verdict.health is Health.CONNECTED:
            session.connected(verdict.detail)
        elif verdict.health is Health.DEGRADED:
            session.reached_connected = True
            self.set_health(Health.DEGRADED, verdict.detail)


class SipBlfFactory:
    """Registered as kind ``sip_blf``; ``config_model`` validates ``adapters.<name>`` sections."""

    kind = "sip_blf"
    config_model: type[BaseModel] = SipBlfConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter:
        if not isinstance(config, SipBlfConfig):
            raise AdapterError(f"sip_blf {name}: expected a SipBlfConfig, got {type(config).__name__}")
        return SipBlfAdapter(name, config, deps)


FACTORY = SipBlfFactory()
