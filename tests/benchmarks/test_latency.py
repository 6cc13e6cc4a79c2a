"""Benchmark latency: quick mode runs end to end and its counts hold (no timing is asserted)."""

from __future__ import annotations

import asyncio

from benchmarks import latency
from benchmarks.latency_ami import emitted, live_bytes
from benchmarks.latency_match import Measured, match, percentile
from benchmarks.latency_schedule import build
from benchmarks.population import people
from benchmarks.results import Bar


def test_quick_run_matches_every_event_that_publishes_at_once_to_its_graph_request() -> None:
    measured = asyncio.run(latency.measure(latency.QUICK))
    for outcome in [*measured.cti, *measured.ami, *measured.naive]:
        assert outcome.acks == outcome.offered and outcome.refused == 0, outcome.label
        assert outcome.measured > 0
        assert outcome.matched.unmatched == 0, f"{outcome.label}: events without their Graph request"
        assert len(outcome.matched.latencies_ms) == outcome.measured
        assert outcome.throttled == 0
    for outcome in [*measured.cti, *measured.ami]:
        # only some events publish at once; the rest (ring, hold, resume...) write nothing
        assert outcome.measured < outcome.offered / 2
        assert outcome.writes >= outcome.measured
    (naive,) = measured.naive
    assert naive.naive_writes == naive.offered  # one write per event, however redundant

    results = {r.metric: r for r in latency.results(measured, latency.QUICK)}
    assert results["cti_100_p99_ms"].bar == Bar("<=", 2.0)
    assert results["cti_2000_p99_ms"].bar == Bar("<=", 20.0)
    assert results["ami_100_p99_ms"].bar == Bar("<=", 2.0)
    assert results["naive_cti_100_p99_ms"].bar is None
    assert results["naive_cti_100_writes"].value == naive.offered
    for prefix in ("cti_100", "cti_2000", "ami_100", "naive_cti_100"):
        p50, p99, top = (results[f"{prefix}_{q}_ms"].value for q in ("p50", "p99", "max"))
        assert 0 < p50 <= p99 <= top


def test_schedule_is_a_fixed_rate_mix_over_many_people() -> None:
    population = people(1000)
    planned = build(population, 200, 5, pace=0.3)
    assert len(planned) == 1000
    assert [p.at for p in planned[:3]] == [0.0, 0.005, 0.01]
    assert {p.kind for p in planned} >= {
        "ring",
        "answer",
        "hold",
        "resume",
        "hang_up",
        "conference",
        "dnd_on",
    }
    assert len({p.person for p in planned}) > 300


def test_matching_takes_the_first_write_after_the_event_for_that_user() -> None:
    sent = [1.0, 2.0, 3.0]
    measured = [Measured(0, "a"), Measured(1, "b"), Measured(2, "a")]
    stamps = [
        ("a", "setPresence", 0.5, 0.6),  # before the event: a timer's write, not ours
        ("a", "setPresence", 1.002, 1.003),
        ("b", "presence", 2.001, 2.002),  # a read, not a write
        ("a", "clearPresence", 3.004, 3.005),
    ]
    matched = match(measured, sent.__getitem__, stamps)
    assert [round(v, 3) for v in matched.latencies_ms] == [2.0, 4.0]
    assert matched.unmatched == 1  # b's event caused no write


def test_ami_replay_is_the_recorded_frame_shapes_and_the_adapter_sees_each_event() -> None:
    population = people(1000)
    planned = build(population, 100, 2, pace=0.3)
    answer = next(p for p in planned if p.kind == "answer")
    extension = population[answer.person].extension
    frames = live_bytes(answer, extension)
    assert frames.startswith(b"Event: ExtensionStatus\r\nPrivilege: call,all\r\n")
    assert f"Device: PJSIP/{extension}\r\nState: INUSE\r\n\r\n".encode() in frames
    prelude, items = emitted(population, planned)
    assert len(prelude) == 1  # the resync's snapshot
    changed = [changes for _, changes in items]
    assert len(changed) == len(planned)
    assert all(changes for changes, p in zip(changed, planned, strict=True) if p.kind in ("answer", "dnd_on"))


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
