"""One AMI chaos run: the chaos scheduler of ``run.py`` with the Asterisk adapter talking to a
FreePBX that remembers what is written to it (``ami_rig.ChaosPbx``), the Teams -> PBX watcher on,
and every write-back README documents (routable state and lamp, FreePBX DND for Bob, queue pause
for Alice, the queue agent).

Besides the scheduler's steps: phones ring, answer, hold, hang up, unplug; DND by ``*78``/``*76``
(AstDB + device state) and, for people who did not opt in, by AstDB alone; the user's own Teams
(the scheduler's own-client and chosen-status steps) now also reaches the PBX; Asterisk's AMI
session drops (the bridge reconnects) or Asterisk stops and starts again (its state survives).

Invariants added at every quiescent point (``teams_oracle`` says what is right, from README):

5. the PBX holds exactly the values our ownership records say (``TEAMS/<ext>`` and its lamp, FreePBX
   DND and its hint device, the queue pause with our reason), and nothing of ours unrecorded;
6. each has a live reason: the routable state is README's row for what Teams shows (or, where our
   own session explains it, one the person's Teams showed), PBX DND only for Bob and only with a
   Teams DND, never again once he switched it off during that Teams DND (until Teams changes),
   and the person's own DND is never switched off by us;
7. nothing we wrote to the PBX reached Teams (our session is the PBX -> Teams oracle's, which only
   knows the person's own DND);
8. AMI writes per person within bounds (two per Teams or PBX change, plus two per restart, release
   or Asterisk outage);

and after every ``release``: no ``TEAMS/<ext>``, no lit lamp, no DND or queue pause of ours, and no
``CustomDevstate/TEAMS-probe`` left by a login.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import BridgeConfig, load_config_text
from bridge.emulator.server import EmulatorHandle
from bridge.kit.health import Health
from bridge.runtime.store import StateStore
from tests.chaos.ami_rig import OPTED_IN, PHONE_STATES, QUEUE_MEMBER, ChaosPbx, ami_yaml
from tests.chaos.oracle import teams_shows
from tests.chaos.rig import PEOPLE, Person, Violation, bounded
from tests.chaos.run import ChaosRun
from tests.chaos.teams_oracle import NONE, Watch

# docs/asterisk.md: the lamp per routable state ("none" is NOT_INUSE, an unset device UNKNOWN).
LAMP = {"call": "INUSE", "presenting": "BUSY", "dnd": "BUSY", NONE: "NOT_INUSE"}
QUIET_ROUNDS = 4  # watcher rounds a quiescent point waits for: hold-down, two DND sightings, a write
ALICE = PEOPLE[0].extension


class AmiChaosRun(ChaosRun):
    def __init__(self, seed: int, tls_dir: Path, tmp: Path) -> None:
        super().__init__(seed, tls_dir, tmp)
        self.ami = ChaosPbx()
        self.own_dnd = {p.extension: False for p in PEOPLE}  # DND the person switched on themselves
        self.watch = {p.extension: Watch(opted_in=p.extension == OPTED_IN) for p in PEOPLE}
        self.pbx_changes = {p.extension: 0 for p in PEOPLE}
        # Logins the PBX had counted when a new one (and its resync) became due; None: none due.
        # The adapter notices a dropped session a moment later (real loopback I/O): until then its
        # health still reads CONNECTED, and a phone change is lost, not heard (seeds 265, 365).
        self.login_due: int | None = None
        # People whose DND key was pressed while nobody listened: the bridge learns only the outcome.
        self.unheard_dnd: set[str] = set()

    # --- hooks of the CTI run ---------------------------------------------------------------

    def _config(self, handle: EmulatorHandle) -> BridgeConfig:
        """A placeholder port: ``_pbx_up`` loads it again once Asterisk listens."""
        return load_config_text(ami_yaml(handle, str(self.tmp / "state.db"), 1), "<chaos-ami>", environ={})

    async def _pbx_up(self) -> None:
        await self.ami.up()
        # the port is known only now: the adapter's settings are rebuilt with it
        text = ami_yaml(self.handle, str(self.tmp / "state.db"), self.ami.port)
        self.bridge.config = load_config_text(text, "<chaos-ami>", environ={})

    async def _pbx_close(self) -> None:
        await self.ami.close()
        await self.pbx.aclose()

    def _actions(self):  # type: ignore[no-untyped-def]
        return [
            ("pbx", 24, self.pbx_event),
            ("pbx dnd", 8, self.pbx_dnd),
            ("wait", 10, self.wait),
            ("own client", 8, self.own_client),
            ("manual status", 7, self.manual),
            ("graph fault", 6, self.graph_fault),
            ("ami drop", 3, self.ami_drop),
            ("asterisk restart", 2, self.asterisk_restart),
            ("kill", 3, self.kill),
            ("stop", 2, self.stop),
            ("start", 3, self._up),
            ("release", 2, self.release),
            ("check", 8, self.check),
        ]

    def _teams_changed(self, person: Person) -> None:
        own = self.teams[person.extension]
        self.watch[person.extension].teams_changed([own.client] if own.client else [], own.preferred)

    # --- the PBX ------------------------------------------------------------------------------

    @property
    def _listening(self) -> bool:
        """A PBX change reaches the bridge now (else the next resync reports it)."""
        service = self.bridge.service
        return (
            service is not None
            and self.ami.running
            and self.login_due is None
            and service.adapters["pbx"].health
            in (
                Health.CONNECTED,
                Health.DEGRADED,
            )
        )

    async def pbx_event(self) -> None:
        person = self.rnd.choice(PEOPLE)
        if self.rnd.random() < 0.3:  # a call that rings first, answered or missed
            await self._phone(person, "RINGING")
            await self._advance(self.rnd.uniform(0.0, 4.0))
            await self._phone(person, self.rnd.choice(("INUSE", "NOT_INUSE")))
            return
        await self._phone(person, self.rnd.choice(tuple(PHONE_STATES)))

    async def _phone(self, person: Person, state: str) -> None:
        heard = self._listening
        self._step(f"phone {person.name} {state}" + ("" if heard else " (nobody listens)"))
        self.pbx_changes[person.extension] += 1
        await self.ami.phone(person.extension, state)
        if heard:
            await self.clock.settle()
            self.oracle[person.extension].report(self.clock.monotonic(), line=PHONE_STATES[state])

    async def pbx_dnd(self) -> None:
        """The person presses *78 / *76, or (not opted in) an admin writes AstDB alone."""
        person = self.rnd.choice(PEOPLE)
        ext = person.extension
        on = not self.ami.dnd_on(ext)
        if not on and not self.own_dnd[ext] and ext != OPTED_IN:
            return  # only Bob may switch off a DND that is not his own (ours): the others have none
        astdb_only = ext != OPTED_IN and self.rnd.random() < 0.4
        if astdb_only and not on and self.ami.devices.get(f"Custom:DND{ext}") == "BUSY":
            astdb_only = False  # the lamp says DND too: only *76 switches both off
        heard = self._listening
        how = "database " + ("put" if on else "del") if astdb_only else ("*78" if on else "*76")
        self._step(f"pbx {person.name} DND {how}" + ("" if heard else " (nobody listens)"))
        self.pbx_changes[ext] += 1
        if ext == OPTED_IN:
            self.watch[ext].pbx_dnd_pressed(on)
        if astdb_only:
            self.ami.astdb_dnd(ext, on)
        else:
            await self.ami.press_dnd(ext, on)
        self.own_dnd[ext] = on
        if not heard:
            self.unheard_dnd.add(ext)
        if heard:
            await self.clock.settle()
            if not astdb_only:  # an AstDB-only change is reported by the next poll: at the check
                self.oracle[ext].report(self.clock.monotonic(), dnd=on)

    async def ami_drop(self) -> None:
        """The AMI session drops (NAT, a manager reload); the bridge reconnects and resyncs."""
        if not self._listening:
            return
        self._step("ami session drops")
        self.ami.drop()
        await self._outage()
        await self._reconnected()

    async def asterisk_restart(self) -> None:
        """Asterisk stops now; it starts again at the next ``start`` or check."""
        if not self.ami.running:
            return
        self._step("asterisk stops")
        await self.ami.down()
        if self.bridge.running:
            await self._outage()

    async def _outage(self) -> None:
        self.outages += 1
        self.login_due = self.ami.logins
        for line in self.oracle.values():
            line.restarted()  # lines went unknown: the grace may run out and the resync re-set them

    async def _reconnected(self) -> None:
        """Advance the clock until the adapter has logged in again and is connected (its resync
        done), then tell the oracle what the resync reported (the PBX's state now)."""
        service = self.bridge.service
        assert service is not None
        adapter = service.adapters["pbx"]
        for _ in range(200):
            logged_in = self.login_due is None or self.ami.logins > self.login_due
            if logged_in and adapter.health in (Health.CONNECTED, Health.DEGRADED):
                self.login_due = None
                break
            await self.clock.advance(0.5)
            await bounded(lambda: True, "a step")
        else:
            raise Violation(f"the AMI adapter did not reconnect ({adapter.health})")
        self._unheard_dnd_outcome(service.store)
        now = self.clock.monotonic()
        for person in PEOPLE:
            state = self.ami.devices[f"PJSIP/{person.extension}"]
            self.oracle[person.extension].report(
                now, line=PHONE_STATES[state], dnd=self.own_dnd[person.extension]
            )

    async def _up(self) -> None:
        if not self.ami.running:
            self._step("asterisk starts")
            await self.ami.up()
        if not self.bridge.running:
            self._step("bridge starts")
            self.login_due = self.ami.logins
            await self.bridge.start(connected=False)
            await self._reconnected()
        elif not self._listening:
            await self._reconnected()

    def _unheard_dnd_outcome(self, store: StateStore) -> None:
        """A DND of ours switched off and on again while nobody listened leaves the PBX as we set
        it: AstDB and every hint read the same (``*78`` writes what we write), so the bridge rightly
        takes it for ours still (docs/teams-to-pbx.md "Restarts"); so does the check (seed 2613)."""
        owned = {o.extension for o in store.load_owned() if o.what == "dnd"}
        for ext in sorted(self.unheard_dnd):
            if self.own_dnd[ext] and ext in owned and self.ami.dnd_on(ext):
                self._step(f"pbx {ext}: DND as our record says, unseen presses in between: ours")
                self.own_dnd[ext] = False
        self.unheard_dnd.clear()

    async def release(self) -> None:
        if not self.ami.running:
            self._step("asterisk starts (release needs it)")
            await self.ami.up()
        if self.bridge.service is not None:
            self._unheard_dnd_outcome(self.bridge.service.store)
        else:
            with StateStore(self.bridge.config.state.path) as store:
                self._unheard_dnd_outcome(store)
        await super().release()

    def _released(self, said: str) -> None:
        for person in PEOPLE:
            self.watch[person.extension].released()
        left = self._ours_on_pbx()
        if left:
            raise Violation(f"after release the PBX still holds {left}:\n{said}")

    # --- invariants -----------------------------------------------------------------------------

    def _ours_on_pbx(self) -> dict[str, str]:
        """Every value of ours the PBX holds (DND: only where it is not the person's own)."""
        ami = self.ami
        found = {k: v for k, v in ami.astdb.items() if k.startswith(("TEAMS/", "CustomDevstate/TEAMS-"))}
        for person in PEOPLE:
            ext = person.extension
            lamp = ami.devices.get(f"Custom:TEAMS{ext}", "UNKNOWN")
            if lamp not in ("NOT_INUSE", "UNKNOWN"):
                found[f"Custom:TEAMS{ext}"] = lamp
            if ami.dnd_on(ext) and not self.own_dnd[ext]:
                found[f"DND/{ext}"] = ami.astdb.get(f"DND/{ext}", "") + "/" + ami.devices[f"Custom:DND{ext}"]
        if ami.paused.startswith("teams:"):
            found[f"queue {QUEUE_MEMBER}"] = ami.paused
        return found

    async def quiesce(self, minimum: float = 8.0, limit: float = 300.0) -> None:
        """The CTI run's quiescence, then watcher rounds until Teams -> PBX has settled too."""
        await super().quiesce(minimum, limit)
        service = self.bridge.service
        if service is None or not self._listening:
            return
        watcher = service.watchers["demo"]
        start = watcher.counters["observations"]
        spent = 0.0
        while watcher.counters["observations"] < start + QUIET_ROUNDS * len(PEOPLE) or not self.bridge.idle():
            if spent >= limit:
                raise Violation(f"Teams -> PBX never settled within {limit:g} s of fake time")
            await self.clock.advance(1.0)
            await self._drain()
            spent += 1.0

    def _settled(self) -> None:
        """The AstDB poll has found by now what AstDB alone says: the person's own DND."""
        for person in PEOPLE:
            self.oracle[person.extension].report(self.clock.monotonic(), dnd=self.own_dnd[person.extension])

    def _check_pbx(self) -> None:
        service = self.bridge.service
        assert service is not None
        with_store = service.store.load_owned()
        records = {(o.extension, o.what): o.value for o in with_store}
        ami = self.ami
        for person in PEOPLE:
            ext = person.extension
            own = self.teams[ext]
            ours = self._ours(person)
            shown = teams_shows([p for p in (own.client, ours) if p is not None], own.preferred)
            watch = self.watch[ext]
            accepted = watch.accepted(shown, ours)
            routable = records.get((ext, "routable"), NONE)
            held = ami.astdb.get(f"TEAMS/{ext}", NONE)
            lamp = ami.devices.get(f"Custom:TEAMS{ext}", "UNKNOWN")
            where = f"{person.name}: Teams shows {shown} (ours {ours})"
            if held != routable:
                raise Violation(f"{where}: the PBX holds TEAMS/{ext}={held}, our record says {routable}")
            if lamp != LAMP[held] and not (held == NONE and lamp == "UNKNOWN"):
                raise Violation(f"{where}: lamp Custom:TEAMS{ext}={lamp} for TEAMS/{ext}={held}")
            if held not in accepted:
                raise Violation(
                    f"{where}: the PBX holds {held}, README wants {' or '.join(sorted(accepted))}"
                )
            dnd_record = (ext, "dnd") in records
            ours_dnd = ami.dnd_on(ext) and not self.own_dnd[ext]
            if ours_dnd != dnd_record:
                raise Violation(
                    f"{where}: PBX DND {ami.dnd(ext)} (the person's own: {self.own_dnd[ext]}), "
                    f"our record: {dnd_record}"
                )
            if self.own_dnd[ext] and not ami.dnd_on(ext):
                raise Violation(f"{person.name}: their own PBX DND was switched off")
            if dnd_record and not watch.dnd_allowed(accepted):
                raise Violation(f"{where}: PBX DND of ours without a Teams DND ({sorted(accepted)})")
            if watch.dnd_required(accepted) and not ami.dnd_on(ext):
                raise Violation(f"{where}: Teams DND, yet no PBX DND for {person.name}, who opted in")
            if watch.dnd_forbidden() and ami.dnd_on(ext):
                raise Violation(
                    f"{where}: {person.name} switched PBX DND off during this Teams DND, yet it is "
                    f"{ami.dnd(ext)} (README: off until the next Teams change)"
                )
            if ext == ALICE:
                self._check_queue(where, held)
            self._check_pbx_writes(person)
            watch.checked(held, accepted)
        probe = ami.astdb.get("CustomDevstate/TEAMS-probe")
        if probe is not None:
            raise Violation(f"the login probe left CustomDevstate/TEAMS-probe={probe}")

    def _check_queue(self, where: str, held: str) -> None:
        """docs/asterisk.md: every routable state but none pauses the agent (unless already paused)."""
        paused = self.ami.paused
        if held == NONE and paused.startswith("teams:"):
            raise Violation(f"{where}: queue member still paused {paused!r} with nothing routable")
        if held != NONE and not paused:
            raise Violation(f"{where}: routable {held}, yet the queue member is not paused")

    def _check_pbx_writes(self, person: Person) -> None:
        ext = person.extension
        writes = sum(
            1
            for a in self.ami.actions
            if (a.get("Action") or "").lower() in ("dbput", "dbdel")
            and a.get("Key") == ext
            and a.get("Family") in ("TEAMS", "DND")
        )
        teams_changes = sum(1 for step in self.report.steps if f"teams {person.name}" in step)
        bound = (
            2
            + 2 * (teams_changes + self.pbx_changes[ext])
            + 2 * (self.bridge.starts + self.report.releases + self.outages)
        )
        if writes > bound:
            raise Violation(f"{person.name}: {writes} AMI writes, bound {bound}")
