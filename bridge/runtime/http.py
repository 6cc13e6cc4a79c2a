"""Operational HTTP endpoints: ``/healthz``, ``/metrics`` (Prometheus, no per-person labels), ``/status``.

``/metrics`` renders the service's one registry (``BridgeService.metrics``): the instruments
components created on it and, through ``BridgeService.exported``, every count they keep
themselves, typed as ``bridge/runtime/metric_table.py`` declares.

``serve_status`` serves it with the status listener's limits (``http.limits``: timeouts and
connection caps, ``bridge.kit.listen_limits``) and exports that listener's own counts (refused
connections, timeouts, malformed requests) as ``status_*`` counters.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.config import HttpConfig
from bridge.kit.asgi import ServedApp, serve_asgi
from bridge.kit.gate import GATE_COUNTERS
from bridge.kit.http_guard import GUARD_COUNTERS
from bridge.kit.metrics import CONTENT_TYPE, Metrics
from bridge.runtime.metric_table import METRICS
from bridge.runtime.service import BridgeService

STATUS_PREFIX = "status_"


def build_app(service: BridgeService) -> Starlette:
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
        return Response(service.exported.render(), media_type=CONTENT_TYPE)

    async def status(request: Request) -> Response:
        return JSONResponse({"people": service.status_rows(), "alarms": service.alarms()})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Route("/status", status),
        ]
    )


def listener_counters(metrics: Metrics) -> dict[str, int]:
    """The status listener's counts, exported on ``metrics`` as ``status_<name>`` counters."""
    counters = dict.fromkeys((*GATE_COUNTERS, *GUARD_COUNTERS), 0)
    for key in counters:
        name = STATUS_PREFIX + key
        metrics.counter_callback(name, METRICS[name].help, _reader(counters, key))
    return counters


def _reader(counters: dict[str, int], key: str) -> Callable[[], list[tuple[tuple[str, ...], float]]]:
    return lambda: [((), float(counters[key]))]


@contextlib.asynccontextmanager
async def serve_status(service: BridgeService, config: HttpConfig) -> AsyncIterator[ServedApp]:
    """``/healthz``, ``/metrics``, ``/status`` on ``config.listen`` until the block exits."""
    host, port = config.bind
    counters = listener_counters(service.metrics)
    async with serve_asgi(
        build_app(service),
        host=host,
        port=port,
        name="status endpoints",
        limits=config.limits,
        counters=counters,
    ) as served:
        yield served
