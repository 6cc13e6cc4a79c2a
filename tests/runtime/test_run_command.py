"""`presence-bridge run` as an admin runs it: a subprocess, JSON logs, endpoints, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx

from bridge.demo import PEOPLE
from bridge.emulator.config import DEFAULT_CLIENT_SECRET
from bridge.presence import IN_A_CALL
from tests.runtime.rig import TOKEN, bridge_yaml, emulator, new_clock
from tests.runtime.support import until

ALICE = PEOPLE[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_publishes_serves_health_and_stops_on_sigterm_without_clearing(tmp_path: Path) -> None:
    clock = new_clock()
    cti_port, http_port = free_port(), free_port()
    async with emulator(tmp_path, clock) as handle:
        emu = handle.emulator
        text = bridge_yaml(handle, tmp_path)
        text = text.replace("http_listen: 127.0.0.1:0", f"http_listen: 127.0.0.1:{cti_port}")
        # Alice by UPN: resolved through GET /users/{upn} at start
        text = text.replace(f"id: {ALICE.object_id}", "upn: alice@demo.example")
        text = text.replace(DEFAULT_CLIENT_SECRET, "${GRAPH_SECRET}")
        text += f"http:\n  listen: 127.0.0.1:{http_port}\n"
        (tmp_path / "bridge.yaml").write_text(text)
        env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
        env["GRAPH_SECRET"] = DEFAULT_CLIENT_SECRET
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge.cli",
            "run",
            "-c",
            str(tmp_path / "bridge.yaml"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            early: list[str] = []
            async with asyncio.timeout(30):  # start-up: read the log until the CTI listener is up
                while not any("CONNECTED" in line and "pbx" in line for line in early):
                    line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
                    assert line, "presence-bridge run exited during start-up"
                    early.append(line)
            async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
                response = await http.post(
                    f"http://127.0.0.1:{cti_port}/cti/events",
                    json={"extension": ALICE.extension, "line": "in_call"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert response.status_code == 202
                await until(emu, lambda: emu.presence_of(ALICE.object_id) == IN_A_CALL)
                health = (await http.get(f"http://127.0.0.1:{http_port}/healthz")).json()
                metrics = (await http.get(f"http://127.0.0.1:{http_port}/metrics")).text
            status = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bridge.cli",
                "status",
                "-c",
                str(tmp_path / "bridge.yaml"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            table, _ = await asyncio.wait_for(status.communicate(), 60)
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0
        assert emu.presence_of(ALICE.object_id) == IN_A_CALL  # SIGTERM never clears: the session expires
    rows = [line for line in table.decode().splitlines() if line.startswith("Alice ")]
    assert rows, table.decode()
    alice_row = rows[0]
    assert "in_call" in alice_row and alice_row.count("Busy/InACall") == 2  # asked for, and sent
    assert health["live"] is True and health["components"]["adapter:pbx"] == "CONNECTED"
    assert "presence_bridge_publisher_set_presence" in metrics
    text = "".join(early) + err.decode()
    logs = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    decisions = [entry for entry in logs if entry["msg"].startswith("decision ")]
    assert any(
        entry.get("person") == "alice@demo.example" and "InACall" in entry["desired"] for entry in decisions
    )
    assert DEFAULT_CLIENT_SECRET not in text
