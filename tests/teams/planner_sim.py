"""Drive the pure publish planner without an event loop: intents in at given times, calls out.

``Sim`` plays the workers' part synchronously and event by event: at each instant it runs every
write and refresh the planner says is due (each call answered by ``answer``, OK by default), then
jumps to the earliest time the planner names or the next scripted intent. Calls are recorded as
``(time, person, "op pair")`` text, so tables can be written from the documented rules alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bridge.presence import Pair, TeamsIntent
from bridge.teams.ownership import PublishedRecord
from bridge.teams.plan_types import Call, Effects, Outcome, Result
from bridge.teams.planner import Planner

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
TENANT = "contoso"
MAX_CALLS_PER_INSTANT = 1000


def text(call: Call) -> str:
    """``setPresence Busy/InACall``, ``clearPresence``, ``setPresence Busy/InACall refresh``."""
    words = [str(call.op)] + ([str(call.pair)] if call.pair is not None else [])
    return " ".join(words + (["refresh"] if call.refresh else []))


def ok(_call: Call) -> Outcome:
    return Outcome(request_id="rid")


def refused(status: int, code: str) -> Outcome:
    return Outcome(Result.REFUSED, "rid-x", status=status, code=code, detail=f"{status} {code}")


class Sim:
    def __init__(self, **planner_kw: object) -> None:
        planner_kw.setdefault("rng", random.Random(1))
        self.plan = Planner(tenant=TENANT, **planner_kw)  # type: ignore[arg-type]
        self.now = 0.0
        self.answer: Callable[[Call], Outcome] = ok
        self.sent: list[tuple[float, str, str]] = []
        self.saved: list[PublishedRecord] = []
        self.effects: list[Effects] = []

    def wall(self, at: float | None = None) -> datetime:
        return T0 + timedelta(seconds=self.now if at is None else at)

    # --- scripting ---------------------------------------------------------------------------

    def desire(self, person: str, intent: TeamsIntent, at: float | None = None) -> None:
        """Run everything due until ``at`` (default: now), then hand over the intent (not yet run)."""
        if at is not None:
            self.advance(at)
        self.plan.desire(person, intent, intent.reason or "test", self.now)

    def timeline(self, events: list[tuple[float, str, TeamsIntent]], until: float) -> None:
        for at, person, intent in events:
            self.desire(person, intent, at)
            self.run_due()
        self.advance(until)

    def restore(self, *records: PublishedRecord) -> None:
        self.saved += self.plan.restore(records, self.now, self.wall())

    # --- the workers' part -------------------------------------------------------------------

    def advance(self, until: float) -> None:
        """Run what is due, jumping from one named time to the next, up to ``until``."""
        while True:
            wake = self.run_due()
            if wake is None or wake > until:
                break
            self.now = wake
        self.now = max(self.now, until)
        self.run_due()

    def run_due(self) -> float | None:
        """Run every call due now; returns the earliest later time the planner names."""
        for _ in range(MAX_CALLS_PER_INSTANT):
            write = self.plan.next_write(self.now)
            if isinstance(write, Call):
                self.turn(write)
                continue
            refresh = self.plan.next_refresh(self.now)
            if isinstance(refresh, Call):
                self.turn(refresh)
                continue
            later = [t for t in (write, refresh) if t is not None]
            return min(later, default=None)
        raise AssertionError(f"more than {MAX_CALLS_PER_INSTANT} calls at t={self.now}")

    def turn(self, first: Call) -> None:
        self.pass_over(first.person_id, first)

    def pass_over(self, person: str, call: Call | None) -> None:
        while call is not None:
            self.call(call)
            call = self.plan.next_call(person, self.now)
        record = self.plan.finish(person, self.now, self.wall())
        if record is not None:
            self.saved.append(record)

    def call(self, call: Call) -> Outcome | None:
        start = self.plan.begin(call, self.now, self.wall())
        if start.save is not None:
            self.saved.append(start.save)
        if not start.send:
            return None
        self.sent.append((self.now, call.person_id, text(call)))
        outcome = self.answer(call)
        effects = self.plan.outcome(call, outcome, self.now, self.wall())
        self.effects.append(effects)
        if effects.save is not None:
            self.saved.append(effects.save)
        return outcome

    def release(self, records: list[PublishedRecord]) -> None:
        for person in self.plan.releasing(records, self.now):
            self.plan.take_release(person)
            self.pass_over(person, self.plan.next_call(person, self.now))

    # --- reading ------------------------------------------------------------------------------

    def calls(self, person: str | None = None) -> list[str]:
        return [what for _, who, what in self.sent if person is None or who == person]

    def timed(self, person: str | None = None) -> list[tuple[float, str]]:
        return [(round(at, 6), what) for at, who, what in self.sent if person is None or who == person]

    def last_save(self, person: str) -> PublishedRecord:
        return [record for record in self.saved if record.person_id == person][-1]


def pair(text: str) -> Pair:
    return Pair.parse(text)
