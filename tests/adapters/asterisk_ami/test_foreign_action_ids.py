"""Another AMI client's events carry its own ActionIDs: they are events to us, never our late responses.

Recorded: ``13_originate_denied`` connection 3 (Asterisk 22.10.1): an async Originate by another
client ends in ``OriginateResponse`` with that client's ``ActionID: 13-2``, delivered to every session
with read=call (ours included).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import Health
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi
from tests.adapters.asterisk_ami.fixtures import frames_with
from tests.adapters.asterisk_ami.harness import Run

ORIGINATE_RESPONSE = frames_with("13_originate_denied", b"Event: OriginateResponse", connection=2)[0]
# A phone event after the frames under test: once its change arrives, TCP order says they were read.
MARKER = b"Event: DeviceStateChange\r\nPrivilege: call,all\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    yield server
    await server.close()


async def test_another_clients_originate_response_is_not_our_late_response(freepbx: FakeAmi) -> None:
    assert b"ActionID: 13-2" in ORIGINATE_RESPONSE
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        before = run.adapter.counters["unrecognised_events"]
        mark = run.mark()
        await freepbx.push(ORIGINATE_RESPONSE + MARKER)
        await run.until(lambda _: bool(run.changes_since(mark)))
        assert run.adapter.counters["late_responses"] == 0
        assert run.adapter.counters["foreign_responses"] == 0
        assert run.adapter.counters["unrecognised_events"] == before  # a known call event we do not use


async def test_a_response_with_our_id_after_its_action_ended_is_late(freepbx: FakeAmi) -> None:
    async with Run(freepbx) as run:
        await run.until_health(Health.CONNECTED)
        mark = run.mark()
        await freepbx.push(b"Response: Success\r\nActionID: pb-1\r\nMessage: again\r\n\r\n")
        await freepbx.push(b"Response: Success\r\nActionID: 13-9\r\nMessage: not ours\r\n\r\n" + MARKER)
        await run.until(lambda _: bool(run.changes_since(mark)))
        assert run.adapter.counters["foreign_responses"] == 1
        assert run.adapter.counters["late_responses"] == 1
