"""The pytest plugin of the adapter test kit (entry point ``pytest11``: ``presence_bridge``).

pytest loads it wherever presence-bridge is installed. It stays small: a ``fake_clock`` fixture,
and a clear error when a contract test is collected without pytest-asyncio (the contract's tests
are coroutines; without the plugin pytest would skip them all with a warning nobody reads).
"""

from __future__ import annotations

import pytest

from adapters.testing.contract import AdapterContract
from bridge.kit.clock import FakeClock


@pytest.fixture
def fake_clock() -> FakeClock:
    """Manual time: ``await fake_clock.advance(seconds)`` wakes the adapter's sleepers in order."""
    return FakeClock()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin("asyncio"):
        return
    contract = [item.nodeid for item in items if _is_contract(item)]
    if contract:
        raise pytest.UsageError(
            f"{contract[0]} is an adapter contract test; it needs pytest-asyncio (pip install pytest-asyncio)"
        )


def _is_contract(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, AdapterContract)
