"""A wrong client secret, then fixed (issue 11): real msal against the Graph emulator over HTTPS,
the bridge on the fake clock. Before, recovery waited out a fixed 15-minute pause; now the fixed
file is seen within ``POLL_SECONDS`` (one stat per poll) or at once on SIGHUP (``hangup``), and
Graph is healthy again without waiting for the pause.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapters.base import Health
from bridge.config import load_config_text
from bridge.demo import demo_yaml, running_service
from bridge.emulator.config import DEFAULT_CLIENT_SECRET
from bridge.presence import IN_A_CALL
from bridge.teams.credentials import POLL_SECONDS
from tests.runtime.rig import ID, TOKEN, emulator, new_clock, post
from tests.runtime.support import health_becomes, until

ALICE = ID["Alice"]
WRONG = DEFAULT_CLIENT_SECRET[:-1] + "X"  # same length: a SIGHUP test can keep size and mtime


def config_with_secret_file(handle: object, tmp: Path, secret_file: Path) -> object:
    text = demo_yaml(handle, TOKEN, tmp / "state.db")  # type: ignore[arg-type]
    text = text.replace(f"client_secret: {DEFAULT_CLIENT_SECRET}", f"client_secret_file: {secret_file}")
    return load_config_text(text, "<t>", environ={})


async def test_a_fixed_secret_file_is_used_within_seconds(tmp_path: Path) -> None:
    clock = new_clock()
    secret = tmp_path / "secret"
    secret.write_text(WRONG + "-and-longer\n")
    async with emulator(tmp_path, clock) as handle:
        config = config_with_secret_file(handle, tmp_path, secret)
        async with running_service(config, clock) as service:  # type: ignore[arg-type]
            publisher = service.tenants["demo"].publisher
            await health_becomes(publisher, Health.BAD_CREDENTIALS)
            assert "demo:bad_credentials" in service.alarms()

            secret.write_text(DEFAULT_CLIENT_SECRET + "\n")  # the admin fixes the file
            fixed_at = clock.monotonic()
            await clock.advance(POLL_SECONDS)
            await health_becomes(publisher, Health.CONNECTED)
            assert clock.monotonic() - fixed_at <= POLL_SECONDS  # not the 15-minute pause
            assert "demo:bad_credentials" not in service.alarms()

            assert (
                await post(service.adapters["pbx"], {"extension": "1001", "line": "in_call"})
            ).status_code == 202
            await until(handle.emulator, lambda: handle.emulator.presence_of(ALICE) == IN_A_CALL)


async def test_sighup_retries_at_once_even_when_the_file_looks_unchanged(tmp_path: Path) -> None:
    clock = new_clock()
    secret = tmp_path / "secret"
    secret.write_text(WRONG)
    async with emulator(tmp_path, clock) as handle:
        config = config_with_secret_file(handle, tmp_path, secret)
        async with running_service(config, clock) as service:  # type: ignore[arg-type]
            publisher = service.tenants["demo"].publisher
            await health_becomes(publisher, Health.BAD_CREDENTIALS)
            before = os.stat(secret)
            secret.write_text(DEFAULT_CLIENT_SECRET)  # same inode and size ...
            os.utime(secret, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and mtime
            await clock.advance(POLL_SECONDS)
            assert publisher.health is Health.BAD_CREDENTIALS  # the poll cannot tell
            service.hangup()  # what SIGHUP calls
            await health_becomes(publisher, Health.CONNECTED)
