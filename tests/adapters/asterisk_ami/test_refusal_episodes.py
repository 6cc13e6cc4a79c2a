"""A refused AMI read is logged once per episode: again when it comes back after a recovery.

``Permission denied`` is the recorded answer of Asterisk 22.10.1 to an action the user's write
classes do not allow (``13_originate_denied``, action 13-2), replayed here for ``DBGetTree``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from adapters.asterisk_ami.episodes import Episodes
from adapters.base import Health
from tests.adapters.asterisk_ami.fake_ami import FREEPBX_REPLIES, FakeAmi, recorded
from tests.adapters.asterisk_ami.harness import Run

DENIED = recorded("13_originate_denied", "13-2")
POLL = 30.0


@pytest.fixture
async def freepbx() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(FREEPBX_REPLIES)
    await server.start()
    yield server
    await server.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "DBGetTree" in r.getMessage()
    ]


async def _poll(run: Run, fake: FakeAmi) -> None:
    asked = len(fake.actions_named("DBGetTree"))
    await run.clock.advance(POLL)
    await fake.until_actions("DBGetTree", asked + 2)
    await run.clock.advance(0)  # let the adapter read the replies


async def test_a_refusal_that_returns_after_a_recovery_is_logged_again(
    freepbx: FakeAmi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.asterisk_ami")
    answer = freepbx.replies["dbgettree:device"]
    async with Run(freepbx, astdb_poll_interval=POLL, ping_interval=86400.0) as run:
        await run.until_health(Health.CONNECTED)
        freepbx.replies["dbgettree:device"] = DENIED
        for _ in range(3):
            await _poll(run, freepbx)
        assert len(_warnings(caplog)) == 1, "repeats of one refusal stay quiet"
        freepbx.replies["dbgettree:device"] = answer  # the admin fixed manager.conf
        await _poll(run, freepbx)
        assert any("answers again" in r.getMessage() for r in caplog.records)
        freepbx.replies["dbgettree:device"] = DENIED  # ... and someone broke it again
        await _poll(run, freepbx)
        assert len(_warnings(caplog)) == 2, "a new episode is a new warning"


@pytest.mark.parametrize(
    ("steps", "loud"),
    [
        pytest.param("F", [True], id="first-failure-starts-an-episode"),
        pytest.param("FF", [True, False], id="repeat-is-quiet"),
        pytest.param("S", [False], id="success-without-episode-says-nothing"),
        pytest.param("FS", [True, True], id="success-ends-the-episode-once"),
        pytest.param("FSS", [True, True, False], id="second-success-is-quiet"),
        pytest.param("FSF", [True, True, True], id="failure-after-recovery-is-a-new-episode"),
    ],
)
def test_episode_rules(steps: str, loud: list[bool]) -> None:
    episodes = Episodes()
    said = [episodes.failed("k") if step == "F" else episodes.succeeded("k") for step in steps]
    assert said == loud
