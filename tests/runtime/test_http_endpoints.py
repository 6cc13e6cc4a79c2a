"""/healthz, /metrics and /status of a running bridge, healthy and with a missing Graph permission."""

from __future__ import annotations

from pathlib import Path

import httpx

from adapters.base import Health
from bridge.demo import PEOPLE, running_service
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ROLE_READ, AppRegistration
from bridge.presence import IN_A_CALL
from bridge.runtime.http import build_app
from bridge.runtime.service import BridgeService
from tests.runtime.rig import ID, bridge_config, emulator, new_clock, send
from tests.runtime.support import health_becomes, until


def client(service: BridgeService) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(service)), base_url="http://bridge")


async def test_health_metrics_and_status_of_a_working_bridge(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            await send(service.adapters["pbx"], "1001", line="in_call")
            await until(handle.emulator, lambda: handle.emulator.presence_of(ID["Alice"]) == IN_A_CALL)
            async with client(service) as http:
                health = (await http.get("/healthz")).json()
                metrics = (await http.get("/metrics")).text
                status = (await http.get("/status")).json()
    assert health["live"] is True
    assert health["components"]["adapter:pbx"] == "CONNECTED"
    assert health["status"] in ("ok", "degraded")  # the publisher reports CONNECTED after its first call
    assert "presence_bridge_engine_events_total " in metrics
    assert 'presence_bridge_adapter_accepted_total{adapter="pbx"}' in metrics
    for person in PEOPLE:  # no per-person labels, ever
        assert person.object_id not in metrics and person.extension not in metrics
    rows = {row["person"]: row for row in status["people"]}
    assert rows["Alice"]["pbx"] == "in_call"
    assert rows["Alice"]["desired"] == str(IN_A_CALL)


async def test_a_missing_write_permission_is_bad_credentials_and_health_fails(tmp_path: Path) -> None:
    clock = new_clock()
    read_only = (
        AppRegistration(DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET, roles=frozenset({ROLE_READ})),
    )
    async with emulator(tmp_path, clock, apps=read_only) as handle:
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            publisher = service.tenants["demo"].publisher
            await send(service.adapters["pbx"], "1001", line="in_call")
            journal = handle.emulator.journal
            await health_becomes(publisher, Health.BAD_CREDENTIALS)
            async with client(service) as http:
                response = await http.get("/healthz")
            attempts = sum(1 for e in journal.entries() if e["status"] == 403)
            await clock.advance(29)  # within the backoff (the first is at least 30 s): no retry loop
            assert sum(1 for e in journal.entries() if e["status"] == 403) == attempts
    assert publisher.health.value == "BAD_CREDENTIALS"
    assert response.status_code == 503
    assert response.json()["components"]["graph:demo"] == "BAD_CREDENTIALS"
    assert attempts == 1
