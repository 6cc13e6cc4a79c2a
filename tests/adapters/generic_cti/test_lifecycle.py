"""Listener supervision, backoff, and what the adapter promises the runtime."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

import pytest

from adapters.base import Adapter, AdapterDeps, Health, WriteBack, get_factory
from adapters.generic_cti.adapter import CtiAdapter
from adapters.generic_cti.config import CtiConfig
from adapters.generic_cti.ingest import COUNTER_NAMES
from adapters.testing import Recorder
from bridge.errors import AdapterError
from bridge.kit.clock import FakeClock
from tests.adapters.generic_cti.conftest import Running
from tests.adapters.generic_cti.harness import TOKEN, post, tcp_login

MAX_RETRY_SECONDS = 30.0  # docs/cti.md: "0.5-1 s, doubling, at most 30 s"


def taken_port() -> socket.socket:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    return blocker


async def test_address_in_use_at_start_retries_until_free() -> None:
    blocker = taken_port()
    port = blocker.getsockname()[1]
    clock = FakeClock()
    config = CtiConfig(token=TOKEN, http_listen=f"127.0.0.1:{port}")
    adapter = CtiAdapter("pbx", config, AdapterDeps(clock, random.Random(1)))
    events = Recorder(adapter, clock)
    try:
        await adapter.start()
        await events.wait_health(Health.TRANSIENT_DISCONNECT)
        detail = events.items[-1].detail  # type: ignore[union-attr]
        assert f"127.0.0.1:{port}" in detail and "in use" in detail.lower()
        await clock.advance(120)
        assert adapter.health == Health.TRANSIENT_DISCONNECT
        assert adapter.http_address is None
        blocker.close()
        await events.wait_health(Health.CONNECTED, advance=1, simulated_limit=MAX_RETRY_SECONDS + 1)
        assert adapter.http_address == ("127.0.0.1", port)
        assert (await post(adapter, {"extension": "1001"})).status_code == 202
    finally:
        blocker.close()
        await adapter.stop()


async def test_failed_listener_rebinds_on_the_same_port(cti: Running) -> None:
    before = cti.adapter.http_address, cti.adapter.tcp_address
    for listener in cti.adapter._fronts.values():
        await listener.close()
    await cti.events.wait_health(Health.TRANSIENT_DISCONNECT)
    await cti.events.wait_health(Health.CONNECTED, advance=1, simulated_limit=5)
    assert (cti.adapter.http_address, cti.adapter.tcp_address) == before
    assert cti.adapter.counters["listener_failures"] == 2
    client = await tcp_login(cti.adapter)
    await client.close()


async def test_one_listener_down_is_enough_for_transient(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti()  # type: ignore[misc]
    await run.adapter._fronts["tcp"].close()
    await run.events.wait_health(Health.TRANSIENT_DISCONNECT)
    assert (await post(run.adapter, {"extension": "1001"})).status_code == 202  # HTTP keeps serving


def _delay(adapter: CtiAdapter, attempt: int) -> float:
    """The rebind delay before attempt ``attempt`` (1-based) of a fresh backoff."""
    backoff = adapter.backoff()
    for _ in range(attempt - 1):
        backoff.next()
    return backoff.next()


def test_retry_delay_grows_with_jitter_and_is_capped() -> None:
    adapter = CtiAdapter(
        "pbx", CtiConfig.model_validate({"token": TOKEN}), AdapterDeps(FakeClock(), random.Random(3))
    )
    firsts = [_delay(adapter, 1) for _ in range(50)]
    assert all(0.5 <= d <= 1.0 for d in firsts) and len(set(firsts)) > 1
    assert all(2.0 <= _delay(adapter, 3) <= 4.0 for _ in range(50))
    late = [_delay(adapter, 40) for _ in range(50)]
    assert all(MAX_RETRY_SECONDS / 2 <= d <= MAX_RETRY_SECONDS for d in late)


async def test_http_only_configuration(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(tcp_listen=None)  # type: ignore[misc]
    assert run.adapter.tcp_address is None
    assert (await post(run.adapter, {"extension": "1001"})).status_code == 202


async def test_tcp_only_configuration(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(http_listen=None)  # type: ignore[misc]
    assert run.adapter.http_address is None
    client = await tcp_login(run.adapter)
    await client.close()


async def test_no_write_back_yet(cti: Running) -> None:
    assert cti.adapter.supports_write_back is False
    with pytest.raises(AdapterError, match="not supported"):
        await cti.adapter.write_back(WriteBack(extension="1001", pbx_dnd=True))


def test_counters_are_all_present_from_the_start() -> None:
    adapter = CtiAdapter("pbx", CtiConfig(token=TOKEN), AdapterDeps(FakeClock()))
    assert set(adapter.counters) == {*COUNTER_NAMES, "listener_failures"}
    assert all(value == 0 for value in adapter.counters.values())


def test_factory_builds_the_adapter() -> None:
    factory = get_factory("generic_cti")
    adapter = factory.create("pbx", CtiConfig(token=TOKEN), AdapterDeps(FakeClock()))
    assert isinstance(adapter, CtiAdapter) and isinstance(adapter, Adapter)
    assert adapter.name == "pbx" and adapter.health == Health.STOPPED
