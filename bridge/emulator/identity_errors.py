"""Error shapes of the emulated identity platform (Entra token endpoint) and of Graph's 401/403.

Pure: builds dictionaries, reads no clock (times are passed in).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class TokenRequestRejected(Exception):
    """The token endpoint refuses a request; rendered in Entra's error shape.

    ``description`` never contains a secret or an assertion: only ids the caller sent in clear.
    """

    def __init__(self, status: int, error: str, aadsts: int, description: str) -> None:
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description
        super().__init__(f"{error}: AADSTS{aadsts}")


def entra_error_body(
    problem: TokenRequestRejected, *, now: datetime, correlation_id: str | None = None
) -> dict[str, Any]:
    """The JSON body Entra returns for a refused token request."""
    trace_id = str(uuid.uuid4())
    correlation = correlation_id or str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": problem.error,
        "error_description": (
            f"AADSTS{problem.aadsts}: {problem.description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation} Timestamp: {stamp}"
        ),
        "error_codes": [problem.aadsts],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={problem.aadsts}",
    }


class AuthProblem(Exception):
    """A Graph call without an acceptable token (401) or without the needed role (403).

    Rendered in Graph's error shape by :meth:`body`.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")

    def body(self, *, request_id: str, date: datetime) -> dict[str, Any]:
        """``{"error": {"code", "message", "innerError": {"request-id", "date"}}}``."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "request-id": request_id,
                    "client-request-id": request_id,
                    "date": date.strftime("%Y-%m-%dT%H:%M:%S"),
                },
            }
        }
