"""Benchmark ingest: quick mode runs and its correctness results hold (no timing asserted)."""

from __future__ import annotations

import pytest

from adapters.asterisk_ami.frames import FrameParser
from benchmarks import ami_ingest, policy_throughput
from benchmarks.results import Result
from bridge.model import LineState, StateChange, Toggle


def metrics(results: list[Result]) -> dict[str, Result]:
    return {r.metric: r for r in results}


def test_policy_throughput_reports_both_mixes_against_the_bar() -> None:
    results = metrics(policy_throughput.run(people_count=100, event_count=2_000))
    assert set(results) == {"calls_events_per_s", "mixed_events_per_s"}
    for result in results.values():
        assert result.bar == policy_throughput.BAR and result.value > 0
        assert result.extra["events"] == 2_000 and result.extra["transitions"] > 0


def test_policy_throughput_quick_mode_runs_on_a_smaller_population() -> None:
    results = metrics(policy_throughput.run(quick=True, event_count=3_000))
    calls = results["calls_events_per_s"]
    assert calls.extra["people"] == policy_throughput.QUICK_PEOPLE
    assert calls.extra["endpoints"] > calls.extra["people"]  # 1-3 endpoints each
    assert calls.extra["median_events_per_s"] <= calls.value


def test_event_mixes_are_realistic_call_lifecycles() -> None:
    population = policy_throughput.people(50)
    calls = policy_throughput.events(population, 5_000, "calls")
    assert all(e.line is not None and e.dnd is None for e in calls)
    mixed = policy_throughput.events(population, 5_000, "mixed")
    assert any(e.dnd is not None for e in mixed) and any(e.away is not None for e in mixed)
    with pytest.raises(ValueError, match="unknown mix"):
        policy_throughput.events(population, 1, "weekend")


def test_ami_quick_mode_reports_the_ratio_and_both_parsers_saw_every_frame() -> None:
    results = metrics(ami_ingest.run(quick=True))
    assert set(results) == {
        "ours_frames_per_s",
        "panoramisk_frames_per_s",
        "ours_over_panoramisk",
        "canonical_events_per_s",
    }
    assert results["ours_over_panoramisk"].bar == ami_ingest.RATIO_BAR
    expected = len(ami_ingest.template()) * ami_ingest.copies(
        ami_ingest.QUICK_EXTENSIONS, ami_ingest.QUICK_PASSES
    )
    assert results["ours_frames_per_s"].extra["frames"] == expected
    assert results["panoramisk_frames_per_s"].extra["frames"] == expected
    assert results["canonical_events_per_s"].extra["changes"] > 0


def test_the_stream_is_recorded_call_class_events_only() -> None:
    frames = ami_ingest.template()
    assert len(frames) > 200
    names = {FrameParser().feed(f)[0].event for f in frames}
    assert {"DeviceStateChange", "ExtensionStatus", "Newchannel", "QueueMemberPause"} <= names
    assert not names & {"FullyBooted", "Shutdown", "VarSet", "Newexten", "Cdr"}  # session / other classes


def test_each_copy_uses_its_own_extensions_and_channels() -> None:
    frames = ami_ingest.template()
    first, second = ami_ingest._copy(frames, 0, 10_000), ami_ingest._copy(frames, 1, 10_000)
    assert b"PJSIP/10000\r\n" in b"".join(first) and b"PJSIP/10010\r\n" in b"".join(second)
    lines = [
        line
        for f in second
        for line in f.split(b"\r\n")
        if b"Uniqueid" not in line and b"Linkedid" not in line
    ]
    assert ami_ingest._NUMBER.search(b"\n".join(lines)) is None  # no lab number is left as it was
    channels = {line for f in first + second for line in f.split(b"\r\n") if line.startswith(b"Channel: ")}
    assert not {c for c in channels if c.startswith(b"Channel: Local/10000@")} & {
        c.replace(b"10010", b"10000") for c in channels if c.startswith(b"Channel: Local/10010@")
    }


def _pjsip_lines_in_the_capture() -> dict[str, list[LineState]]:
    """What the FreePBX capture's live PJSIP device states imply, phone by phone (all start idle)."""
    meaning = {
        "NOT_INUSE": LineState.IDLE,
        "INUSE": LineState.IN_CALL,
        "ONHOLD": LineState.ON_HOLD,
        "RINGING": LineState.RINGING,
    }
    implied: dict[str, list[LineState]] = {}
    last: dict[str, LineState] = {}
    for frame in ami_ingest.template():
        message = FrameParser().feed(frame)[0]
        device = message.text("Device")
        if message.event == "DeviceStateChange" and device.startswith("PJSIP/"):
            line = meaning[message.text("State")]
            if line is not last.get(device, LineState.IDLE):
                implied.setdefault(device, []).append(line)
            last[device] = line
    return implied


async def test_the_adapter_emits_what_the_recorded_frames_imply_for_every_copy() -> None:
    extensions = 20  # two copies of the stream, ten extensions each
    data, frames = ami_ingest.live_stream(extensions, 1)
    run = await ami_ingest.run_ours(
        extensions, ami_ingest.chunks(data, 997), ami_ingest.stream_hints(extensions, 1)
    )
    assert run.frames == frames
    assert run.snapshot_changes > 0  # the resync reached the core as one snapshot first

    implied = _pjsip_lines_in_the_capture()
    assert implied["PJSIP/1001"] == [LineState.IN_CALL, LineState.ON_HOLD, LineState.IDLE]
    for copy in range(2):
        number = {
            lab: ami_ingest.extension(copy * 10 + i, extensions)
            for i, lab in enumerate(ami_ingest.LAB_NUMBERS)
        }
        for device, lines in implied.items():
            exten = number[device.removeprefix("PJSIP/")]
            seen = [
                c.line for c in run.changes if c.endpoint.device == f"PJSIP/{exten}" and c.line is not None
            ]
            assert seen == lines, (copy, device)
        away = [c.away for c in run.changes if c.endpoint.extension == number["1001"] and c.away is not None]
        assert away[-1] is Toggle.ON  # "Mittagspause": the last presence of 1001 is away
    per_copy = [
        [
            c
            for c in run.changes
            if int(c.endpoint.extension) - ami_ingest.FIRST_EXTENSION in range(k * 10, k * 10 + 10)
        ]
        for k in range(2)
    ]
    assert len(per_copy[0]) == len(per_copy[1]) == len(run.changes) // 2
    assert all(isinstance(c, StateChange) and not c.echo for c in run.changes)


def test_panoramisk_sees_the_same_frames_as_ours_on_the_same_bytes() -> None:
    data, frames = ami_ingest.live_stream(10, 1)
    _, dispatched = ami_ingest.run_panoramisk(ami_ingest.chunks(data))
    assert dispatched == frames == len(FrameParser().feed(data))
