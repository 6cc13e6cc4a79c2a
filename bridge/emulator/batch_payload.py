"""The ``POST /v1.0/$batch`` request body, validated as Graph's JSON batching documents it [BATCH].

Pure: a parsed JSON value in, a :class:`BatchPlan` out, or :class:`PresenceRuleError` (400,
Graph's error shape) for a batch Graph refuses as a whole. The rules and where each comes from:

==================================================  ============================================
rule                                                source
==================================================  ============================================
``{"requests": [...]}``, each with ``id``,          Microsoft [BATCH]
``method``, ``url`` (relative, ``/users/..``)
at most 20 requests                                 Microsoft [BATCH] ("currently limited to 20")
``id`` unique, compared case-insensitively          Microsoft [BATCH] ("Not case-sensitive. Must
                                                    be unique ... otherwise ... 400")
a ``body`` needs a ``Content-Type`` header          Microsoft [BATCH] (400 for the whole batch:
                                                    inferred)
``dependsOn``: ids of other requests in the batch;  Microsoft [BATCH]; "Batch should be either
fully parallel (none has it) or fully sequential    fully sequential or fully parallel" (the tip,
(all but the first have it), else 400               and the 400 reported in Microsoft Q&A 1532547)
``dependsOn`` names only earlier requests           inferred (no cycles; the AzureGraph client
                                                    documents the same restriction)
an empty batch or a nested ``$batch`` is 400        inferred
==================================================  ============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.emulator.state import bad_request

MAX_BATCH_REQUESTS = 20  # [BATCH]
BATCH_PATH = "/v1.0/$batch"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class InnerRequest:
    """One request of a batch, with its url already split into a ``/v1.0`` path and a query."""

    id: str
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: Any  # None: no body
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    requests: tuple[InnerRequest, ...]
    sequential: bool  # dependsOn used: one at a time, in list order


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"Invalid batch payload format: every request needs {what} as text.")
    return value


def _path(url: str, request_id: str) -> tuple[str, str]:
    if "://" in url:
        raise bad_request(f"Request '{request_id}': url must be relative to the version, like /users/{{id}}.")
    path, _, query = url.partition("?")
    path = "/v1.0/" + path.lstrip("/")
    if path.rstrip("/").lower() == BATCH_PATH.lower():
        raise bad_request(f"Request '{request_id}': a batch cannot contain another $batch.")
    return path, query


def _headers(value: object, request_id: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"Request '{request_id}': headers must be an object of text values.")
    return tuple((str(k), v) for k, v in value.items())


def _inner(entry: object) -> InnerRequest:
    if not isinstance(entry, dict):
        raise bad_request("Invalid batch payload format: every request must be an object.")
    request_id = _text(entry.get("id"), "an id")
    method = _text(entry.get("method"), "a method").upper()
    if method not in _METHODS:
        raise bad_request(f"Request '{request_id}': method {method} is not supported.")
    path, query = _path(_text(entry.get("url"), "a url"), request_id)
    headers = _headers(entry.get("headers"), request_id)
    body = entry.get("body")
    if body is not None and not any(k.lower() == "content-type" for k, _ in headers):
        raise bad_request(f"Request '{request_id}': a request with a body needs a Content-Type header.")
    depends = entry.get("dependsOn")
    if depends is not None and (
        not isinstance(depends, list) or not all(isinstance(d, str) and d for d in depends)
    ):
        raise bad_request(f"Request '{request_id}': dependsOn must be a list of request ids.")
    return InnerRequest(request_id, method, path, query, headers, body, tuple(depends or ()))


def parse_batch(payload: object) -> BatchPlan:
    """The batch ``payload`` describes, or :class:`PresenceRuleError` (400) naming the problem."""
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise bad_request('Invalid batch payload format: expected {"requests": [...]}.')
    entries: list[object] = payload["requests"]
    if not entries:
        raise bad_request("Invalid batch payload format: the batch holds no request.")
    if len(entries) > MAX_BATCH_REQUESTS:
        raise bad_request(
            f"The batch holds {len(entries)} requests; at most {MAX_BATCH_REQUESTS} are allowed."
        )
    requests = tuple(_inner(entry) for entry in entries)
    seen: dict[str, int] = {}
    for index, request in enumerate(requests):
        key = request.id.lower()
        if key in seen:
            raise bad_request(f"Request id '{request.id}' is not unique in the batch (ids ignore case).")
        seen[key] = index
    sequential = any(r.depends_on for r in requests)
    if sequential:
        for index, request in enumerate(requests):
            if index > 0 and not request.depends_on:
                raise bad_request("Batch should be either fully sequential or fully parallel.")
            for target in request.depends_on:
                if seen.get(target.lower(), index) >= index:
                    raise bad_request(
                        f"Request '{request.id}' depends on '{target}', which is not an earlier request "
                        "in the batch."
                    )
    return BatchPlan(requests, sequential)
