"""Operational HTTP endpoints: ``/healthz``, ``/metrics`` (Prometheus, no per-person labels), ``/status``,
and the live status page: ``/`` (with its assets under ``/page/``) fed by the ``/events`` stream
(``bridge.runtime.page_feed``).

Access (``bridge.runtime.page_auth``): on loopback everything is open; elsewhere ``/``, ``/status``
and ``/events`` need ``http.auth`` (401 without the credentials, 403 when none is configured),
and ``http.open`` lists what stays open. The page's assets hold no data and are always served.

``/metrics`` renders the service's one registry (``BridgeService.metrics``): the instruments
components created on it and, through ``BridgeService.exported``, every count they keep
themselves, typed as ``bridge/runtime/metric_table.py`` declares.

``serve_status`` serves it with the status listener's limits (``http.limits``: timeouts and
connection caps, ``bridge.kit.listen_limits``) and exports that listener's own counts (refused
connections, timeouts, malformed requests) as ``status_*`` counters.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from bridge.config import HttpConfig
from bridge.kit.asgi import ServedApp, serve_asgi
from bridge.kit.gate import GATE_COUNTERS
from bridge.kit.http_guard import GUARD_COUNTERS
from bridge.kit.metrics import CONTENT_TYPE, Metrics
from bridge.presence import Pair
from bridge.runtime.metric_table import METRICS
from bridge.runtime.page_auth import Access, Verdict
from bridge.runtime.page_feed import PageFeed
from bridge.runtime.service import BridgeService

log = logging.getLogger(__name__)

STATUS_PREFIX = "status_"
ASSETS = {  # path -> (file in bridge/runtime/static, media type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/page/page.css": ("page.css", "text/css; charset=utf-8"),
    "/page/page.js": ("page.js", "text/javascript; charset=utf-8"),
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
UNCONFIGURED = (
    "this listener is not on loopback and http.auth is not set: the status page, /status and /events "
    "are refused (set http.auth, or listen on 127.0.0.1)\n"
)
Endpoint = Callable[[Request], Awaitable[Response]]


def asset(name: str) -> bytes:
    """A file of the page, shipped as package data."""
    return resources.files("bridge.runtime").joinpath("static", name).read_bytes()


def guarded(access: Access, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` behind ``access``: 401 with a challenge, or 403 when no auth is configured."""

    async def guard(request: Request) -> Response:
        verdict = access.verdict(request.url.path, request.headers.get("authorization"))
        if verdict is Verdict.UNAUTHENTICATED:
            return PlainTextResponse(
                "authentication required\n", 401, headers={"WWW-Authenticate": access.challenge}
            )
        if verdict is Verdict.UNCONFIGURED:
            return PlainTextResponse(UNCONFIGURED, 403)
        return await endpoint(request)

    return guard


def build_app(
    service: BridgeService,
    config: HttpConfig | None = None,
    *,
    shows: Callable[[], Mapping[str, Pair]] | None = None,
) -> Starlette:
    """The listener's app; ``config`` (default: loopback, no auth) sets access, ``shows`` what
    Teams shows per object id when the caller knows better than the watcher (the demo)."""
    access = Access(config or HttpConfig())
    feed = PageFeed(service, shows=shows)
    pages = {path: (asset(name), media) for path, (name, media) in ASSETS.items()}

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

    async def page(request: Request) -> Response:
        body, media = pages[request.url.path]
        return Response(body, media_type=media, headers=PAGE_HEADERS)

    async def events(request: Request) -> Response:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(feed.stream(), media_type="text/event-stream", headers=headers)

    def route(path: str, endpoint: Endpoint) -> Route:
        return Route(path, guarded(access, endpoint))

    return Starlette(
        routes=[
            route("/healthz", healthz),
            route("/metrics", metrics),
            route("/status", status),
            route("/events", events),
            route("/", page),
            *(Route(path, page) for path in ASSETS if path != "/"),
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
async def serve_status(
    service: BridgeService,
    config: HttpConfig,
    *,
    shows: Callable[[], Mapping[str, Pair]] | None = None,
) -> AsyncIterator[ServedApp]:
    """``/healthz``, ``/metrics``, ``/status``, the page and its stream on ``config.listen`` until the
    block exits."""
    host, port = config.bind
    counters = listener_counters(service.metrics)
    access = Access(config)
    if not access.loopback and config.auth is None:
        log.warning("http.listen %s: %s", config.listen, UNCONFIGURED.strip())
    async with serve_asgi(
        build_app(service, config, shows=shows),
        host=host,
        port=port,
        name="status endpoints",
        limits=config.limits,
        counters=counters,
    ) as served:
        yield served
