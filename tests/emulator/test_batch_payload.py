"""Which ``$batch`` payloads Graph accepts, row by row from Microsoft's JSON batching page [BATCH]
(limit of 20, unique case-insensitive ids, Content-Type with a body, dependsOn fully sequential or
fully parallel) and the few documented inferences in batch_payload.py."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.emulator.batch_payload import parse_batch
from bridge.emulator.state import PresenceRuleError


def get(request_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": request_id, "method": "GET", "url": f"/users/u{request_id}/presence", **extra}


JSON = {"Content-Type": "application/json"}

ACCEPTED: list[tuple[str, Any, bool]] = [
    ("one request", {"requests": [get("1")]}, False),
    ("twenty requests (the documented limit)", {"requests": [get(str(i)) for i in range(20)]}, False),
    (
        "url without a leading slash",
        {"requests": [{"id": "1", "method": "get", "url": "users/x/presence"}]},
        False,
    ),
    ("body with Content-Type", {"requests": [get("1", method="POST", body={}, headers=JSON)]}, False),
    (
        "a dependsOn chain in the documented order 1, 2, 4, 3",
        {
            "requests": [
                get("1"),
                get("2", dependsOn=["1"]),
                get("4", dependsOn=["2"]),
                get("3", dependsOn=["4"]),
            ]
        },
        True,
    ),
    (
        "all depending on the first",
        {"requests": [get("1"), get("2", dependsOn=["1"]), get("3", dependsOn=["1"])]},
        True,
    ),
    ("dependsOn ignores case like ids", {"requests": [get("a"), get("b", dependsOn=["A"])]}, True),
]

REFUSED: list[tuple[str, Any]] = [
    ("not an object", [get("1")]),
    ("no requests", {}),
    ("requests not a list", {"requests": get("1")}),
    ("empty batch", {"requests": []}),
    ("twenty-one requests", {"requests": [get(str(i)) for i in range(21)]}),
    ("duplicate id", {"requests": [get("1"), get("1")]}),
    ("duplicate id in another case", {"requests": [get("a"), get("A")]}),
    ("missing id", {"requests": [{"method": "GET", "url": "/users/x/presence"}]}),
    ("missing method", {"requests": [{"id": "1", "url": "/users/x/presence"}]}),
    ("unknown method", {"requests": [{"id": "1", "method": "FETCH", "url": "/users/x/presence"}]}),
    ("missing url", {"requests": [{"id": "1", "method": "GET"}]}),
    ("absolute url", {"requests": [get("1", url="https://graph.microsoft.com/v1.0/users/x/presence")]}),
    ("nested $batch", {"requests": [get("1", method="POST", url="/$batch", body={}, headers=JSON)]}),
    ("body without Content-Type", {"requests": [get("1", method="POST", body={})]}),
    ("headers not an object", {"requests": [get("1", headers=["Content-Type"])]}),
    ("mixed: one dependent, one not", {"requests": [get("1"), get("2", dependsOn=["1"]), get("3")]}),
    ("dependsOn an unknown id", {"requests": [get("1"), get("2", dependsOn=["9"])]}),
    ("dependsOn itself", {"requests": [get("1"), get("2", dependsOn=["2"])]}),
    ("dependsOn a later request", {"requests": [get("1", dependsOn=["2"]), get("2", dependsOn=["1"])]}),
    ("dependsOn not a list", {"requests": [get("1"), get("2", dependsOn="1")]}),
]


@pytest.mark.parametrize(("name", "payload", "sequential"), ACCEPTED, ids=[row[0] for row in ACCEPTED])
def test_graph_accepts(name: str, payload: Any, sequential: bool) -> None:
    plan = parse_batch(payload)
    assert [r.id for r in plan.requests] == [r["id"] for r in payload["requests"]]
    assert plan.sequential is sequential
    assert all(r.path.startswith("/v1.0/users/") for r in plan.requests)


@pytest.mark.parametrize(("name", "payload"), REFUSED, ids=[row[0] for row in REFUSED])
def test_graph_refuses_the_whole_batch_with_400(name: str, payload: Any) -> None:
    with pytest.raises(PresenceRuleError) as err:
        parse_batch(payload)
    assert (err.value.status, err.value.code) == (400, "BadRequest")


def test_query_strings_and_headers_reach_the_inner_request() -> None:
    plan = parse_batch(
        {"requests": [get("1", url="/users/x?$select=id", headers={"ConsistencyLevel": "eventual"})]}
    )
    (inner,) = plan.requests
    assert (inner.method, inner.path, inner.query) == ("GET", "/v1.0/users/x", "$select=id")
    assert inner.headers == (("ConsistencyLevel", "eventual"),)
