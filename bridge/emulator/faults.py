"""Fault injection: the next N requests fail in a chosen way (admin API ``/_emulator/faults``).

Kinds: ``429`` (Graph's TooManyRequests with Retry-After), ``503``, ``504`` (Graph error bodies),
``slow`` (answer normally after ``delay`` seconds on the injected clock) and ``drop`` (close the
connection without any response). Faults hit Graph calls (``/v1.0/...``) by default, or the
identity endpoints too with ``scope="all"``; never the admin API.

A dropped connection is real over HTTP: under uvicorn the socket is aborted, so a client sees
"server disconnected without sending a response". In-process (httpx.ASGITransport) the app
raises :class:`ConnectionDropped`, which is an ``httpx.RemoteProtocolError``, the same exception
a client gets from a real drop.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from starlette.types import Send

from bridge.errors import BridgeError
from bridge.kit.clock import Clock

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    THROTTLE = "429"
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    SLOW = "slow"
    DROP = "drop"


class FaultScope(StrEnum):
    GRAPH = "graph"  # /v1.0/ only
    ALL = "all"  # Graph and the identity endpoints (not the admin API)


# status, Graph code, message (429 body as in [THR]; 503/504 as Graph's generic errors [ERR]).
_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    FaultKind.THROTTLE: (429, "TooManyRequests", "Please retry again later."),
    FaultKind.UNAVAILABLE: (503, "ServiceUnavailable", "The service is temporarily unavailable."),
    FaultKind.GATEWAY_TIMEOUT: (504, "GatewayTimeout", "The gateway timed out."),
}


class ConnectionDropped(BridgeError, httpx.RemoteProtocolError):
    """Raised in-process when a ``drop`` fault fires and no socket can be aborted."""

    def __init__(self) -> None:
        httpx.RemoteProtocolError.__init__(self, "Server disconnected without sending a response.")


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    scope: FaultScope = FaultScope.GRAPH
    delay: float = 0.0  # slow: seconds before answering
    retry_after: float | None = None  # 429/503: Retry-After header value

    def applies_to(self, path: str) -> bool:
        if path.startswith("/_emulator"):
            return False
        return self.scope is FaultScope.ALL or path.startswith("/v1.0/")


class FaultPlan:
    """A queue of faults, each used by exactly one matching request, in order."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self.counters: dict[str, float] = {f"injected_{k.value}": 0 for k in FaultKind}

    def inject(self, fault: Fault, count: int = 1) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        if fault.delay < 0:
            raise ValueError("delay must not be negative")
        self._queue.extend([fault] * count)

    def take(self, path: str) -> Fault | None:
        for i, fault in enumerate(self._queue):
            if fault.applies_to(path):
                del self._queue[i]
                self.counters[f"injected_{fault.kind.value}"] += 1
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [
            {"kind": f.kind.value, "scope": f.scope.value, "delay": f.delay, "retryAfter": f.retry_after}
            for f in self._queue
        ]

    def clear(self) -> None:
        self._queue.clear()

    def stats(self) -> dict[str, float]:
        return {**self.counters, "pending": float(len(self._queue))}


def error_body(code: str, message: str, request_id: str, date: datetime) -> dict[str, Any]:
    """Graph's error shape [ERR]."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "request-id": request_id,
                "client-request-id": request_id,
                "date": date.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        }
    }


def format_retry_after(seconds: float) -> str:
    """Graph sends integers and sometimes fractions ("2.128") [THR]."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


async def send_fault_response(fault: Fault, send: Send, request_id: str, now: datetime) -> None:
    """Answer with the fault's Graph error (429, 503, 504)."""
    status, code, message = _ERRORS[fault.kind]
    body = json.dumps(error_body(code, message, request_id, now)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    retry_after = fault.retry_after
    if retry_after is None and fault.kind is FaultKind.THROTTLE:
        retry_after = 1.0
    if retry_after is not None:
        headers.append((b"retry-after", format_retry_after(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def drop_connection(send: Send, clock: Clock) -> None:
    """Close the connection without a response; ``send`` must be the server's own callable."""
    # uvicorn's send is a bound method of its request cycle, which owns the socket transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropped()
    transport.abort()
    for _ in range(3):  # let uvicorn see the disconnect before it checks for a response
        await clock.sleep(0)
