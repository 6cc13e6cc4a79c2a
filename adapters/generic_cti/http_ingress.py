"""HTTP front end: ``POST /cti/events`` served by starlette + uvicorn inside our event loop.

The server (``bridge.kit.asgi``) bounds connections (timeouts, caps); this app bounds requests:
one ``Authorization`` header (two are refused, never first-wins), the body size, and a large
batch is handed on in slices of ``SLICE_EVENTS`` with the loop let go in between, so one 256 KiB
body of 6,000 events does not hold every other request back while the core digests it. Wrong
tokens are logged once a minute per source address at WARNING, with a count.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, MutableMapping

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.generic_cti.ingest import Ingest, Outcome, token_matches
from adapters.generic_cti.parse import CtiJsonError, CtiParseError, CtiTimeError
from bridge.kit.asgi import AsgiServer
from bridge.kit.clock import Clock
from bridge.kit.listen_limits import HTTP_DEFAULTS, ListenerLimits
from bridge.kit.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

EVENTS_PATH = "/cti/events"
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SHUTDOWN_GRACE_SECONDS = 2
SLICE_EVENTS = 256  # events handed on per turn of the loop (a snapshot goes whole: it is one event)


_KINDS: dict[type[CtiParseError], str] = {CtiJsonError: "bad_json", CtiTimeError: "time"}


def error_body(exc: CtiParseError) -> dict[str, object]:
    """The JSON answer to a rejected request (shared with the TCP front end)."""
    return {
        "error": str(exc),
        "kind": _KINDS.get(type(exc), "schema"),
        "index": exc.index,
        "field": exc.field,
    }


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return True  # tolerated: many PBX scripts send none
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _slices(outcome: Outcome) -> list[Outcome]:
    if outcome.snapshot or len(outcome.changes) <= SLICE_EVENTS:
        return [outcome]
    changes = outcome.changes
    return [Outcome(changes=changes[i : i + SLICE_EVENTS]) for i in range(0, len(changes), SLICE_EVENTS)]


def build_app(
    *,
    token: str,
    max_body_bytes: int,
    ingest: Ingest,
    emit: Callable[[Outcome], None],
    summaries: RateLimitedLog,
) -> Starlette:
    """The ASGI app. ``emit`` receives every successful outcome (the adapter queues its changes),
    a large one in slices; ``summaries`` rate-limits the log lines about bad requests."""

    def reject(counter: str, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        ingest.count(counter)
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def events(request: Request) -> Response:
        source = request.client.host if request.client else "?"
        if request.method != "POST":
            return reject("rejected_request", 405, "use POST", {"Allow": "POST"})
        authorization = request.headers.getlist("authorization")
        if len(authorization) > 1:
            return reject("rejected_request", 400, "send one Authorization header")
        presented = _bearer(authorization[0] if authorization else None)
        if presented is None or not token_matches(presented, token):
            summaries.note(
                f"bad token {source}",
                "cti %s: requests from %s without a valid bearer token",
                ingest.name,
                source,
            )
            return reject("bad_token", 401, "unauthorized", {"WWW-Authenticate": 'Bearer realm="cti"'})
        if not _is_json(request.headers.get("content-type")):
            return reject("rejected_request", 415, "send Content-Type: application/json")
        length = request.headers.get("content-length")
        if length is not None and (not length.strip().isdigit()):
            return reject("rejected_request", 400, "invalid Content-Length")
        too_big = f"body over {max_body_bytes} bytes"
        if length is not None and int(length) > max_body_bytes:
            return reject("rejected_oversize", 413, too_big)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_body_bytes:
                    return reject("rejected_oversize", 413, too_big)
        except ClientDisconnect:
            log.debug("cti %s: %s disconnected mid-request", ingest.name, source)
            return Response(status_code=400)
        outcome = ingest.offer(bytes(body), source)
        if outcome.error is not None:
            return JSONResponse(error_body(outcome.error), status_code=400)
        parts = _slices(outcome)
        for number, part in enumerate(parts):
            if number:
                await asyncio.sleep(0)  # let other requests (and the core) in between slices
            emit(part)
        ignored = [item.as_json() for item in outcome.ignored]
        return JSONResponse({"accepted": outcome.accepted, "ignored": ignored}, status_code=202)

    return Starlette(routes=[Route(EVENTS_PATH, events, methods=_ALL_METHODS)])


class HttpListener:
    """The CTI HTTP front end on the one embedded server (``bridge.kit.asgi``)."""

    kind = "http"

    def __init__(
        self,
        app: Starlette,
        adapter: str,
        *,
        clock: Clock,
        limits: ListenerLimits = HTTP_DEFAULTS,
        counters: MutableMapping[str, int] | None = None,
    ) -> None:
        self._server = AsgiServer(
            app,
            name=f"cti {adapter} http",
            lifespan="off",
            graceful_seconds=SHUTDOWN_GRACE_SECONDS,
            limits=limits,
            clock=clock,
            counters=counters,
        )

    async def open(self, sock: socket.socket) -> None:
        await self._server.start(sock)

    async def closed(self) -> None:
        """Return when the server stops serving (without stopping it)."""
        await self._server.closed()

    async def close(self) -> None:
        await self._server.close()
