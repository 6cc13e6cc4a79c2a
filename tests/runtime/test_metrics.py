"""``/metrics`` as Prometheus reads it: scraped over real HTTP from a running bridge, parsed with
``prometheus_client``'s own parser. Counters are counters named ``..._total``, levels are gauges,
counts grow with traffic, and every number our components report is declared in one table."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.config import load_config
from bridge.demo import PEOPLE, running_service
from bridge.kit.asgi import serve_asgi
from bridge.kit.clock import FakeClock
from bridge.presence import IN_A_CALL
from bridge.runtime.http import build_app
from bridge.runtime.metric_table import METRICS, Kind, Source
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore
from tests.runtime.rig import ID, bridge_config, emulator, new_clock, send
from tests.runtime.support import until
from tests.test_samples import ALL, ENV, SAMPLES

Families = dict[str, tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]]


def parse(text: str) -> Families:
    """family name -> (type, {(sample name, labels): value})."""
    return {
        family.name: (
            family.type,
            {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples},
        )
        for family in text_string_to_metric_families(text)
    }


def sample(families: Families, name: str, **labels: str) -> float:
    family = name.removesuffix("_total")
    return families[family][1][(name, tuple(sorted(labels.items())))]


async def test_metrics_scraped_over_http_are_typed_and_counters_grow(tmp_path: Path) -> None:
    clock = new_clock()
    async with emulator(tmp_path, clock) as handle:
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            async with serve_asgi(build_app(service), name="status endpoints") as served:
                async with httpx.AsyncClient(trust_env=False, base_url=served.base_url) as http:
                    response = await http.get("/metrics")
                    before = parse(response.text)
                    await send(service.adapters["pbx"], "1001", line="in_call")
                    await until(
                        handle.emulator, lambda: handle.emulator.presence_of(ID["Alice"]) == IN_A_CALL
                    )
                    text = (await http.get("/metrics")).text
                    after = parse(text)
            undeclared = set(service.exported.undeclared)
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    counters = {name: samples for name, (kind, samples) in after.items() if kind == "counter"}
    assert len(counters) >= 20
    for name, samples in counters.items():
        assert name.startswith("presence_bridge_") and not name.endswith("_total"), name
        assert samples and all(sample_name == f"{name}_total" for sample_name, _ in samples), name
    for name, (kind, _) in after.items():  # the table's word on each family's type holds on the wire
        declared = METRICS[name.removeprefix("presence_bridge_")]
        assert kind == declared.kind.value, name
    assert sample(after, "presence_bridge_engine_events_total") > sample(
        before, "presence_bridge_engine_events_total"
    )
    accepted = "presence_bridge_adapter_accepted_total"
    assert sample(after, accepted, adapter="pbx") == sample(before, accepted, adapter="pbx") + 1
    writes = "presence_bridge_publisher_set_presence_total"
    assert sample(after, writes, tenant="demo") > sample(before, writes, tenant="demo")
    assert sample(after, "presence_bridge_graph_requests_total", tenant="demo") > 0
    assert after["presence_bridge_publisher_live_sessions"][0] == "gauge"
    assert after["presence_bridge_budget_in_window"][0] == "gauge"
    assert sample(after, "presence_bridge_adapter_healthy", adapter="pbx") == 1.0
    assert sample(after, "presence_bridge_alarms") == 0.0
    assert undeclared == set()
    for person in PEOPLE:  # no per-person labels, ever
        assert person.object_id not in text and f'"{person.extension}"' not in text


@pytest.mark.parametrize("name", ALL)
async def test_every_number_of_every_sample_configuration_is_declared(name: str, tmp_path: Path) -> None:
    config = load_config(SAMPLES / name, environ=ENV)
    with StateStore(tmp_path / "state.db") as store:
        service = BridgeService(config, clock=FakeClock(), store=store, rng=random.Random(1))
        try:
            readings = service.exported.refresh()
        finally:
            for tenant in service.tenants.values():
                await tenant.aclose()
    assert readings
    assert service.exported.undeclared == set()


async def test_an_undeclared_number_is_exported_as_a_gauge_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(SAMPLES / "minimal.yaml", environ=ENV)
    with StateStore(tmp_path / "state.db") as store:
        service = BridgeService(config, clock=FakeClock(), store=store, rng=random.Random(1))
        engine_counts = service.engine.counters
        engine_counts["brand_new"] = 3
        first = parse(service.exported.render().decode())
        second = parse(service.exported.render().decode())
        for tenant in service.tenants.values():
            await tenant.aclose()
    assert first["presence_bridge_engine_brand_new"] == (
        "gauge",
        {("presence_bridge_engine_brand_new", ()): 3.0},
    )
    assert second["presence_bridge_engine_brand_new"][0] == "gauge"
    warnings = [r for r in caplog.records if "engine_brand_new" in r.getMessage()]
    assert len(warnings) == 1 and "not declared" in warnings[0].getMessage()


# README "Operating it": counts (events, decisions, writes, refreshes, 429s, retries, adapter
# counters) are counters; levels (budget, pending people, max staleness, live sessions, alarms,
# health per component) are gauges, durations in seconds.
README_KINDS = [
    ("engine_events", Kind.COUNTER),
    ("engine_decisions", Kind.COUNTER),
    ("publisher_set_presence", Kind.COUNTER),
    ("publisher_refreshes", Kind.COUNTER),
    ("graph_throttled", Kind.COUNTER),
    ("graph_retries", Kind.COUNTER),
    ("adapter_rejected_frames", Kind.COUNTER),
    ("budget_in_window", Kind.GAUGE),
    ("publisher_pending", Kind.GAUGE),
    ("publisher_max_staleness_seconds", Kind.GAUGE),
    ("publisher_live_sessions", Kind.GAUGE),
    ("alarms", Kind.GAUGE),
    ("adapter_healthy", Kind.GAUGE),
    ("graph_healthy", Kind.GAUGE),
]


@pytest.mark.parametrize(("name", "kind"), README_KINDS, ids=[r[0] for r in README_KINDS])
def test_documented_metrics_have_their_documented_type(name: str, kind: Kind) -> None:
    assert METRICS[name].kind is kind


def test_the_table_labels_components_never_people() -> None:
    for name, spec in METRICS.items():
        assert set(spec.labels) <= {"adapter", "tenant"}, name
        assert not name.endswith("_total"), name  # the client adds it to counters
        assert spec.help and not spec.help.endswith("."), name
        if spec.source is Source.ADAPTER:
            assert name.startswith("adapter_"), name
