"""The PBX side, built from the config: one adapter per configured section, through its factory.

Adapters learn which endpoints the configuration routes through ``AdapterDeps.mapped`` (a listener
answers events about other endpoints as ``ignored``); nothing else of the config reaches them.
"""

from __future__ import annotations

import dataclasses

from adapters.base import Adapter, AdapterDeps, get_factory
from bridge.config import BridgeConfig
from bridge.model import EndpointKey


def build_adapters(config: BridgeConfig, deps: AdapterDeps) -> dict[str, Adapter]:
    def mapped(key: EndpointKey) -> bool:
        return config.route(key) is not None

    deps = dataclasses.replace(deps, mapped=mapped)
    return {
        name: get_factory(section.kind).create(name, section.settings, deps)
        for name, section in config.adapters.items()
    }
