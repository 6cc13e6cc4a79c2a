"""The bridge configuration as frozen pydantic models (``bridge.config`` loads them from YAML).

Unknown keys are rejected everywhere (``extra="forbid"``); secrets are ``SecretStr``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from bridge.config_mapping import MappingConfig, MappingOverrides, TableCache
from bridge.mapping import MappingTable
from bridge.model import EndpointKey, EndpointRole

KeyPath = tuple[str | int, ...]
EndpointIndexKey = tuple[str, str, str, str]  # (adapter, extension, context, device)

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_UPN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_IGNORE_CONTEXTS: tuple[str, ...] = ("paging", "intercom")

_FROZEN = ConfigDict(extra="forbid", frozen=True)
ONE_CREDENTIAL = "give exactly one of client_secret (or client_secret_file) and certificate_file"


def _url(value: str, *, what: str) -> str:
    """https:// anywhere; http:// only on loopback (the local emulator). Trailing / dropped."""
    text = value.strip().rstrip("/")
    match = re.match(r"^(https?)://([^/:]+|\[[^\]]+\])(:\d+)?(/.*)?$", text)
    if not match:
        raise ValueError(f"{what} must be a URL like https://host[:port][/path]")
    if match.group(1) == "http" and match.group(2) not in _LOOPBACK:
        raise ValueError(f"{what} must use https:// (http:// is only allowed on loopback)")
    return text


def _listen(value: str) -> str:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 127.0.0.1:9108")
    return value.strip()


class BudgetConfig(BaseModel):
    """Per-tenant Graph request budget (sliding window, AIMD; DESIGN 7 and 13)."""

    model_config = _FROZEN

    requests: int = Field(1200, ge=1, le=100_000)
    window_seconds: float = Field(30.0, gt=0, le=3600)
    refresh_share: float = Field(0.25, ge=0, le=0.9)


class WatchConfig(BaseModel):
    """Teams -> PBX watcher of one tenant (DESIGN 8): off unless enabled; needs Presence.Read.All."""

    model_config = _FROZEN

    enabled: bool = False
    interval_seconds: float = Field(10.0, ge=2, le=3600)
    meeting: bool = False  # Busy/InAMeeting -> routable state `meeting`


class TenantConfig(BaseModel):
    """One Entra tenant (Graph side): identity, credential, endpoints, budget, session timing.

    ``flap_window`` (seconds, default 1.0; 0 turns it off): at most two presence writes for one
    person in any window this long. A quiet person's change and a quick on/off go at once; further
    changes inside the window coalesce to the latest state, written when the window allows (nothing
    if it ends where the last write left it). Session refreshes neither wait nor count.
    """

    model_config = _FROZEN

    tenant_id: str
    client_id: str
    client_secret: SecretStr | None = None
    certificate_file: Path | None = None
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Path | None = None
    proxy: str | None = None
    budget: BudgetConfig = BudgetConfig()
    session_expiry: timedelta = Field(timedelta(minutes=15), ge=timedelta(minutes=5), le=timedelta(hours=4))
    refresh_interval: float = Field(240.0, gt=0, lt=300)  # < 300 s <= session_expiry: never lapses
    flap_window: float = Field(1.0, ge=0, le=60)  # seconds: at most two writes per person in it
    dnd_probe_person: str | None = None
    watch: WatchConfig = WatchConfig()

    @field_validator("tenant_id")
    @classmethod
    def _tenant_id(cls, value: str) -> str:
        if not (GUID.match(value) or _DOMAIN.match(value)):
            raise ValueError("must be the directory (tenant) id GUID or the tenant's domain")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if not GUID.match(value):
            raise ValueError("must be the app registration's Application (client) id, a GUID")
        return value

    @field_validator("authority")
    @classmethod
    def _authority(cls, value: str) -> str:
        return _url(value, what="authority")

    @field_validator("graph_url")
    @classmethod
    def _graph_url(cls, value: str) -> str:
        return _url(value, what="graph_url")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(:\d+)?/?$", value.strip()):
            raise ValueError("proxy must look like http://proxy.example.com:3128")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> TenantConfig:
        if (self.client_secret is None) == (self.certificate_file is None):
            raise ValueError(ONE_CREDENTIAL)
        return self


