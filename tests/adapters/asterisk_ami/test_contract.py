"""The shared adapter contract suite (tests/contract) run against the AMI adapter.

Kept here rather than in tests/contract/ (owned by the suite's author); the integrator may move it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.testing import AdapterContract
from tests.adapters.asterisk_ami.harness import AmiHarness


class TestAsteriskAmiContract(AdapterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[AmiHarness]:
        harness = AmiHarness()
        yield harness
        await harness.close()
