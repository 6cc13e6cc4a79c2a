"""Generic CTI ingress adapter (work in progress: the factory lands first for the config loader)."""

from __future__ import annotations

from pydantic import BaseModel

from adapters.base import Adapter, AdapterDeps
from adapters.generic_cti.config import CtiConfig
from bridge.errors import AdapterError


class CtiFactory:
    """Registered as kind ``generic_cti``; ``config_model`` validates ``adapters.<name>`` sections."""

    kind = "generic_cti"
    config_model: type[BaseModel] = CtiConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> Adapter:
        raise AdapterError("generic_cti adapter not implemented yet")


FACTORY = CtiFactory()
