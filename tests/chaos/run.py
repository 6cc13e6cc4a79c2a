"""One chaos run: a seeded scheduler (``random.Random(seed)``) interleaves PBX events, the users'
own Teams changes, Graph faults, CTI link drops, bridge kills and restarts on the same store, and
``release``; at every quiescent point it checks the invariants against ``oracle`` (computed from
README, never from the bridge's code). The seed alone decides every step, so a failing seed
replays from its number: ``CHAOS_SEED=137 pytest tests/chaos``.

Invariants (checked at each quiescent point, with the bridge running):

1. our session for each person is the one the mapping wants from their PBX state (none when the
   mapping wants none: no value of ours without a live reason);
2. Teams shows what Microsoft's rules make of the user's own clients, their own status and our
   session, and the user's own status is untouched;
3. Graph writes per person within bounds: one per change of the wanted session, plus refreshes,
   plus two per restart or release (a write cut off by a kill is sent again);
4. health is ok and no alarm is raised once Graph answers again;

and after every ``release``: nothing of ours in Teams, nothing owned in the store, no PBX state
remembered.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bridge.config import BridgeConfig
from bridge.emulator.app import Emulator
from bridge.emulator.config import DEFAULT_CLIENT_ID
from bridge.emulator.server import EmulatorHandle
from bridge.presence import AVAILABLE, AWAY, IN_A_CALL, PRESENTING, Pair
from bridge.runtime.store import StateStore
from tests.chaos.oracle import Line, teams_shows
from tests.chaos.rig import PEOPLE, Bridge, Pbx, Person, Violation, bridge_config, graph, new_clock

STEPS = (20, 40)  # actions per seed
SEED_LIMIT = 90.0  # real seconds for one seed (a few normally): a hang is reported with its steps
REFRESH_INTERVAL = 240.0  # README: live sessions are refreshed every 4 minutes

# The user's own Teams clients (emulator admin kinds and pairs), and statuses chosen by hand.
OWN_CLIENTS: tuple[tuple[str, dict[str, Any], Pair], ...] = (
    ("desktop", {"kind": "desktop"}, AVAILABLE),
    ("away", {"availability": "Away", "activity": "Away"}, AWAY),
    ("meeting", {"kind": "meeting"}, Pair("Busy", "InAMeeting")),
    ("teams call", {"kind": "call"}, IN_A_CALL),
    ("presenting", {"kind": "presenting"}, PRESENTING),
)
MANUAL = (
    Pair("Available", "Available"),
    Pair("Busy", "Busy"),
    Pair("DoNotDisturb", "DoNotDisturb"),
    Pair("BeRightBack", "BeRightBack"),
    Pair("Away", "Away"),
    Pair("Offline", "OffWork"),
)
LINES = ("idle", "in_call", "on_hold", "busy", "in_conference", "unavailable")
FAULTS = ("429", "503", "504", "drop", "slow")


@dataclass
class Teams:
    """One user's own Teams: their client session (None: signed out) and their chosen status."""

    client: Pair | None = None
    preferred: Pair | None = None


@dataclass
class Report:
    seed: int
    steps: list[str] = field(default_factory=list)
    checks: int = 0
    starts: int = 0
    releases: int = 0


