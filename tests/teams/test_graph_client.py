"""GraphClient against httpx.MockTransport: bodies, retries, error translation (fake clock)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from bridge.errors import GraphAuthError, GraphError, GraphThrottled, GraphUnavailable
from bridge.kit.clock import FakeClock
from bridge.presence import IN_A_CALL, Pair
from bridge.teams.graph import GraphClient, iso_duration, parse_retry_after

from .helpers import CLIENT_ID, StaticTokenProvider, drive

BASE = "https://graph.test/v1.0"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def client(
    handler: Handler, clock: FakeClock, tokens: StaticTokenProvider | None = None, **kw: object
) -> GraphClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return GraphClient(BASE, tokens or StaticTokenProvider(), http, clock, random.Random(1), **kw)  # type: ignore[arg-type]


def ok(request_id: str = "rid-ok") -> httpx.Response:
    return httpx.Response(200, headers={"request-id": request_id})


def error(status: int, code: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": "x", "innerError": {"request-id": f"rid-{status}"}}}
    return httpx.Response(status, json=body, headers=headers)


async def test_set_presence_sends_our_session_and_expiry() -> None:
    clock = FakeClock()
    rec = Recorder(ok("abc"))
    result = await client(rec, clock).set_presence("user-1", CLIENT_ID, IN_A_CALL, timedelta(minutes=15))
    request = rec.requests[0]
    assert request.url == f"{BASE}/users/user-1/presence/setPresence"
    assert json.loads(request.content) == {
        "sessionId": CLIENT_ID,
        "availability": "Busy",
        "activity": "InACall",
        "expirationDuration": "PT15M",
    }
    assert request.headers["Authorization"] == "Bearer token-1"
    assert result.request_id == "abc"


async def test_clear_presence_404_counts_as_done() -> None:
    clock = FakeClock()
    rec = Recorder(error(404, "NotFound"))
    result = await client(rec, clock).clear_presence("user-1", CLIENT_ID)
    assert result.found is False
    assert len(rec.requests) == 1


async def test_retry_after_fractional_is_honoured_and_reported() -> None:
    clock = FakeClock()
    cuts: list[int] = []
    rec = Recorder(error(429, "TooManyRequests", **{"Retry-After": "2.128"}), ok())
    graph = client(rec, clock, on_throttle=lambda: cuts.append(1))
    start = clock.monotonic()
    await drive(clock, graph.set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15)), step=0.001)
    assert len(rec.requests) == 2
    assert clock.monotonic() - start == pytest.approx(2.128, abs=0.002)
    assert cuts == [1]


async def test_503_without_retry_after_backs_off_then_succeeds() -> None:
    clock = FakeClock()
    rec = Recorder(error(503, "ServiceUnavailable"), error(504, "GatewayTimeout"), ok())
    graph = client(rec, clock)
    await drive(clock, graph.clear_preferred("u"))
    assert len(rec.requests) == 3


async def test_persistent_throttling_gives_up_with_graph_throttled() -> None:
    clock = FakeClock()
    rec = Recorder(error(503, "ServiceUnavailable"))
    with pytest.raises(GraphThrottled):
        await drive(clock, client(rec, clock, max_attempts=3).clear_preferred("u"))
    assert len(rec.requests) == 3


async def test_dropped_connection_is_retried() -> None:
    clock = FakeClock()
    rec = Recorder(httpx.RemoteProtocolError("peer closed"), httpx.ConnectError("refused"), ok())
    await drive(clock, client(rec, clock).set_preferred("u", Pair("Busy", "Busy"), timedelta(hours=8)))
    assert len(rec.requests) == 3
    assert json.loads(rec.requests[-1].content)["expirationDuration"] == "PT8H"


async def test_graph_down_ends_in_graph_unavailable_not_httpx() -> None:
    clock = FakeClock()
    rec = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(GraphUnavailable):
        await drive(clock, client(rec, clock, max_attempts=2).clear_presence("u", CLIENT_ID))


async def test_expired_token_gets_one_fresh_token() -> None:
    clock = FakeClock()
    tokens = StaticTokenProvider()
    rec = Recorder(error(401, "InvalidAuthenticationToken"), ok())
    await client(rec, clock, tokens).set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15))
    assert tokens.invalidations == 1
    assert [r.headers["Authorization"] for r in rec.requests] == ["Bearer token-1", "Bearer token-2"]


async def test_second_401_is_bad_credentials_without_loop() -> None:
    clock = FakeClock()
    tokens = StaticTokenProvider()
    rec = Recorder(error(401, "InvalidAuthenticationToken"))
    with pytest.raises(GraphAuthError):
        await client(rec, clock, tokens).set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15))
    assert len(rec.requests) == 2
    assert tokens.invalidations == 1


async def test_403_missing_permission_is_not_retried() -> None:
    clock = FakeClock()
    rec = Recorder(error(403, "Forbidden"))
    with pytest.raises(GraphAuthError) as info:
        await client(rec, clock).set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15))
    assert len(rec.requests) == 1
    assert info.value.status == 403


async def test_other_4xx_carries_code_and_request_id_and_is_not_retried() -> None:
    clock = FakeClock()
    rec = Recorder(error(400, "InvalidArgument"))
    with pytest.raises(GraphError) as info:
        await client(rec, clock).set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15))
    assert (info.value.status, info.value.code, info.value.request_id) == (400, "InvalidArgument", "rid-400")
    assert len(rec.requests) == 1


async def test_get_presences_chunks_at_650() -> None:
    clock = FakeClock()
    seen: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ids = json.loads(request.content)["ids"]
        seen.append(ids)
        value = [{"id": i, "availability": "Busy", "activity": "InACall"} for i in ids]
        return httpx.Response(200, json={"value": value})

    ids = [f"user-{n}" for n in range(1000)]
    result = await client(handler, clock).get_presences(ids)
    assert [len(c) for c in seen] == [650, 350]
    assert len(result) == 1000 and result["user-999"] == IN_A_CALL


async def test_read_presences_carries_the_out_of_office_flag() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        value = [
            {
                "id": "away",
                "availability": "Available",
                "activity": "Available",
                "outOfOfficeSettings": {"message": "back Monday", "isOutOfOffice": True},
            },
            {
                "id": "here",
                "availability": "Busy",
                "activity": "InACall",
                "outOfOfficeSettings": {"message": None, "isOutOfOffice": False},
            },
            {"id": "bare", "availability": "Away", "activity": "Away"},
        ]
        return httpx.Response(200, json={"value": value})

    result = await client(handler, FakeClock()).read_presences(["away", "here", "bare"])
    assert result["away"].out_of_office is True
    assert result["here"] == (IN_A_CALL, False)
    assert result["bare"].out_of_office is False


async def test_get_user_resolves_upn() -> None:
    clock = FakeClock()
    body = {"id": "oid-1", "userPrincipalName": "alice@contoso.com", "displayName": "Alice"}
    rec = Recorder(httpx.Response(200, json=body))
    user = await client(rec, clock).get_user("alice@contoso.com")
    assert (user.id, user.upn, user.display_name) == ("oid-1", "alice@contoso.com", "Alice")
    assert rec.requests[0].url.path == "/v1.0/users/alice@contoso.com"


async def test_tokens_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    rec = Recorder(error(401, "x"), httpx.ConnectError("refused"), ok())
    await drive(clock, client(rec, clock).set_presence("u", CLIENT_ID, IN_A_CALL, timedelta(minutes=15)))
    assert "token-" not in caplog.text


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(minutes=15), "PT15M"),
        (timedelta(hours=4), "PT4H"),
        (timedelta(days=1), "P1D"),
        (timedelta(minutes=90, seconds=5), "PT1H30M5S"),
    ],
)
def test_iso_duration(span: timedelta, text: str) -> None:
    assert iso_duration(span) == text


@pytest.mark.parametrize(
    ("header", "seconds"), [("2.128", 2.128), ("10", 10.0), ("soon", None), (None, None)]
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


async def test_other_httpx_errors_become_graph_errors() -> None:
    clock = FakeClock()
    rec = Recorder(httpx.TooManyRedirects("loop"))
    with pytest.raises(GraphError):
        await client(rec, clock).clear_preferred("u")
    assert len(rec.requests) == 1
