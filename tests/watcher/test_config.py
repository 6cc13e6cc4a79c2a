"""tenants.<name>.watch: loads with its defaults, and bad values are named."""

from __future__ import annotations

import pytest

from bridge.config import BridgeConfig, load_config_text
from bridge.errors import ConfigError

BASE = """
tenants:
  contoso:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: ${{GRAPH_SECRET}}
{watch}
"""


def load(watch: str = "") -> BridgeConfig:
    return load_config_text(BASE.format(watch=watch), "bridge.yaml", environ={"GRAPH_SECRET": "s3cr3t-value"})


def test_watch_is_off_by_default() -> None:
    watch = load().tenants["contoso"].watch
    assert (watch.enabled, watch.interval_seconds, watch.meeting) == (False, 10.0, False)


def test_watch_loads() -> None:
    cfg = load("    watch: {enabled: true, interval_seconds: 5, meeting: true}")
    watch = cfg.tenants["contoso"].watch
    assert (watch.enabled, watch.interval_seconds, watch.meeting) == (True, 5.0, True)


@pytest.mark.parametrize(
    ("watch", "named"),
    [
        ("    watch: {enabled: true, interval_seconds: 1}", "interval_seconds"),
        ("    watch: {enabled: true, interval_seconds: fast}", "interval_seconds"),
        ("    watch: {enabled: true, webhook: true}", "webhook"),
        ("    watch: {enabled: maybe}", "enabled"),
    ],
    ids=["too-fast", "not-a-number", "unknown-key", "not-a-bool"],
)
def test_bad_watch_values_are_rejected_naming_the_key(watch: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(watch)
    text = str(info.value)
    assert "watch" in text and named in text
