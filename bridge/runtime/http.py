"""Operational HTTP endpoints: ``/healthz``, ``/metrics`` (Prometheus, no per-person labels), ``/status``.

``/metrics`` renders the service's one registry (``BridgeService.metrics``): the instruments
components created on it and, through ``BridgeService.exported``, every count they keep
themselves, typed as ``bridge/runtime/metric_table.py`` declares.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.kit.metrics import CONTENT_TYPE
from bridge.runtime.service import BridgeService


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
