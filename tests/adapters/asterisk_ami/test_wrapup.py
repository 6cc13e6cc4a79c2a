"""Agent wrap-up from queue events: AgentComplete starts it, a timer on the injected clock ends it.

Recorded bytes: 15_queue (QueueStatus with member Local/1001@lab-agents in labqueue, Wrapuptime 0 as
in the lab's queues.conf, and the AgentComplete of a queue call). A member with its own Wrapuptime is
the recorded 06 QueueMemberStatus frame with that one header changed (synthesized).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import FrameParser
from adapters.asterisk_ami.parse import AgentCallEnded, parse_message
from adapters.asterisk_ami.tracker import AmiTracker
from adapters.base import Health
from bridge.model import AgentState, EndpointKey, StateChange
from tests.adapters.asterisk_ami.fake_ami import FakeAmi, live, recorded
from tests.adapters.asterisk_ami.harness import Run

AGENT_COMPLETE = live("15_queue", b"Event: AgentComplete")[0]
MEMBER_STATUS = live("06_devstate_events", b"Event: QueueMemberStatus")[0]  # InCall 0, Wrapuptime 0
ALICE = EndpointKey("pbx", "1001")
WRAPPING = AgentState(logged_in=True, wrapup=True)
READY = AgentState(logged_in=True)


def _member(wrapup: int = 0, in_call: int = 0) -> bytes:
    return MEMBER_STATUS.replace(b"Wrapuptime: 0\r\n", f"Wrapuptime: {wrapup}\r\n".encode()).replace(
        b"InCall: 0\r\n", f"InCall: {in_call}\r\n".encode()
    )


def _tracker(**overrides: object) -> AmiTracker:
    config = AmiConfig(username="bridge", secret="bridgesecret", **overrides)  # type: ignore[arg-type]
    tracker = AmiTracker("pbx", config)
    items = FrameParser().feed(b"".join(recorded("15_queue", "15-3")))
    tracker.learn(parse_message(m) for m in items)
    tracker.snapshot()
    return tracker


def _ended() -> AgentCallEnded:
    fact = parse_message(FrameParser().feed(AGENT_COMPLETE)[0])
    assert isinstance(fact, AgentCallEnded)
    return fact


def _agents(changes: list[StateChange]) -> list[AgentState | None]:
    return [c.agent for c in changes if c.endpoint == ALICE]


def test_recorded_agent_complete_names_the_queue_and_member() -> None:
    assert _ended() == AgentCallEnded("labqueue", "Local/1001@lab-agents")


def test_no_wrapup_time_anywhere_means_no_wrapup() -> None:
    tracker = _tracker()  # the lab: queues.conf wrapuptime = 0, member Wrapuptime 0
    assert tracker.start_wrapup(_ended(), now=100.0) == ([], None)


def test_queue_wrapup_from_config_then_ends_on_time() -> None:
    tracker = _tracker(wrapup_seconds={"labqueue": 15})
    changes, until = tracker.start_wrapup(_ended(), now=100.0)
    assert _agents(changes) == [WRAPPING] and until == 115.0
    assert tracker.end_wrapups(114.9) == []
    assert _agents(tracker.end_wrapups(115.0)) == [READY]


def test_members_own_wrapuptime_beats_the_queue_setting() -> None:
    tracker = _tracker(wrapup_seconds={"labqueue": 15})
    tracker.apply(parse_message(FrameParser().feed(_member(wrapup=40))[0]))
    assert tracker.start_wrapup(_ended(), now=0.0)[1] == 40.0


def test_a_new_call_ends_the_wrapup_early() -> None:
    tracker = _tracker(wrapup_seconds={"labqueue": 60})
    tracker.start_wrapup(_ended(), now=0.0)
    changes = tracker.apply(parse_message(FrameParser().feed(_member(in_call=1))[0]))
    assert _agents(changes) == [READY]


def test_negative_wrapup_seconds_are_refused_naming_the_queue() -> None:
    with pytest.raises(ValueError, match="queue support"):
        AmiConfig(username="b", secret="s3cret", wrapup_seconds={"support": -1})


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.close()


async def test_adapter_times_the_wrapup_on_the_injected_clock(fake: FakeAmi) -> None:
    async with Run(fake, wrapup_seconds={"labqueue": 30}, ping_interval=3600.0) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        await fake.push(AGENT_COMPLETE)
        await run.until(lambda seen: WRAPPING in _agents(run.changes_since(mark)))
        await run.clock.advance(29.0)
        assert READY not in _agents(run.changes_since(mark))
        await run.clock.advance(1.5)
        await run.until(lambda seen: _agents(run.changes_since(mark)) == [WRAPPING, READY])


async def test_a_wrapup_timer_dies_with_its_session(fake: FakeAmi) -> None:
    def timers() -> list[str]:
        return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("ami-wrapup:")]

    async with Run(fake, wrapup_seconds={"labqueue": 30}, ping_interval=3600.0) as run:
        await run.until_health(Health.CONNECTED)
        await fake.push(AGENT_COMPLETE)
        await run.until(lambda seen: WRAPPING in _agents(run.changes))
        assert timers() == ["ami-wrapup:pbx"]
        await run.adapter.stop()
        assert timers() == []  # stop() leaves no task behind