class EndpointConfig(BaseModel):
    """One PBX endpoint of a person. Empty context/device act as wildcards (see ``route``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    adapter: str = Field(min_length=1)
    extension: str = Field(min_length=1)
    context: str = ""
    device: str = ""
    role: EndpointRole = EndpointRole.PERSONAL


class PersonConfig(BaseModel):
    """One Entra user: by object id (``id``) or by UPN (``upn``, resolved through Graph)."""

    model_config = _FROZEN

    id: str | None = None
    upn: str | None = None
    tenant: str = Field(min_length=1)
    name: str = ""
    publish: bool = True
    pbx_dnd_from_teams: bool = False
    mapping: MappingOverrides | None = None
    endpoints: tuple[EndpointConfig, ...] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _object_id(cls, value: str | None) -> str | None:
        if value is not None and not GUID.match(value):
            raise ValueError("must be the user's Entra object id (a GUID); use upn: for an e-mail address")
        return value

    @field_validator("upn")
    @classmethod
    def _upn(cls, value: str | None) -> str | None:
        if value is not None and not _UPN.match(value):
            raise ValueError("must look like an e-mail address (user@example.com)")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> PersonConfig:
        if (self.id is None) == (self.upn is None):
            raise ValueError("give exactly one of id (Entra object id) and upn")
        return self

    @property
    def key(self) -> str:
        """Stable identity in this file: the object id, or the UPN lower-cased."""
        return self.id if self.id is not None else (self.upn or "").lower()


class AdapterSection(BaseModel):
    """One ``adapters.<name>`` block: its kind, ignored contexts and the kind's own settings."""

    model_config = _FROZEN

    kind: str
    ignore_contexts: tuple[str, ...] = DEFAULT_IGNORE_CONTEXTS
    settings: BaseModel = Field(default_factory=BaseModel)


class StateConfig(BaseModel):
    model_config = _FROZEN

    path: Path = Path("presence-bridge.db")


class HttpConfig(BaseModel):
    model_config = _FROZEN

    listen: str = "127.0.0.1:9108"

    @field_validator("listen")
    @classmethod
    def _shape(cls, value: str) -> str:
        return _listen(value)


class BridgeConfig(BaseModel):
    """The whole configuration. Build it with ``load_config``; it is immutable."""

    model_config = _FROZEN

    tenants: dict[str, TenantConfig] = Field(min_length=1)
    people: tuple[PersonConfig, ...] = ()
    adapters: dict[str, AdapterSection] = Field(default_factory=dict)
    mapping: MappingConfig = MappingConfig()
    state: StateConfig = StateConfig()
    http: HttpConfig = HttpConfig()

    def endpoint_index(self) -> Mapping[EndpointIndexKey, tuple[PersonConfig, EndpointRole]]:
        """(adapter, extension, context, device) -> (person, role), exactly as configured.

        "" in context or device is a wildcard; ``route`` applies the matching rules.
        """
        return self._index

    @cached_property
    def _index(self) -> dict[EndpointIndexKey, tuple[PersonConfig, EndpointRole]]:
        index: dict[EndpointIndexKey, tuple[PersonConfig, EndpointRole]] = {}
        for person in self.people:
            for ep in person.endpoints:
                index.setdefault((ep.adapter, ep.extension, ep.context, ep.device), (person, ep.role))
        return index

    def route(self, key: EndpointKey) -> tuple[PersonConfig, EndpointRole] | None:
        """Who an event's endpoint belongs to, or None (unmapped, or an ignored context).

        Matching, most specific first: exact (context, device); same context any device;
        any context same device; any context any device. So an entry without ``device``
        matches every device of that extension, and one without ``context`` any context.
        """
        section = self.adapters.get(key.adapter)
        if section is not None and key.context and key.context in section.ignore_contexts:
            return None
        index = self._index
        a, e, c, d = key.adapter, key.extension, key.context, key.device
        for candidate in ((a, e, c, d), (a, e, c, ""), (a, e, "", d), (a, e, "", "")):
            hit = index.get(candidate)
            if hit is not None:
                return hit
        return None

    @cached_property
    def tables(self) -> TableCache:
        """Resolved mapping tables: ``tables.get(adapter, person.mapping)``."""
        return TableCache(self.mapping)

    def table_for(self, person: PersonConfig) -> Callable[[str], MappingTable]:
        """The ``table_for`` callable ``bridge.policy.decide`` wants for this person."""
        cache, overrides = self.tables, person.mapping
        return lambda adapter: cache.get(adapter, overrides)
