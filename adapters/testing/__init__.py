"""The adapter test kit: the contract every adapter passes, shipped with the bridge.

An adapter in its own repository installs ``presence-bridge`` (with pytest and pytest-asyncio) and
runs the same contract as the built-in adapters::

    from adapters.testing import AdapterContract

    class TestMyPbxContract(AdapterContract):
        def make_harness(self) -> MyHarness:
            return MyHarness()  # an AdapterHarness: builds the adapter, plays a fake PBX

What is here: :class:`AdapterContract` (the tests), :class:`AdapterHarness` and the optional
:class:`SilentPeer` (what a harness provides), :class:`Fixture` (one input and its expected
facts), :class:`Recorder` (drains ``events()`` for waiting) and the fake clock. The pytest plugin
(``adapters.testing.plugin``, entry point ``pytest11``) adds a ``fake_clock`` fixture and checks
that pytest-asyncio is there. docs/writing-an-adapter.md walks through it.

Only tests import this package: it needs pytest, which the bridge itself does not.
"""

import pytest

# Before the imports below, so the suite's plain ``assert``s report values when they fail.
pytest.register_assert_rewrite("adapters.testing.contract", "adapters.testing.recorder")

from adapters.testing.contract import AdapterContract  # noqa: E402
from adapters.testing.harness import AdapterHarness, Fixture, SilentPeer  # noqa: E402
from adapters.testing.recorder import Recorder  # noqa: E402
from bridge.kit.clock import FakeClock  # noqa: E402

__all__ = ["AdapterContract", "AdapterHarness", "FakeClock", "Fixture", "Recorder", "SilentPeer"]
