"""``presence-bridge check`` for a SIP watcher account: one SUBSCRIBE per event package, the PBX's
answer in words an admin can act on, then an unsubscribe.

The words come from the subscription itself (``outcomes.Words``: 403 names ``allow_subscribe`` and
the hint's ``subscribe_context``, 404 the mapping or hint, 489 the event package, a wrong password
the realm, no password configured the realm that asked for one), so the check and the running
adapter's health say the same thing. Silence is named here: no answer within the check's limit
points at the address, port, transport and firewall. The check watches the first mapped extension
(or the first of ``extensions``): one is enough to learn whether the account may subscribe.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from typing import NamedTuple

from adapters.sip_blf.config import SipBlfConfig
from adapters.sip_blf.lifecycle import LIVE_PHASES, LOST_PHASES, Timings
from adapters.sip_blf.transport import Peer, open_transport
from adapters.sip_blf.watcher import Watch, Watcher
from bridge.errors import AdapterError
from bridge.kit.clock import Clock, Expired, sleep_or_wake, within
from bridge.model import EndpointKey


class AccountAnswer(NamedTuple):
    ok: bool
    words: str


def where(config: SipBlfConfig) -> str:
    return f"{config.host}:{config.server_port} over {config.transport.upper()}"


async def check_account(
    config: SipBlfConfig,
    extensions: frozenset[str],
    clock: Clock,
    rng: random.Random,
    limit: float,
    tls: ssl.SSLContext | None = None,
) -> list[AccountAnswer]:
    """One answer per configured event package (``config.events``), bounded by ``limit`` seconds."""
    chosen = sorted(extensions | set(config.extensions))
    if not chosen:
        return [AccountAnswer(False, "no extension to watch: map a person's endpoint to this adapter")]
    extension = chosen[0]
    wake = asyncio.Event()
    box: list[Watcher] = []

    def on_message(data: bytes, peer: Peer) -> None:
        if box:
            box[0].received(data, peer, clock.monotonic())
            wake.set()

    opening = open_transport(config.host, config.server_port, config.transport.upper(), on_message, tls=tls)
    try:
        transport = await within(clock, limit, opening)
    except Expired:
        return [AccountAnswer(False, f"cannot connect to {where(config)} within {limit:g} s")]
    except (AdapterError, OSError) as exc:
        return [AccountAnswer(False, f"cannot connect to {where(config)}: {exc}")]
    password = config.password.get_secret_value() if config.password is not None else None
    watcher = Watcher(
        transport,
        [Watch(EndpointKey("check", extension, config.context), event) for event in config.events],
        user=config.user,
        domain=config.sip_domain,
        auth_user=config.digest_user,
        password=password,
        rng=rng,
        on_change=lambda change: None,
        count=lambda name: None,
        timings=Timings(expires=config.expires),
        pace=1000.0,
    )
    box.append(watcher)
    start = clock.monotonic()
    answers: list[AccountAnswer] = []
    try:
        while True:
            now = clock.monotonic()
            deadline = watcher.tick(now)
            if all(s.phase in LIVE_PHASES | LOST_PHASES for s in watcher.subscriptions):
                break
            if transport.closed.done() or now - start >= limit:
                break
            wake.clear()
            sleep_until = start + limit if deadline is None else min(deadline, start + limit)
            await sleep_or_wake(clock, max(0.0, sleep_until - now), wake)
        answers = [
            _answer(
                config, s.event, extension, s.phase in LIVE_PHASES, s.phase in LOST_PHASES, s.detail, limit
            )
            for s in watcher.subscriptions
        ]
    finally:
        if not transport.closed.done():
            watcher.stop(clock.monotonic())
        transport.close()
    return answers


def _answer(
    config: SipBlfConfig, event: str, extension: str, live: bool, lost: bool, detail: str, limit: float
) -> AccountAnswer:
    account = f"{config.user} at {where(config)}"
    if live:
        return AccountAnswer(True, f"{account}: the '{event}' subscription to {extension} is {detail}")
    if lost:
        return AccountAnswer(False, f"{account}: '{event}' subscription to {extension}: {detail}")
    return AccountAnswer(
        False,
        f"{account}: no answer to a '{event}' SUBSCRIBE within {limit:g} s: check host, port and "
        "transport, and that no firewall drops SIP between this host and the PBX",
    )
