"""Operational HTTP endpoints: ``/healthz``, ``/metrics`` (Prometheus, no per-person labels), ``/status``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.runtime.service import BridgeService

CONTENT_TYPE_LATEST = "text/plain; version=0.0.4; charset=utf-8"


class StatsCollector(Collector):
    """Exports ``stats()`` entries as gauges; ``name|label=value`` keys become labelled series."""

    def __init__(self, stats: Callable[[], Mapping[str, float]], prefix: str = "presence_bridge") -> None:
        self._stats = stats
        self._prefix = prefix

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for key, value in sorted(self._stats().items()):
            name, _, label = key.partition("|")
            metric = f"{self._prefix}_{_clean(name)}"
            label_name, _, label_value = label.partition("=")
            family = families.get(metric)
            if family is None:
                family = GaugeMetricFamily(
                    metric, name.replace("_", " "), labels=[label_name] if label else []
                )
                families[metric] = family
            family.add_metric([label_value] if label else [], value)
        yield from families.values()


def _clean(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def build_app(service: BridgeService) -> Starlette:
    registry = CollectorRegistry()

    def stats() -> dict[str, float]:
        out = service.stats()
        for component, health in service.readiness().items():
            kind, _, name = component.partition(":")
            out[f"{kind}_healthy|{kind}={name}"] = 1.0 if health == "CONNECTED" else 0.0
        out["alarms"] = float(len(service.alarms()))
        return out

    registry.register(StatsCollector(stats))

    async def healthz(request: Request) -> Response:
        overall = service.overall()
        body = {
            "live": True,  # we answered: the event loop runs
            "status": overall,
            "components": service.readiness(),
            "alarms": service.alarms(),
        }
        return JSONResponse(body, status_code=503 if overall == "failed" else 200)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def status(request: Request) -> Response:
        return JSONResponse({"people": service.status_rows(), "alarms": service.alarms()})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/status", status),
        ]
    )
