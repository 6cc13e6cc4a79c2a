"""The bridge's adapter contract (shipped in presence-bridge as ``adapters.testing``) run against
the example adapter and its fake PBX."""

from adapters.testing import AdapterContract

from fake_pbx import LineProtoHarness


class TestLineProtoContract(AdapterContract):
    def make_harness(self) -> LineProtoHarness:
        return LineProtoHarness()
