"""``POST /v1.0/$batch``: Graph's JSON batching, each inner request served as a direct call.

Each inner request is replayed through the emulator's own ASGI app (so through the same request
middleware and the same handlers as a direct call): its own latency draw, its own fault, its own
rate-limit hit (a 429 with its own ``Retry-After`` header inside a 200 batch [THR]), its own
journal entry and request id. Only the batch envelope is exempt from latency and faults: its time
is the time of its inner requests, executed at most ``batch_concurrency`` (4) at a time, as Graph
does toward a service ("Microsoft Graph sends ... up to four individual requests from the batch at
a time", [THR-LIM], Outlook section; reported for all of Graph in Microsoft Q&A 968767). So with a
fixed 80 ms latency a batch of 20 independent requests answers after 5 x 80 ms, and a batch of
up to 4 after one 80 ms, the same as a direct call.

With ``dependsOn`` the batch is sequential: one request at a time in list order, and a request whose
dependency failed (status >= 400, including 424) is answered ``424 FailedDependency`` without being
executed [BATCH]. Responses are listed in completion order, as Graph allows ("might appear in a
different order"); clients correlate them by ``id``.

A ``drop`` fault drawn by an inner request drops the whole batch's connection: no request is
started after it, and the client cannot know which of the earlier ones took effect.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message

from bridge.emulator.batch_payload import BATCH_PATH, BatchPlan, InnerRequest, parse_batch
from bridge.emulator.faults import ConnectionDropped, error_body
from bridge.emulator.graph_routes import graph_error, json_body, request_id_of, summarize
from bridge.emulator.identity import AuthProblem
from bridge.emulator.state import PresenceRuleError

if TYPE_CHECKING:
    from bridge.emulator.app import Emulator

# Set in the envelope's scope state when an inner request drew a ``drop`` fault; the request
# middleware then aborts the connection instead of sending the response.
DROP_CONNECTION = "drop_connection"
_SKIPPED_HEADERS = frozenset({"content-length", "request-id"})


def _header_name(name: str) -> str:
    """``retry-after`` -> ``Retry-After``, as Graph writes them in batch responses [THR]."""
    return "-".join(part.capitalize() for part in name.split("-"))


class BatchRoutes:
    """The ``$batch`` route over an :class:`~bridge.emulator.app.Emulator` and its ASGI app."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.app: ASGIApp | None = None  # the whole emulator app, set by create_app

    def routes(self) -> list[BaseRoute]:
        return [Route(BATCH_PATH, self._batch, methods=["POST"])]

    async def _batch(self, request: Request) -> Response:
        now = self.emu.clock.now()
        try:
            principal = self.emu.identity.principal(request.headers.get("authorization"))
            request.scope.setdefault("state", {})["client_id"] = principal.client_id
            plan = parse_batch(await json_body(request))
        except AuthProblem as problem:
            return JSONResponse(
                problem.body(request_id=request_id_of(request), date=now), status_code=problem.status
            )
        except PresenceRuleError as err:
            return graph_error(request, err.status, err.code, err.message, now)
        summarize(request, f"batch of {len(plan.requests)}{' (sequential)' if plan.sequential else ''}")
        try:
            responses = await self._run(plan, request)
        except ConnectionDropped:
            request.scope["state"][DROP_CONNECTION] = True
            summarize(request, f"batch of {len(plan.requests)}: fault: connection dropped")
            return Response(status_code=200)
        return JSONResponse({"responses": responses})

    async def _run(self, plan: BatchPlan, outer: Request) -> list[dict[str, Any]]:
        done: list[dict[str, Any]] = []
        if plan.sequential:
            failed: set[str] = set()
            for inner in plan.requests:
                if any(d.lower() in failed for d in inner.depends_on):
                    response = self._failed_dependency(inner, outer)
                else:
                    response = await self._dispatch(inner, outer)
                if response["status"] >= 400:
                    failed.add(inner.id.lower())
                done.append(response)
            return done
        slots = asyncio.Semaphore(max(1, self.emu.config.batch_concurrency))
        dropped = False

        async def one(inner: InnerRequest) -> None:
            nonlocal dropped
            async with slots:
                if dropped:  # the connection is gone: nothing more starts
                    return
                try:
                    done.append(await self._dispatch(inner, outer))
                except ConnectionDropped:
                    dropped = True
                    raise

        tasks = [asyncio.ensure_future(one(inner)) for inner in plan.requests]
        try:
            await asyncio.gather(*tasks)
        finally:  # a drop stops every request not yet started
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return done

    def _failed_dependency(self, inner: InnerRequest, outer: Request) -> dict[str, Any]:
        message = f"Request '{inner.id}' was not executed because a request it depends on failed."
        body = error_body("FailedDependency", message, str(uuid.uuid4()), self.emu.clock.now())
        return {"id": inner.id, "status": 424, "headers": {"Content-Type": "application/json"}, "body": body}

    async def _dispatch(self, inner: InnerRequest, outer: Request) -> dict[str, Any]:
        """Serve ``inner`` through the emulator's app, as if it had come on its own."""
        assert self.app is not None, "create_app sets BatchRoutes.app"
        raw_body = b""
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in inner.headers]
        if inner.body is not None:
            raw_body = inner.body.encode() if isinstance(inner.body, str) else json.dumps(inner.body).encode()
        authorization = outer.headers.get("authorization")
        if authorization is not None:
            headers.append((b"authorization", authorization.encode("latin-1")))
        headers.append((b"content-length", str(len(raw_body)).encode()))
        inherited = ("type", "asgi", "http_version", "scheme", "server", "client")
        scope = {
            **{k: outer.scope[k] for k in inherited if k in outer.scope},
            "method": inner.method,
            "path": inner.path,
            "raw_path": inner.path.encode(),
            "root_path": "",
            "query_string": inner.query.encode(),
            "headers": headers,
            "state": {},
        }
        sent = False
        status = 0
        out_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw_body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    name = key.decode("latin-1").lower()
                    if name not in _SKIPPED_HEADERS:
                        out_headers[_header_name(name)] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        response: dict[str, Any] = {"id": inner.id, "status": status, "headers": out_headers}
        payload = b"".join(chunks)
        if payload:
            if "json" in out_headers.get("Content-Type", ""):
                response["body"] = json.loads(payload)
            else:
                response["body"] = payload.decode("utf-8", "replace")
        return response
