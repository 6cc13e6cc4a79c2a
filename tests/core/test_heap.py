"""Loading a big configuration gives the parser's memory back (the 10,000-person memory bar needs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bridge.config
from benchmarks.population import config_yaml, people
from bridge.config import load_config


@pytest.mark.parametrize(("count", "released"), [(3, 0), (2_500, 1)])
def test_only_a_big_file_triggers_a_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, released: int
) -> None:
    calls: list[None] = []
    monkeypatch.setattr(bridge.config, "release_freed_memory", lambda: calls.append(None))
    path = tmp_path / "bridge.yaml"
    path.write_text(config_yaml(people(count)))
    config = load_config(path, environ={})
    assert len(config.people) == count
    assert len(calls) == released
