"""The floors hold (STYLE.md): imports only go down, and the pure core loads no I/O machinery.

A wrong-way import (say ``bridge.teams`` reaching into ``bridge.runtime``) would fail
``lint-imports`` here and in ``.ci/run``; a core module that pulls in asyncio or pydantic would make
every policy test depend on an event loop and the config stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

IO_MACHINERY = ("asyncio", "pydantic", "httpx", "msal", "starlette", "yaml", "bridge.runtime", "bridge.kit")


def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    "module", ["bridge.policy", "bridge.policy_fast", "bridge.writeback", "bridge.mapping", "bridge.model"]
)
def test_core_module_loads_no_io_machinery(module: str) -> None:
    probe = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout)
    offending = [m for m in loaded if any(m == bad or m.startswith(bad + ".") for bad in IO_MACHINERY)]
    assert offending == [], f"importing {module} loads {offending}"


def test_every_module_of_the_bridge_stands_on_a_floor() -> None:
    """A new top-level module outside the layers contract would escape the floor checks."""
    text = (ROOT / ".importlinter").read_text()
    layers = text.split("layers =", 1)[1].split("\n\n", 1)[0]
    named = {name.strip() for line in layers.splitlines() for name in line.replace("|", ":").split(":")}
    modules = {
        f"bridge.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "bridge").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert modules - named == set()


@pytest.mark.parametrize(
    "path", ["bridge/teams/publisher.py", "bridge/runtime/service.py", "bridge/config.py"]
)
def test_the_thin_layers_stay_thin(path: str) -> None:
    """The publisher is workers around the pure planner, the service a composition root, the config
    loader only what pydantic cannot do (issue 9): rules that creep back in belong in the pure
    modules, where table tests reach them."""
    lines = (ROOT / path).read_text().count("\n")
    assert lines < 250, f"{path} has {lines} lines: move the rule it grew into its pure module"
