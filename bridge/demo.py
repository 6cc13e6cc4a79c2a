"""``presence-bridge demo``: the Graph emulator + the bridge + a scripted PBX, with a live table.

Everything is real but the PBX: msal gets tokens over HTTPS from the emulator, the bridge
publishes through Graph's HTTP API, and the scripted PBX posts JSON events to the generic CTI
ingress. The table shows, per person, the PBX state, what we asked Teams for, what Teams shows
(as the emulator aggregates it, including the person's own Teams clients) and why.

Imported by the CLI and tests only.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import httpx

from bridge.config import BridgeConfig, HttpConfig, load_config_text
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, UserRecord
from bridge.emulator.server import EmulatorHandle, run_emulator
from bridge.kit.asgi import ServeError
from bridge.kit.clock import Clock, SystemClock
from bridge.presence import Pair
from bridge.runtime.http import serve_status
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore
from bridge.runtime.table import render


class Someone(Protocol):
    """A person the demo's configuration lists (the demo's own, or a test's)."""

    @property
    def name(self) -> str: ...

    @property
    def extension(self) -> str: ...

    @property
    def object_id(self) -> str: ...


@dataclass(frozen=True)
class DemoPerson:
    name: str
    extension: str
    object_id: str
    teams_setup: str  # what this person's own Teams does, for the table's story


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("Alice", "1001", "a1a1a1a1-0000-4000-8000-000000001001", "Teams desktop Available"),
    DemoPerson("Bob", "1002", "b2b2b2b2-0000-4000-8000-000000001002", "Teams desktop Away"),
    DemoPerson("Carol", "1003", "c3c3c3c3-0000-4000-8000-000000001003", "Teams desktop Available"),
    DemoPerson("Dave", "1004", "d4d4d4d4-0000-4000-8000-000000001004", "set Be right back by hand"),
    DemoPerson("Erin", "1005", "e5e5e5e5-0000-4000-8000-000000001005", "Teams desktop Available"),
)

# (seconds from start, extension, CTI event fields, what happens)
SCRIPT: tuple[tuple[float, str, dict[str, Any], str], ...] = (
    *((0.2, p.extension, {"line": "idle", "dnd": False}, "the PBX reports its phones") for p in PEOPLE),
    (1.0, "1001", {"line": "ringing"}, "Alice's desk phone rings"),
    (2.0, "1001", {"line": "in_call"}, "Alice answers"),
    (2.5, "1002", {"line": "in_call"}, "Bob answers a call"),
    (3.0, "1003", {"line": "in_conference"}, "Carol joins a conference bridge"),
    (3.5, "1004", {"line": "in_call"}, "Dave answers a call"),
    (4.0, "1005", {"dnd": True}, "Erin presses DND on her phone"),
    (5.0, "1001", {"line": "on_hold"}, "Alice puts her caller on hold"),
    (6.0, "1001", {"line": "in_call"}, "Alice resumes"),
    (8.0, "1001", {"line": "idle"}, "Alice hangs up"),
    (8.5, "1002", {"line": "idle"}, "Bob hangs up"),
    (9.0, "1004", {"line": "idle"}, "Dave hangs up"),
    (11.0, "1003", {"line": "idle"}, "Carol leaves the conference"),
    (12.0, "1005", {"dnd": False}, "Erin switches DND off"),
)
SCRIPT_LENGTH = 16.0  # seconds, then it starts again


def tenant_yaml(handle: EmulatorHandle, name: str = "demo") -> str:
    """A ``tenants:`` section for a bridge that talks to this emulator with its demo app (whose
    secret is written inline: the emulator's own, never a real one, so the file allows it)."""
    return f"""
allow_inline_secrets: true
tenants:
  {name}:
    tenant_id: {handle.emulator.config.tenant_id}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    authority: {handle.base_url}
    graph_url: {handle.graph_url}
    ca_file: {handle.ca_file}
"""


def demo_yaml(
    handle: EmulatorHandle,
    token: str,
    state_path: Path,
    cti_port: int = 0,
    *,
    tcp_port: int | None = None,
    state_extra: str = "",
    people: Iterable[Someone] = PEOPLE,
) -> str:
    """The demo's configuration: its five people (or ``people``) on one CTI adapter (HTTP, and
    TCP when ``tcp_port`` is given); ``state_extra`` adds indented lines to ``state:``."""
    tcp = "" if tcp_port is None else f"    tcp_listen: 127.0.0.1:{tcp_port}\n"
    listed = "\n".join(
        f"  - {{id: {p.object_id}, tenant: demo, name: {p.name}, "
        f'endpoints: [{{adapter: pbx, extension: "{p.extension}"}}]}}'
        for p in people
    )
    return (
        tenant_yaml(handle)
        + f"""people:
{listed}
adapters:
  pbx:
    kind: generic_cti
    token: {token}
    http_listen: 127.0.0.1:{cti_port}
{tcp}state:
  path: {state_path}
{state_extra}"""
    )


async def setup_teams(handle: EmulatorHandle) -> None:
    """Give each person their own Teams clients through the emulator's admin API."""
    verify = ssl.create_default_context(cafile=str(handle.ca_file)) if handle.ca_file else False
    async with httpx.AsyncClient(verify=verify, trust_env=False) as admin:
        for person in PEOPLE:
            url = f"{handle.admin_url}/users/{person.object_id}"
            if person.name == "Bob":
                body: dict[str, Any] = {"availability": "Away", "activity": "Away"}
            else:
                body = {"kind": "desktop"}
            (await admin.put(f"{url}/sessions/teams-desktop", json=body)).raise_for_status()
            if person.name == "Dave":
                pref = {"availability": "BeRightBack", "activity": "BeRightBack"}
                (await admin.put(f"{url}/preferred", json=pref)).raise_for_status()


