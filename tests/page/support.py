"""Shared by the status page tests: a bridge service (the demo's people, on the Graph emulator)
served with a given ``http`` configuration on a real loopback socket."""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from bridge.config import BridgeConfig, load_config_text
from bridge.demo import PEOPLE, running_service
from bridge.emulator.config import DEFAULT_CLIENT_SECRET
from bridge.kit.asgi import ServedApp
from bridge.kit.clock import FakeClock
from bridge.runtime.http import serve_status
from bridge.runtime.service import BridgeService
from tests.runtime.rig import TOKEN, bridge_yaml, emulator

PAGE_TOKEN = "page-token-Zq8v1c3WmR5t"
PAGE_TOKEN_SHA256 = hashlib.sha256(PAGE_TOKEN.encode()).hexdigest()
LONG_NUMBER = re.compile(r"\d{6,}")  # a caller number; extensions here have 4 digits


def config_with_http(yaml: str, http: str, tmp: Path) -> BridgeConfig:
    return load_config_text(yaml + http, str(tmp / "bridge.yaml"), environ={})


@contextlib.asynccontextmanager
async def served_bridge(
    tmp: Path, clock: FakeClock, http: str
) -> AsyncIterator[tuple[BridgeService, ServedApp]]:
    """The rig's bridge with ``http`` (a YAML ``http:`` section) served on 127.0.0.1."""
    async with emulator(tmp, clock) as handle:
        config = config_with_http(bridge_yaml(handle, tmp), http, tmp)
        async with running_service(config, clock) as service, serve_status(service, config.http) as served:
            yield service, served


def secrets_of_the_rig() -> list[str]:
    """Every value that must never reach the page or its stream."""
    return [
        TOKEN,
        DEFAULT_CLIENT_SECRET,
        PAGE_TOKEN,
        PAGE_TOKEN_SHA256,
        *(p.object_id for p in PEOPLE),
    ]


def assert_nothing_secret(text: str) -> None:
    for secret in secrets_of_the_rig():
        assert secret not in text, "a secret, token or object id reached the page"
    assert LONG_NUMBER.search(text) is None, "a caller-number-like number reached the page"
