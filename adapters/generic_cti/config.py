"""Configuration of the generic CTI ingress (one ``adapters.<name>`` section, kind ``generic_cti``).

``kind`` and ``ignore_contexts`` belong to the global loader; this model sees the rest.
The loader has already resolved ``${ENV}`` and ``token_file`` into ``token``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

PLACEHOLDER_TOKENS = frozenset({"changeme", "change-me", "secret", "token", "xxx", "todo"})
MIN_TOKEN_LENGTH = 8


def parse_listen(text: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into host and port; ValueError names the shape.

    Port 0 asks the OS for a free port (tests); the bound address is reported after start.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected 'host:port' (e.g. 127.0.0.1:8089), got {text!r}")
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ValueError(f"expected '[ipv6]:port', got {text!r}")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"IPv6 addresses need brackets, e.g. '[::1]:8089', got {text!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port}")
    return host, port


class CtiConfig(BaseModel):
    """The generic CTI listener: HTTP ``POST /cti/events`` and/or JSON lines over TCP."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr = Field(description="bearer token the PBX presents (HTTP) or sends first (TCP)")
    http_listen: str | None = Field("127.0.0.1:8089", description="host:port for HTTP; null disables it")
    tcp_listen: str | None = Field(None, description="host:port for JSON lines over TCP; null disables it")
    max_body_bytes: int = Field(262144, gt=0, description="largest HTTP request body accepted")
    max_line_bytes: int = Field(16384, gt=0, description="largest TCP line accepted")

    @field_validator("token")
    @classmethod
    def _token_is_real(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.strip().lower() in PLACEHOLDER_TOKENS:
            raise ValueError("token is a placeholder: set a random value, e.g. `openssl rand -hex 24`")
        if len(raw) < MIN_TOKEN_LENGTH:
            raise ValueError(f"token must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    @field_validator("http_listen", "tcp_listen")
    @classmethod
    def _listen_shape(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value

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
