"""JSON lines over real loopback TCP: token first, then one event (or array) per line, each acked."""

from __future__ import annotations

import json
from collections.abc import Callable

from adapters.base import Health
from adapters.generic_cti.tcp_ingress import AUTH_TIMEOUT_SECONDS, LOGIN_ACK
from bridge.kit.listen_limits import TCP_DEFAULTS
from bridge.model import LineState, StateChange, Toggle
from tests.adapters.generic_cti.conftest import Running
from tests.adapters.generic_cti.harness import TOKEN, TcpClient, key, tcp_login


async def test_handshake_then_events_are_acked_and_emitted(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    ack = await client.send(b'{"extension": "1001", "line": "in_call"}')
    assert ack == {"ok": True, "accepted": 1, "ignored": []}
    ack = await client.send(b'[{"extension": "1001", "line": "on_hold"}, {"extension": "1002", "dnd": true}]')
    assert ack == {"ok": True, "accepted": 2, "ignored": []}
    await cti.events.wait(lambda: len(cti.events.canonical) == 3, "events")
    assert cti.events.canonical == [
        StateChange(key("1001"), line=LineState.IN_CALL),
        StateChange(key("1001"), line=LineState.ON_HOLD),
        StateChange(key("1002"), dnd=Toggle.ON),
    ]
    await client.close()


async def test_crlf_and_blank_lines_are_fine(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    client.writer.write(b'\r\n\n{"extension": "1001", "line": "idle"}\r\n')
    assert await client.ack() == {"ok": True, "accepted": 1, "ignored": []}
    await client.close()


async def test_wrong_token_is_refused_and_closed(cti: Running) -> None:
    client = await TcpClient.connect(cti.adapter)
    assert await client.send(b'{"token": "guess-guess"}') == {"ok": False, "error": "unauthorized"}
    assert await client.closed_by_peer()
    await client.close()
    assert cti.adapter.counters["bad_token"] == 1
    assert cti.adapter.health == Health.CONNECTED


async def test_event_before_token_is_refused(cti: Running) -> None:
    client = await TcpClient.connect(cti.adapter)
    assert await client.send(b'{"extension": "1001", "line": "in_call"}') == {
        "ok": False,
        "error": "unauthorized",
    }
    assert await client.closed_by_peer()
    await client.close()
    await cti.clock.settle()
    assert cti.events.canonical == []


async def test_garbage_line_is_answered_and_connection_stays(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    ack = await client.send(b"hello pbx")
    assert ack is not None and ack["ok"] is False and ack["kind"] == "bad_json"
    assert cti.adapter.counters["rejected_bad_json"] == 1
    assert await client.send(b'{"extension": "1001"}') == {"ok": True, "accepted": 1, "ignored": []}
    await client.close()


async def test_schema_error_names_index_and_field(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    ack = await client.send(b'[{"extension": "1001"}, {"extension": "1002", "away": "maybe"}]')
    assert ack is not None
    assert (ack["ok"], ack["kind"], ack["index"], ack["field"]) == (False, "schema", 1, "away")
    await cti.clock.settle()
    assert cti.events.canonical == []
    await client.close()


async def test_unmapped_extension_is_acked_as_ignored(start_cti: Callable[..., object]) -> None:
    cti: Running = await start_cti(mapped=lambda endpoint: endpoint.extension == "1001")  # type: ignore[misc]
    client = await tcp_login(cti.adapter)
    ack = await client.send(b'{"extension": "2000", "line": "in_call"}')
    assert ack is not None and ack["accepted"] == 0
    assert ack["ignored"] == [
        {"index": 0, "extension": "2000", "context": "", "device": "", "reason": "unmapped"}
    ]
    assert cti.adapter.counters["ignored_unmapped"] == 1
    await client.close()


async def test_oversize_line_is_answered_and_closed(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(max_line_bytes=64)  # type: ignore[misc]
    client = await tcp_login(run.adapter)
    line = json.dumps({"extension": "1001", "context": "x" * 100}).encode()
    assert await client.send(line) == {"ok": False, "error": "line over 64 bytes"}
    assert await client.closed_by_peer()
    await client.close()
    assert run.adapter.counters["rejected_oversize"] == 1


async def test_endless_line_without_newline_is_cut_off(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti(max_line_bytes=64)  # type: ignore[misc]
    client = await tcp_login(run.adapter)
    client.writer.write(b"x" * 10000)
    assert await client.ack() == {"ok": False, "error": "line over 64 bytes"}
    assert await client.closed_by_peer()
    await client.close()


async def test_line_at_the_limit_is_accepted(start_cti: Callable[..., object]) -> None:
    line = json.dumps({"extension": "1001", "line": "idle"}).encode()
    run: Running = await start_cti(max_line_bytes=max(len(line), 40))  # type: ignore[misc]
    client = await tcp_login(run.adapter)
    assert await client.send(line) == {"ok": True, "accepted": 1, "ignored": []}
    await client.close()


async def test_last_line_without_newline_still_counts(cti: Running) -> None:
    client = await tcp_login(cti.adapter)
    client.writer.write(b'{"extension": "1001", "line": "busy"}')
    client.writer.write_eof()
    assert await client.ack() == {"ok": True, "accepted": 1, "ignored": []}
    await client.close()


async def test_stop_closes_connected_clients(start_cti: Callable[..., object]) -> None:
    run: Running = await start_cti()  # type: ignore[misc]
    client = await tcp_login(run.adapter)
    await run.adapter.stop()
    assert await client.closed_by_peer()
    await client.close()


async def test_silent_connection_is_closed_after_the_auth_timeout(cti: Running) -> None:
    client = await TcpClient.connect(cti.adapter)
    await cti.clock.advance(AUTH_TIMEOUT_SECONDS - 1)
    client.writer.write(b'{"tok')  # half a token line does not buy more time
    await cti.clock.advance(1)
    assert await client.ack() == {"ok": False, "error": "unauthorized: no token in time"}
    assert await client.closed_by_peer()
    await client.close()
    assert cti.adapter.counters["bad_token"] == 1


async def test_authenticated_connection_stays_while_it_keeps_alive_and_closes_when_silent(
    cti: Running,
) -> None:
    """A logged-in PBX may sit quiet for up to ``idle_timeout_seconds`` (900 s by default), blank
    lines keep it alive; silent longer, it is closed (5,000 idle connections were held for ever)."""
    idle = TCP_DEFAULTS.idle_timeout_seconds
    client = await tcp_login(cti.adapter)
    for _ in range(4):  # an hour in all, with a keep-alive every quarter
        await cti.clock.advance(idle - 5)
        client.writer.write(b"\n")
        await client.writer.drain()
        await cti.clock.settle()
    assert await client.send(b'{"extension": "1001"}') == {"ok": True, "accepted": 1, "ignored": []}
    await cti.clock.advance(idle + 1)
    assert await client.closed_by_peer()
    await client.close()
    assert cti.adapter.counters["tcp_idle_timeouts"] == 1


async def test_blank_lines_before_the_token_are_keep_alives(cti: Running) -> None:
    client = await TcpClient.connect(cti.adapter)
    client.writer.write(b"\n\r\n")
    assert await client.send(json.dumps({"token": TOKEN}).encode()) == LOGIN_ACK
    assert await client.send(b'{"extension": "1001"}') == {"ok": True, "accepted": 1, "ignored": []}
    await client.close()
    assert cti.adapter.counters["bad_token"] == 0


async def test_a_duplicated_token_key_is_refused(cti: Running) -> None:
    client = await TcpClient.connect(cti.adapter)
    line = f'{{"token": "wrong-token-here", "token": "{TOKEN}"}}'.encode()
    assert await client.send(line) == {"ok": False, "error": "unauthorized"}
    assert await client.closed_by_peer()
    await client.close()
    assert cti.adapter.counters["bad_token"] == 1
