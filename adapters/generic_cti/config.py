"""Configuration of the generic CTI ingress (one ``adapters.<name>`` section, kind ``generic_cti``).

``kind`` and ``ignore_contexts`` belong to the adapter section; this model sees the rest. The
shared rules (``ConfigModel``) read ``token_file`` into ``token`` and refuse placeholders; listen
addresses are the shared ``host:port`` shape (IPv6 as ``[::1]:8089``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, model_validator

from adapters.generic_cti.parse import DEFAULT_MAX_FUTURE
from bridge.kit.config_types import ConfigModel, Fix, ListenAddress, parse_listen
from bridge.kit.listen_limits import HTTP_DEFAULTS, TCP_DEFAULTS, ListenerLimits

MIN_TOKEN_LENGTH = 8
_TOKEN_FIX = Fix("set a random value (e.g. `openssl rand -hex 24`) as ${ENV_VAR} or with token_file: PATH")

__all__ = ["MIN_TOKEN_LENGTH", "CtiConfig", "parse_listen"]


class CtiConfig(ConfigModel):
    """The generic CTI listener: HTTP ``POST /cti/events`` and/or JSON lines over TCP."""

    token: Annotated[SecretStr, _TOKEN_FIX] = Field(
        min_length=MIN_TOKEN_LENGTH, description="bearer token the PBX presents (HTTP) or sends first (TCP)"
    )
    http_listen: ListenAddress | None = Field(
        default="127.0.0.1:8089", description="host:port for HTTP; null disables it"
    )
    tcp_listen: ListenAddress | None = Field(
        default=None, description="host:port for JSON lines over TCP; null disables it"
    )
    max_body_bytes: int = Field(default=262144, gt=0, description="largest HTTP request body accepted")
    max_line_bytes: int = Field(default=16384, gt=0, description="largest TCP line accepted")
    http_limits: ListenerLimits = Field(
        default=HTTP_DEFAULTS, description="timeouts and connection caps of the HTTP listener"
    )
    tcp_limits: ListenerLimits = Field(
        default=TCP_DEFAULTS,
        description="timeouts and connection caps of the TCP listener (header timeout: the login line)",
    )
    max_future_seconds: float = Field(
        default=DEFAULT_MAX_FUTURE,
        ge=0,
        le=300,
        description="how far an event's `at` may be ahead of the bridge's clock (more: refused)",
    )

    @model_validator(mode="after")
    def _some_listener(self) -> CtiConfig:
        if self.http_listen is None and self.tcp_listen is None:
            raise ValueError("set http_listen or tcp_listen (or both): the adapter would hear nothing")
        return self

    @property
    def http_bind(self) -> tuple[str, int] | None:
        return parse_listen(self.http_listen) if self.http_listen is not None else None

    @property
    def tcp_bind(self) -> tuple[str, int] | None:
        return parse_listen(self.tcp_listen) if self.tcp_listen is not None else None
