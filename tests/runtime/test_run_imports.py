"""``presence-bridge run`` loads neither the Graph emulator nor trustme (a test CA library): the
production path stays small and carries no test-only code (issue 9). Checked in a fresh interpreter
that goes through the CLI's ``run`` path: the parser, a config, the service with every sample's
adapters, and the HTTP endpoints."""

from __future__ import annotations

import subprocess
import sys

from tests.test_samples import ENV, SAMPLES

PROGRAM = """
import asyncio, random, sys, tempfile
from pathlib import Path
from bridge import cli

assert cli.main(["run", "-c", "/nonexistent/bridge.yaml"]) == cli.EXIT_USAGE
from bridge.config import load_config
from bridge.kit.clock import SystemClock
from bridge.kit.heap import freeze_long_lived
from bridge.kit.asgi import serve_asgi, split_listen
from bridge.runtime.http import build_app
from bridge.runtime.service import BridgeService
from bridge.runtime.store import StateStore

async def build(path: Path, tmp: str) -> None:
    config = load_config(path, environ=ENV)
    with StateStore(Path(tmp) / "state.db") as store:
        service = BridgeService(config, clock=SystemClock(), store=store, rng=random.Random(1))
        build_app(service)
        for tenant in service.tenants.values():
            await tenant.aclose()

with tempfile.TemporaryDirectory() as tmp:
    for path in sorted(Path(SAMPLES).glob("*.yaml")):
        asyncio.run(build(path, tmp))
test_only = ("trustme", "bridge.emulator", "bridge.demo")
print(sorted(m for m in sys.modules if m in test_only or m.startswith(tuple(t + "." for t in test_only))))
"""


def test_the_run_path_imports_no_emulator_and_no_trustme() -> None:
    program = f"ENV = {ENV!r}\nSAMPLES = {str(SAMPLES)!r}\n" + PROGRAM
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_graph_emulator_still_has_its_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "graph-emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--manual-clock" in done.stdout
    top = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "graph-emulator" in top.stdout