class ChaosRun:
    def __init__(self, seed: int, tls_dir: Path, tmp: Path) -> None:
        self.seed = seed
        self.rnd = random.Random(seed)
        self.tls_dir, self.tmp = tls_dir, tmp
        self.clock = new_clock(seed)
        self.report = Report(seed)
        self.oracle = {p.extension: Line() for p in PEOPLE}
        self.teams = {p.extension: Teams() for p in PEOPLE}
        self.pbx = Pbx()
        self.link_up = False
        self.outages = 0  # PBX links lost while the bridge ran (each may clear and re-set a session)
        self.begin = self.clock.monotonic()

    def _config(self, handle: EmulatorHandle) -> BridgeConfig:
        return bridge_config(handle, self.tmp / "state.db")

    async def _pbx_up(self) -> None:
        """Before the first start (the CTI PBX needs nothing; the AMI one starts listening)."""

    async def _pbx_close(self) -> None:
        await self.pbx.aclose()

    # --- the run --------------------------------------------------------------------------------

    async def play(self) -> Report:
        async with graph(self.tls_dir, self.clock) as handle:
            self.handle, self.emu = handle, handle.emulator
            verify = ssl.create_default_context(cafile=str(handle.ca_file))
            self.admin = httpx.AsyncClient(verify=verify, trust_env=False, timeout=10.0)
            self.bridge = Bridge(self._config(handle), self.clock, self.rnd)
            try:
                await self._pbx_up()
                for person in PEOPLE:
                    await self._own_client(person, self.rnd.choice((*OWN_CLIENTS, None)))
                    if self.rnd.random() < 0.2:
                        await self._manual(person, self.rnd.choice(MANUAL))
                await self._up()
                actions = self._actions()
                names = [a[0] for a in actions]
                weights = [a[1] for a in actions]
                for _ in range(self.rnd.randint(*STEPS)):
                    name = self.rnd.choices(names, weights)[0]
                    await dict((a[0], a[2]) for a in actions)[name]()
                await self.check()
            except Violation as exc:
                raise Violation(self._story(str(exc))) from None
            finally:
                await self.bridge.kill()
                await self._pbx_close()
                await self.admin.aclose()
        self.report.starts = self.bridge.starts
        return self.report

    def _actions(self) -> list[tuple[str, int, Callable[[], Awaitable[None]]]]:
        return [
            ("pbx", 30, self.pbx_event),
            ("wait", 10, self.wait),
            ("own client", 6, self.own_client),
            ("manual status", 5, self.manual),
            ("graph fault", 6, self.graph_fault),
            ("link drop", 4, self.link_drop),
            ("kill", 3, self.kill),
            ("stop", 2, self.stop),
            ("start", 3, self._up),
            ("release", 2, self.release),
            ("check", 8, self.check),
        ]

    def _story(self, message: str) -> str:
        tail = "\n  ".join(self.report.steps[-25:])
        return (
            f"seed {self.seed}: {message}\n(replay: CHAOS_SEED={self.seed} pytest tests/chaos)\n"
            f"last steps:\n  {tail}"
        )

    def _step(self, text: str) -> None:
        self.report.steps.append(f"t={self.clock.monotonic() - self.begin:7.1f} {text}")

    # --- actions --------------------------------------------------------------------------------

    async def pbx_event(self) -> None:
        person = self.rnd.choice(PEOPLE)
        roll = self.rnd.random()
        if roll < 0.25:
            await self._report(person, {"dnd": not self.pbx.lines[person.extension][1]})
            return
        if roll < 0.45:  # a call that rings first (answered or missed) or is dialled out
            first = self.rnd.choice(("ringing", "dialing"))
            await self._report(person, {"line": first})
            await self._advance(self.rnd.uniform(0.0, 4.0))
            await self._report(person, {"line": self.rnd.choice(("in_call", "idle"))})
            return
        await self._report(person, {"line": self.rnd.choice(LINES)})

    async def _report(self, person: Person, fields: dict[str, Any]) -> None:
        line, dnd = self.pbx.lines[person.extension]
        line = fields.get("line", line)
        dnd = fields.get("dnd", dnd)
        self.pbx.lines[person.extension] = (line, dnd)
        delivered = self.bridge.running and self.link_up
        via = self.rnd.choice(("tcp", "http"))
        self._step(
            f"pbx {person.name} {fields}" + (f" via {via}" if delivered else " (lost: nobody listens)")
        )
        if delivered:
            await self.pbx.send(
                self.bridge.cti(), {"extension": person.extension, **fields}, tcp=via == "tcp"
            )
            self.oracle[person.extension].report(
                self.clock.monotonic(), line=fields.get("line"), dnd=fields.get("dnd")
            )

    async def wait(self) -> None:
        await self._advance(self.rnd.uniform(0.1, 6.0))

    async def _advance(self, seconds: float) -> None:
        self._step(f"clock +{seconds:.1f} s")
        await self.clock.advance(seconds)

    async def own_client(self) -> None:
        person = self.rnd.choice(PEOPLE)
        await self._own_client(person, self.rnd.choice((*OWN_CLIENTS, None)))

    async def _own_client(self, person: Person, client: tuple[str, dict[str, Any], Pair] | None) -> None:
        url = f"{self.handle.admin_url}/users/{person.object_id}/sessions/teams-client"
        if client is None:
            if self.teams[person.extension].client is None:
                return
            self._step(f"teams {person.name} signs out of Teams")
            (await self.admin.delete(url)).raise_for_status()
            self.teams[person.extension].client = None
            self._teams_changed(person)
            return
        name, body, pair = client
        self._step(f"teams {person.name}'s own client: {name}")
        (await self.admin.put(url, json=body)).raise_for_status()
        self.teams[person.extension].client = pair
        self._teams_changed(person)

    def _teams_changed(self, person: Person) -> None:
        """The person changed their own Teams (the AMI runs follow it to the PBX)."""

    async def manual(self) -> None:
        person = self.rnd.choice(PEOPLE)
        await self._manual(person, self.rnd.choice((*MANUAL, None)))

    async def _manual(self, person: Person, pair: Pair | None) -> None:
        url = f"{self.handle.admin_url}/users/{person.object_id}/preferred"
        self._step(f"teams {person.name} chooses {pair or 'no status'} by hand")
        if pair is None:
            response = await self.admin.delete(url)
        else:
            response = await self.admin.put(
                url, json={"availability": pair.availability, "activity": pair.activity}
            )
        response.raise_for_status()
        self.teams[person.extension].preferred = pair
        self._teams_changed(person)

    async def graph_fault(self) -> None:
        kind = self.rnd.choice(FAULTS)
        body: dict[str, Any] = {"kind": kind, "count": self.rnd.randint(1, 3)}
        if kind in ("429", "503"):
            body["retryAfter"] = self.rnd.choice((0.5, 1, 2))
        if kind == "slow":
            body["delay"] = self.rnd.uniform(0.5, 5.0)
        self._step(f"graph fault {body}")
        (await self.admin.post(f"{self.handle.admin_url}/faults", json=body)).raise_for_status()

    async def link_drop(self) -> None:
        if not self.link_up:
            return
        self._step("pbx CTI link drops")
        self.link_up = False
        await self.pbx.hang_up_link()

    async def kill(self) -> None:
        if not self.bridge.running:
            return
        self._step("bridge killed")
        await self._down()

    async def stop(self) -> None:
        if not self.bridge.running:
            return
        await self.quiesce()
        self._step("bridge stopped")
        await self._down()

    async def _down(self) -> None:
        await self.bridge.kill()
        self.link_up = False
        await self.pbx.hang_up_link()
        for line in self.oracle.values():
            line.restarted()

    async def _up(self) -> None:
        """Start the bridge if it is down, and (re)connect the PBX's link, which sends a snapshot."""
        if not self.bridge.running:
            self._step("bridge starts")
            await self.bridge.start()
        if not self.link_up:
            events = self.pbx.snapshot_events(at_rest_too=self.rnd.random() < 0.5)
            if self.rnd.random() < 0.7:
                self._step(f"pbx logs in over TCP, snapshot {events}")
                await self.pbx.connect(self.bridge.cti(), events)
            else:
                self._step(f"pbx posts a snapshot over HTTP {events}")
                await self.pbx.http_snapshot(self.bridge.cti(), events)
            self.link_up = True
            now = self.clock.monotonic()
            for extension, (line, dnd) in self.pbx.lines.items():
                known = self.oracle[extension]
                if line is not None or dnd:
                    known.report(now, line=line, dnd=dnd)
                elif known.line is not None or known.dnd:  # not listed: reset to rest (docs/cti.md)
                    known.report(now, line="idle", dnd=False)

    async def release(self) -> None:
        if self.bridge.running:
            await self.stop()
        self._step("release")
        done, said = await self.bridge.release()
        self.report.releases += 1
        if not done:
            raise Violation(f"release failed with Graph's faults finite:\n{said}")
        now = self.clock.monotonic()
        for line in self.oracle.values():
            line.released(now)
        for person in PEOPLE:
            ours = self._ours(person)
            if ours is not None:
                raise Violation(f"after release {person.name} still has our session {ours}:\n{said}")
        with StateStore(self.bridge.config.state.path) as store:
            owned = {k: r for k, r in store.load_published().items() if r.session or r.preferred}
            if owned or store.load_owned() or store.load_endpoints():
                raise Violation(f"after release the store still owns {owned} / remembers PBX states")
        self._released(said)

    def _released(self, said: str) -> None:
        """After a ``release`` that succeeded: nothing of ours on the PBX either (AMI runs)."""

    # --- quiescence and the invariants -----------------------------------------------------------

    async def quiesce(self, minimum: float = 8.0, limit: float = 300.0) -> None:
        """Advance the fake clock until nothing is pending (retries get their time, within budget)."""
        spent = 0.0
        quiet = 0
        while True:
            await self._drain()
            quiet = quiet + 1 if self.bridge.idle() else 0
            if spent >= minimum and quiet >= 2:
                return
            if spent >= limit:
                raise Violation(f"the bridge never went quiet within {limit:g} s of fake time")
            step = 0.5 if spent < 12 else 2.0
            await self.clock.advance(step)
            spent += step

    async def _drain(self) -> None:
        """Let Graph requests in flight come back (real milliseconds, bounded). A request a ``slow``
        fault holds answers only once the fake clock moves: waiting for it in real time would
        only burn the bound (most of a seed's wall time, before)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 0.3
        while True:
            transport = self.bridge.transport
            if transport is None or not transport.inflight or loop.time() >= deadline:
                break
            if transport.inflight <= self._held_by_clock():
                break
            await asyncio.sleep(0.001)
        await self.clock.settle()

    def _held_by_clock(self) -> int:
        """Graph requests a ``slow`` fault holds now: taken by one, not yet answered (journalled)."""
        taken = int(self.emu.faults.counters["injected_slow"])
        answered = sum(1 for e in self.emu.journal.entries() if str(e["summary"]).startswith("fault: slow"))
        return taken - answered

    def _ours(self, person: Person) -> Pair | None:
        sessions = self.emu.state.describe(person.object_id, self.clock.now())["sessions"]
        assert isinstance(sessions, dict)
        ours = sessions.get(DEFAULT_CLIENT_ID)
        return None if ours is None else Pair(ours["availability"], ours["activity"])

    async def check(self) -> None:
        await self._up()
        await self.quiesce()
        self._settled()
        self.report.checks += 1
        now = self.clock.monotonic()
        self._step("check")
        emu: Emulator = self.emu
        for person in PEOPLE:
            line, own = self.oracle[person.extension], self.teams[person.extension]
            ours = self._ours(person)
            accepted = line.accepted(now)
            if ours not in accepted:
                raise Violation(
                    f"{person.name}: our session is {ours}, the mapping wants "
                    f"{' or '.join(map(str, accepted))} "
                    f"(PBX line {line.line}, dnd {line.dnd})"
                )
            sessions = [p for p in (own.client, ours) if p is not None]
            expected = teams_shows(sessions, own.preferred)
            shown = emu.presence_of(person.object_id)
            if shown != expected:
                raise Violation(
                    f"{person.name}: Teams shows {shown}, expected {expected} (own {own}, ours {ours})"
                )
            preferred = emu.state.describe(person.object_id, self.clock.now())["preferred"]
            held = None if preferred is None else Pair(preferred["availability"], preferred["activity"])  # type: ignore[index]
            if held != own.preferred:
                raise Violation(f"{person.name}: their own status is {held}, they chose {own.preferred}")
            line.count(now)  # timers since the last event count as changes too
            self._check_writes(person, line)
            line.settled(now)
        service = self.bridge.service
        assert service is not None
        if service.overall() != "ok" or service.alarms():
            raise Violation(f"health {service.overall()} {service.readiness()}, alarms {service.alarms()}")
        self._check_pbx()

    def _settled(self) -> None:
        """A quiescent point was reached (AMI runs: the AstDB poll has found what AstDB alone says)."""

    def _check_pbx(self) -> None:
        """What we wrote to the PBX (AMI runs: Teams -> PBX)."""

    def _check_writes(self, person: Person, line: Line) -> None:
        writes = sum(
            1
            for e in self.emu.journal.entries()
            if person.object_id in str(e["path"])
            and e["method"] == "POST"
            and str(e["path"]).endswith(("/setPresence", "/clearPresence"))
            and e["status"] == 200
        )
        elapsed = self.clock.monotonic() - self.begin
        bound = (
            line.changes
            + int(elapsed // REFRESH_INTERVAL)
            + 1
            + 2 * (self.bridge.starts + self.report.releases + self.outages)
        )
        if writes > bound:
            raise Violation(f"{person.name}: {writes} Graph writes, bound {bound} ({line.changes} changes)")
