"""Settings of one SIP presence/BLF watcher (the ``adapters.<name>`` YAML block, kind ``sip_blf``).

Which extensions to watch comes from the people mapping (``AdapterDeps.watched``: every extension
a person's endpoint on this adapter names); ``extensions`` adds more (a BLF wall, a test). Unknown
keys are rejected; the password never appears in a repr (``password_file`` reads it from a file).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from bridge.kit.config_types import ConfigModel, Fix

_PASSWORD_FIX = Fix("set the SIP account's password as ${ENV_VAR} or with password_file: PATH")

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


class SipBlfConfig(ConfigModel):
    """One watcher account on one PBX (or its presence server)."""

    host: str = Field(min_length=1, description="the PBX or its presence server (name or IP; IPv6 as is)")
    port: int | None = Field(default=None, ge=1, le=65535, description="default 5060 (TLS 5061)")
    transport: Literal["udp", "tcp", "tls"] = "udp"
    tls_verify: bool = Field(default=True, description="check the PBX's TLS certificate (TLS only)")
    user: str = Field(min_length=1, description="the watcher's SIP user (From, Contact)")
    auth_user: str | None = Field(default=None, description="digest user name, if not `user`")
    password: Annotated[SecretStr, _PASSWORD_FIX] | None = None
    domain: str | None = Field(default=None, description="SIP domain of the extensions (default: host)")
    context: str = Field(default="", description="the context our canonical endpoints carry")
    extensions: tuple[str, ...] = Field(default=(), description="watched besides the mapped ones")
    events: tuple[Literal["dialog", "presence"], ...] = ("dialog",)
    expires: int = Field(default=3600, ge=60, le=86400, description="requested subscription length, s")
    pace: float = Field(default=50.0, gt=0, le=10000, description="new subscriptions per second at start-up")
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    auth_failure_backoff: float = Field(default=300.0, gt=0, description="pause after a refused password")
    refused_backoff: float = Field(default=600.0, gt=0, description="retry a refused subscription after")

    @model_validator(mode="after")
    def _events_and_backoff(self) -> SipBlfConfig:
        if not self.events:
            raise ValueError("events must name dialog, presence or both")
        if len(set(self.events)) != len(self.events):
            raise ValueError("events lists a package twice")
        if self.backoff_initial > self.backoff_max:
            raise ValueError("backoff_initial must not exceed backoff_max")
        return self

    @property
    def server_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.transport]

    @property
    def sip_domain(self) -> str:
        return self.domain or self.host.strip("[]")

    @property
    def digest_user(self) -> str:
        return self.auth_user or self.user
