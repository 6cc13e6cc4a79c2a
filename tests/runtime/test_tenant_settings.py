"""Tenant settings from YAML reach the parts that use them."""

from __future__ import annotations

import random

from benchmarks.population import config_yaml, people
from bridge.config import load_config_text
from bridge.kit.clock import FakeClock
from bridge.runtime.service import build_tenant
from bridge.runtime.store import StateStore


async def test_flap_window_from_yaml_reaches_the_publisher() -> None:
    text = config_yaml(people(1)).replace("    budget:", "    flap_window: 0\n    budget:")
    config = load_config_text(text, "<test>", environ={})
    name, cfg = next(iter(config.tenants.items()))
    assert cfg.flap_window == 0
    with StateStore(":memory:") as store:
        tenant = build_tenant(name, cfg, clock=FakeClock(), store=store, rng=random.Random(1))
        try:
            assert tenant.publisher._flap_window == 0  # 0: every change is written, none held
        finally:
            await tenant.aclose()
