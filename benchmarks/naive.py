"""A deliberately naive bridge: the baseline every benchmark reports beside ours (issue 5, scenario 6).

It is the approach most integrations start with (../shared/reference/field-survey.md): one
``setPresence`` per PBX event, ``Available/Available`` on hang-up instead of ``clearPresence``, a
long ``expirationDuration`` (PT1H) instead of refreshing, no budget, no coalescing, no retry, no
merging of a person's endpoints (the last event wins, so an idle softphone "hangs up" a desk call).
Away and agent events are ignored, as such integrations do. A 429 or any other error is counted and
the write is lost: that is what they do, and what the fidelity figures show.

Use: build it with an ``httpx.AsyncClient`` that reaches the emulator (HTTPS on loopback or
``httpx.ASGITransport`` in-process), a bearer token (``fetch_token``) and a router from endpoint to
Graph user id (``router(config)`` from a loaded ``BridgeConfig``); then ``await handle(change)``
per event (one request, awaited), or ``submit(change)`` to fire it as a task and ``await drain()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bridge.config import BridgeConfig
from bridge.model import EndpointKey, EndpointRole, LineState, StateChange, Toggle
from bridge.presence import Pair

NAIVE_EXPIRATION = "PT1H"
AVAILABLE = Pair("Available", "Available")
IN_CALL = Pair("Busy", "InACall")
CONFERENCE = Pair("Busy", "InAConferenceCall")
DND = Pair("DoNotDisturb", "Presenting")

LINE_PAIRS: dict[LineState, Pair] = {
    LineState.RINGING: IN_CALL,
    LineState.DIALING: IN_CALL,
    LineState.IN_CALL: IN_CALL,
    LineState.ON_HOLD: IN_CALL,
    LineState.BUSY: IN_CALL,
    LineState.IN_CONFERENCE: CONFERENCE,
    LineState.IDLE: AVAILABLE,
    LineState.UNAVAILABLE: AVAILABLE,
}

Router = Callable[[EndpointKey], str | None]


def naive_pair(change: StateChange) -> Pair | None:
    """What the naive bridge writes for one event, or None when it ignores the event."""
    if change.dnd is Toggle.ON:
        return DND
    if change.dnd is Toggle.OFF:
        return AVAILABLE
    if change.line is not None:
        return LINE_PAIRS.get(change.line)
    return None


def router(config: BridgeConfig) -> Router:
    """Endpoint -> Graph user id of its person (None for unknown, shared or ignored endpoints)."""

    def route(key: EndpointKey) -> str | None:
        found = config.route(key)
        if found is None or found[1] is not EndpointRole.PERSONAL:
            return None
        return found[0].id

    return route


async def fetch_token(client: httpx.AsyncClient, authority_url: str, client_id: str, secret: str) -> str:
    """One client-credentials token from the emulator's token endpoint (no msal: naive)."""
    response = await client.post(
        f"{authority_url}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


@dataclass
class NaiveBridge:
    """One ``setPresence`` per PBX event; see the module docstring for everything it does not do."""

    client: httpx.AsyncClient
    graph_url: str
    token: str
    app_id: str
    route: Router
    expiration: str = NAIVE_EXPIRATION
    counters: dict[str, int] = field(
        default_factory=lambda: {"events": 0, "writes": 0, "ok": 0, "throttled": 0, "failed": 0, "ignored": 0}
    )
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle(self, change: StateChange) -> None:
        """Write what this one event says, at once; count the outcome, never retry."""
        self.counters["events"] += 1
        user = self.route(change.endpoint)
        pair = naive_pair(change)
        if user is None or pair is None:
            self.counters["ignored"] += 1
            return
        self.counters["writes"] += 1
        body = {
            "sessionId": self.app_id,
            "availability": pair.availability,
            "activity": pair.activity,
            "expirationDuration": self.expiration,
        }
        try:
            response = await self.client.post(
                f"{self.graph_url}/users/{user}/presence/setPresence",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError:
            self.counters["failed"] += 1
            return
        if response.status_code == 429:
            self.counters["throttled"] += 1
        elif response.is_success:
            self.counters["ok"] += 1
        else:
            self.counters["failed"] += 1

    def submit(self, change: StateChange) -> None:
        """Fire ``handle(change)`` as a task (event-driven integrations do not wait for Graph)."""
        task = asyncio.get_running_loop().create_task(self.handle(change))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for every submitted write to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