class Demo:
    """A running demo: ``async with Demo.start(clock) as demo: await demo.send(...)``."""

    def __init__(self, handle: EmulatorHandle, service: BridgeService, token: str, cti_url: str) -> None:
        self.handle = handle
        self.service = service
        self.token = token
        self.cti_url = cti_url
        self._cti = httpx.AsyncClient(timeout=10.0)

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, clock: Clock | None = None) -> AsyncIterator[Demo]:
        clock = clock or SystemClock()
        users = tuple(UserRecord(p.object_id, f"{p.name.lower()}@demo.example", p.name) for p in PEOPLE)
        token = secrets.token_urlsafe(16)
        with tempfile.TemporaryDirectory(prefix="presence-bridge-demo-") as tmp:
            async with run_emulator(EmulatorConfig(users=users), clock=clock, state_dir=Path(tmp)) as handle:
                await setup_teams(handle)
                config = load_config_text(
                    demo_yaml(handle, token, Path(tmp) / "state.db"), "<demo>", environ={}
                )
                async with running_service(config, clock) as service:
                    cti = service.adapters["pbx"]
                    address = getattr(cti, "http_address", None)
                    assert address is not None, "the CTI listener did not bind"
                    demo = cls(handle, service, token, f"http://{address[0]}:{address[1]}/cti/events")
                    try:
                        yield demo
                    finally:
                        await demo._cti.aclose()

    async def send(self, extension: str, fields: dict[str, Any]) -> None:
        response = await self._cti.post(
            self.cti_url,
            json={"extension": extension, **fields},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        response.raise_for_status()

    def teams(self) -> dict[str, Pair]:
        return {p.object_id: self.handle.emulator.presence_of(p.object_id) for p in PEOPLE}

    def rows(self) -> list[dict[str, str]]:
        return self.service.status_rows(self.teams())


@contextlib.asynccontextmanager
async def running_service(
    config: BridgeConfig, clock: Clock, *, connected: bool = True
) -> AsyncIterator[BridgeService]:
    """Run a BridgeService as an owned task until the block exits (then stop it, never clear).

    The block starts once the service has started and, with ``connected``, every adapter is
    CONNECTED (without it, e.g. to watch an adapter refuse a wrong password)."""
    store = StateStore(config.state.path).open()
    service = BridgeService(config, clock=clock, store=store)
    task = asyncio.create_task(service.run(), name="bridge")
    try:
        started = asyncio.ensure_future(service.started.wait())
        await asyncio.wait({started, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            started.cancel()
            task.result()  # raises what stopped it
        if connected:
            await wait_for_adapters(service)
        yield service
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        store.close()


async def wait_for_adapters(service: BridgeService, limit: float = 10.0) -> None:
    """Wait (bounded, real time) until every adapter has bound/connected."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while any(a.health.value != "CONNECTED" for a in service.adapters.values()):
        if loop.time() > deadline:
            raise TimeoutError("adapters did not connect: " + str(service.readiness()))
        await asyncio.sleep(0.01)


def frame_text(rows: list[dict[str, str]], elapsed: float, last: str) -> str:
    return render(rows, f"presence-bridge demo   t={elapsed:5.1f}s   last PBX event: {last}")


async def play(
    out: TextIO,
    *,
    duration: float | None,
    clock: Clock | None = None,
    live: bool = True,
    on_frame: Callable[[Demo], None] | None = None,
    page: HttpConfig | None = None,
) -> int:
    """Play the script (looping) until ``duration`` seconds have passed (None: until cancelled);
    with ``page``, serve the status page there too (a port in use only costs the page)."""
    clock = clock or SystemClock()
    async with Demo.start(clock) as demo, contextlib.AsyncExitStack() as stack:
        footer = ""
        if page is not None:
            try:
                served = await stack.enter_async_context(serve_status(demo.service, page, shows=demo.teams))
                footer = f"status page: {served.base_url}/\n"
            except ServeError as exc:
                footer = f"status page not served: {exc}\n"
        begin = clock.monotonic()
        last = "(none yet)"
        step = 0
        loop_start = begin
        frame = 0.0
        shown: list[dict[str, str]] = []
        while duration is None or clock.monotonic() - begin < duration:
            now = clock.monotonic()
            at, extension, fields, note = SCRIPT[step]
            if now - loop_start >= at:
                await demo.send(extension, fields)
                last = note
                step += 1
                if step == len(SCRIPT):
                    step = 0
                    loop_start += SCRIPT_LENGTH
            if now >= frame:
                rows = demo.rows()
                if live or rows != shown:  # on a terminal redraw; in a log, print changes only
                    out.write(
                        ("\x1b[H\x1b[2J" if live else "\n")
                        + frame_text(rows, now - begin, last)
                        + "\n"
                        + footer
                    )
                    out.flush()
                    shown = rows
                frame = now + 0.5
                if on_frame is not None:
                    on_frame(demo)
            await clock.sleep(0.1)
        out.write("\n" + frame_text(demo.rows(), clock.monotonic() - begin, last) + "\n")
    return 0
