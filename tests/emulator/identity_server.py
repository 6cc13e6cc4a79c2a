"""A running emulator over HTTPS on loopback, for tests that drive real msal against its identity platform."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from bridge.emulator.config import ROLE_READ, AppRegistration, EmulatorConfig
from bridge.emulator.identity import Identity
from bridge.emulator.server import run_emulator
from bridge.kit.clock import Clock, SystemClock
from tests.emulator.client_certs import AppCertificate, make_app_certificate

TENANT = "11111111-2222-3333-4444-555555555555"
SECRET_APP = "aaaaaaaa-0000-0000-0000-000000000001"
CERT_APP = "aaaaaaaa-0000-0000-0000-000000000002"
READER_APP = "aaaaaaaa-0000-0000-0000-000000000003"
SECRET = "s3cr3t-value-never-shown"
APP_CERT: AppCertificate = make_app_certificate()


def identity_config() -> EmulatorConfig:
    return EmulatorConfig(
        tenant_id=TENANT,
        apps=(
            AppRegistration(SECRET_APP, secret=SECRET),
            AppRegistration(CERT_APP, cert_pem=APP_CERT.cert_pem),
            AppRegistration(READER_APP, secret=SECRET, roles=frozenset({ROLE_READ})),
        ),
    )


@dataclass(frozen=True)
class RunningIdentity:
    base_url: str
    ca_file: Path
    identity: Identity

    @property
    def token_requests(self) -> float:
        return self.identity.counters["token_requests"]


@contextlib.asynccontextmanager
async def running_identity(state_dir: Path, clock: Clock | None = None) -> AsyncIterator[RunningIdentity]:
    async with run_emulator(identity_config(), clock=clock or SystemClock(), state_dir=state_dir) as handle:
        assert handle.ca_file is not None
        yield RunningIdentity(handle.base_url, handle.ca_file, handle.emulator.identity)
