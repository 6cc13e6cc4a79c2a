"""The latency benchmark's offered load: a realistic PBX event mix on a fixed-rate grid (pure, seeded).

Calls and DND episodes start at random (Poisson) times, each on a random person who is free, on one
of that person's devices:

- answered call: ring, answer, hang up;     - held call: ring, answer, hold, resume, hang up;
- missed call: ring, hang up;               - conference: join a conference bridge, leave it;
- do not disturb: on, later off.

Gaps inside an episode are drawn from ranges scaled by ``pace`` (1 = seconds-long calls; the
2,000 events/s run compresses them so the population can carry the rate). After an episode a
person stays quiet for ``COOLDOWN`` seconds, well past the core's 3 s idle hold, so a hang-up's
delayed ``clearPresence`` always lands before that person's next event (no event ever falls near
a policy threshold, which keeps the prediction of what publishes at once exact).

The process is run from ``-LEAD`` seconds so it is in steady state at 0 (calls already ringing or
talking), events before 0 are dropped, and the k-th remaining event is sent at ``k / rate`` (a
fixed rate; the re-timing moves events by a fraction of a second, far less than the cooldown
margin, which ``build`` checks).
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass

from benchmarks.population import Person

LEAD = 30.0  # seconds of episodes simulated before 0, so the stream starts in steady state
COOLDOWN = 4.5  # seconds a person stays quiet after an episode (the core's idle hold is 3 s)
MIN_QUIET = 3.8  # checked after re-timing: an event this close after a hang-up would be near the hold

# (kind, event fields, gap range to the next step in seconds before ``pace``; None ends the episode)
Step = tuple[str, dict[str, object], tuple[float, float] | None]
RING: Step = ("ring", {"line": "ringing"}, (1.0, 6.0))
HANG_UP: Step = ("hang_up", {"line": "idle"}, None)
EPISODES: tuple[tuple[str, float, tuple[Step, ...]], ...] = (
    ("answered", 0.45, (RING, ("answer", {"line": "in_call"}, (3.0, 20.0)), HANG_UP)),
    (
        "held",
        0.15,
        (
            RING,
            ("answer", {"line": "in_call"}, (2.0, 8.0)),
            ("hold", {"line": "on_hold"}, (2.0, 10.0)),
            ("resume", {"line": "in_call"}, (2.0, 10.0)),
            HANG_UP,
        ),
    ),
    ("missed", 0.15, (("ring", {"line": "ringing"}, (3.0, 10.0)), HANG_UP)),
    ("conference", 0.10, (("conference", {"line": "in_conference"}, (5.0, 20.0)), HANG_UP)),
    ("dnd", 0.15, (("dnd_on", {"dnd": True}, (5.0, 30.0)), ("dnd_off", {"dnd": False}, None))),
)
MEAN_STEPS = sum(weight * len(steps) for _, weight, steps in EPISODES)


@dataclass(frozen=True, slots=True)
class Planned:
    """One event to send: when (seconds from the start), about whom, and the CTI JSON line."""

    at: float
    person: int  # index into the population
    device: str
    kind: str
    fields: tuple[tuple[str, object], ...]

    def json_line(self, extension: str) -> bytes:
        body = {"extension": extension, "device": self.device, **dict(self.fields)}
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def build(
    population: tuple[Person, ...], rate: float, seconds: float, *, pace: float, seed: int = 5
) -> list[Planned]:
    """``rate * seconds`` events at a fixed rate, mixed as the module docstring says."""
    rng = random.Random(seed)
    count = round(rate * seconds)
    episode_rate = rate / MEAN_STEPS
    free_at = [-LEAD - 1.0] * len(population)
    kinds = [e[0] for e in EPISODES]
    weights = [e[1] for e in EPISODES]
    steps_of = {e[0]: e[2] for e in EPISODES}
    raw: list[tuple[float, int, str, str, tuple[tuple[str, object], ...]]] = []
    start = -LEAD
    # Generate until enough events lie at or after 0 (in planned time, with margin for re-timing).
    horizon = seconds * 1.5 + 10.0
    while start < horizon:
        start += rng.expovariate(episode_rate)
        person = _free_person(rng, free_at, start)
        device = rng.choice(population[person].endpoints).device
        at = start
        for kind, fields, gap in steps_of[rng.choices(kinds, weights)[0]]:
            raw.append((at, person, device, kind, tuple(fields.items())))
            if gap is not None:
                at += rng.uniform(*gap) * pace
        free_at[person] = at + COOLDOWN
    heapq.heapify(raw)
    ordered = [heapq.heappop(raw) for _ in range(len(raw))]
    kept = [e for e in ordered if e[0] >= 0.0][:count]
    if len(kept) < count:
        raise ValueError(f"the schedule produced {len(kept)} events, {count} wanted")
    planned = [Planned(k / rate, p, d, kind, f) for k, (_, p, d, kind, f) in enumerate(kept)]
    _check_quiet(planned)
    return planned


def _free_person(rng: random.Random, free_at: list[float], at: float) -> int:
    for _ in range(10_000):
        person = rng.randrange(len(free_at))
        if free_at[person] <= at:
            return person
    raise ValueError("the population is too small for this rate: nobody is free")


def _check_quiet(planned: list[Planned]) -> None:
    """After re-timing, every person's next event still comes well after their hang-up."""
    last_end: dict[int, float] = {}
    for event in planned:
        ended = last_end.get(event.person)
        if ended is not None and event.at - ended < MIN_QUIET:
            raise ValueError(f"person {event.person}: an event {event.at - ended:.2f} s after a hang-up")
        if event.kind in ("hang_up", "dnd_off"):
            last_end[event.person] = event.at
        else:
            last_end.pop(event.person, None)
