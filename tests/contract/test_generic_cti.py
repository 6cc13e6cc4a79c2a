"""The adapter contract, run against the generic CTI ingress."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.testing import AdapterContract, AdapterHarness
from tests.adapters.generic_cti.harness import CtiHarness


class TestGenericCtiContract(AdapterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[AdapterHarness]:
        harness = CtiHarness()
        yield harness
        await harness.close()
