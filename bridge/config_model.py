"""The bridge configuration as frozen pydantic models: every rule lives here (``bridge.config`` loads YAML).

Unknown keys are rejected everywhere and secrets are ``SecretStr`` read from ``<name>_file`` when
given so (``ConfigModel``); field shapes are annotated types (``bridge.config_types``). Rules across
sections are model validators of ``BridgeConfig`` (``bridge.config_references``); an adapter's
settings are validated by its kind's own ``config_model`` (``AdapterSection``).

Validation context (all optional): ``base_dir`` anchors relative files, ``factories`` replaces the
adapter registry, ``secrets`` collects secret values, ``people_at`` names each person by the
``people:`` item it came from (CSV import).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, ValidationInfo, model_validator

from adapters.base import AdapterFactory, get_factory
from bridge.config_mapping import MappingConfig, MappingOverrides, TableCache
from bridge.config_references import (
    IgnoredContexts,
    check_references,
    ignored_context_problems,
    table_problems,
)
from bridge.config_types import GUID, ClientId, ConfigFile, ObjectId, ProxyUrl, ServiceUrl, TenantId, Upn
from bridge.kit.config_types import (
    ConfigModel,
    ListenAddress,
    Problem,
    config_errors,
    parse_listen,
    with_config_rules,
)
from bridge.kit.listen_limits import STATUS_DEFAULTS, ListenerLimits
from bridge.mapping import MappingTable
from bridge.model import EndpointKey, EndpointRole
from bridge.teams.inflight import DEFAULT_MAX_IN_FLIGHT

__all__ = [
    "DEFAULT_IGNORE_CONTEXTS",
    "GUID",
    "AdapterSection",
    "BridgeConfig",
    "BudgetConfig",
    "EndpointConfig",
    "EndpointIndexKey",
    "HttpConfig",
    "KeyPath",
    "PersonConfig",
    "StateConfig",
    "TenantConfig",
    "WatchConfig",
]

KeyPath = tuple[str | int, ...]
EndpointIndexKey = tuple[str, str, str, str]  # (adapter, extension, context, device)
DEFAULT_IGNORE_CONTEXTS: tuple[str, ...] = ("paging", "intercom")
ONE_CREDENTIAL = "give exactly one of client_secret (or client_secret_file) and certificate_file"


class BudgetConfig(ConfigModel):
    """Per-tenant Graph request budget (sliding window, AIMD; DESIGN 7 and 13)."""

    requests: int = Field(default=1200, ge=1, le=100_000)
    window_seconds: float = Field(default=30.0, gt=0, le=3600)
    refresh_share: float = Field(default=0.25, ge=0, le=0.9)


class WatchConfig(ConfigModel):
    """Teams -> PBX watcher of one tenant (DESIGN 8): off unless enabled; needs Presence.Read.All."""

    enabled: bool = False
    interval_seconds: float = Field(default=10.0, ge=2, le=3600)
    meeting: bool = False  # Busy/InAMeeting -> routable state `meeting`


class TenantConfig(ConfigModel):
    """One Entra tenant (Graph side): identity, credential, endpoints, budget, session timing.

    ``flap_window`` (seconds, default 1.0; 0 turns it off): at most two presence writes for one
    person in any window this long. A quiet person's change and a quick on/off go at once; further
    changes inside the window coalesce to the latest state, written when the window allows (nothing
    if it ends where the last write left it). Session refreshes neither wait nor count.

    ``max_in_flight`` (default ``bridge.teams.inflight.DEFAULT_MAX_IN_FLIGHT``, 64): the most presence
    writes in flight at once; below it the publisher keeps budget rate x measured round trip in flight.
    """

    tenant_id: TenantId
    client_id: ClientId
    client_secret: SecretStr | None = None
    certificate_file: ConfigFile | None = None
    authority: ServiceUrl = "https://login.microsoftonline.com"
    graph_url: ServiceUrl = "https://graph.microsoft.com/v1.0"
    ca_file: ConfigFile | None = None
    proxy: ProxyUrl | None = None
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    session_expiry: timedelta = Field(
        default=timedelta(minutes=15), ge=timedelta(minutes=5), le=timedelta(hours=4)
    )
    refresh_interval: float = Field(default=240.0, gt=0, lt=300)  # < 300 s <= session_expiry: never lapses
    flap_window: float = Field(default=1.0, ge=0, le=60)  # seconds: at most two writes per person in it
    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=1024)
    watch: WatchConfig = Field(default_factory=WatchConfig)

    @classmethod
    def check_raw(cls, data: dict[Any, Any], info: ValidationInfo) -> tuple[dict[Any, Any], list[Problem]]:
        """Exactly one credential, checked on the input so it is reported beside other problems."""
        if ("client_secret" in data) == ("certificate_file" in data):
            return data, [((), ONE_CREDENTIAL)]
        return data, []


class EndpointConfig(ConfigModel):
    """One PBX endpoint of a person. Empty context/device act as wildcards (see ``route``)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    adapter: str = Field(min_length=1)
    extension: str = Field(min_length=1)
    context: str = ""
    device: str = ""
    role: EndpointRole = EndpointRole.PERSONAL


class PersonConfig(ConfigModel):
    """One Entra user: by object id (``id``) or by UPN (``upn``, resolved through Graph)."""

    id: ObjectId | None = None
    upn: Upn | None = None
    tenant: str = Field(min_length=1)
    name: str = ""
    publish: bool = True
    pbx_dnd_from_teams: bool = False
    mapping: MappingOverrides | None = None
    endpoints: tuple[EndpointConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_identity(self) -> PersonConfig:
        if (self.id is None) == (self.upn is None):
            raise ValueError("give exactly one of id (Entra object id) and upn")
        return self

    @property
    def key(self) -> str:
        """Stable identity in this file: the object id, or the UPN lower-cased."""
        return self.id if self.id is not None else (self.upn or "").lower()


def _factory(kind: str, factories: Mapping[str, AdapterFactory] | None) -> AdapterFactory | str:
    """The factory of ``kind``, or the problem to report (a broken plug-in is a problem, not a crash)."""
    try:
        if factories is None:
            return get_factory(kind)
        if kind not in factories:
            return f"unknown adapter kind {kind!r}; known: {', '.join(sorted(factories))}"
        return factories[kind]
    except KeyError as exc:
        return str(exc.args[0]) if exc.args else f"unknown adapter kind {kind!r}"
    except Exception as exc:  # a broken third-party package is reported like any other problem
        return f"adapter kind {kind!r} cannot be loaded: {type(exc).__name__}: {exc}"


class AdapterSection(ConfigModel):
    """One ``adapters.<name>`` block: its kind, ignored contexts and the kind's own settings.

    The block is flat in YAML (``kind``, ``ignore_contexts`` and the settings side by side);
    ``settings`` is an instance of the kind's ``config_model`` (with the shared config rules), so
    its errors are reported at ``adapters.<name>.<key>``. ``ignore_contexts`` is shared with the
    settings when the kind's model has such a key (its default then applies).
    """

    NOT_A_MAPPING: ClassVar[str | None] = "must be a mapping with at least `kind:`"

    kind: str
    ignore_contexts: tuple[str, ...] = DEFAULT_IGNORE_CONTEXTS
    settings: BaseModel = Field(default_factory=BaseModel)

    @classmethod
    def check_raw(cls, data: dict[Any, Any], info: ValidationInfo) -> tuple[dict[Any, Any], list[Problem]]:
        if isinstance(data.get("settings"), BaseModel):
            return data, []  # already built (e.g. in code)
        body = dict(data)
        kind = body.pop("kind", None)
        if not isinstance(kind, str) or not kind:
            raise config_errors(
                cls.__name__, [(("kind",), "required: the adapter kind, e.g. generic_cti or asterisk_ami")]
            )
        factories = info.context.get("factories") if isinstance(info.context, dict) else None
        factory = _factory(kind, factories)
        if isinstance(factory, str):
            raise config_errors(cls.__name__, [(("kind",), factory)])
        model = with_config_rules(factory.config_model)
        ignore = (
            body.get("ignore_contexts")
            if "ignore_contexts" in model.model_fields
            else body.pop("ignore_contexts", None)
        )
        settings = model.model_validate(body, context=info.context)
        if ignore is None:
            ignore = getattr(settings, "ignore_contexts", DEFAULT_IGNORE_CONTEXTS)
        return {"kind": kind, "ignore_contexts": ignore, "settings": settings}, []


class StateConfig(ConfigModel):
    """The state store, and how far state restored from it is trusted after a restart.

    ``start_wait_seconds``: after a start, nobody with restored state is published until their
    adapters' first snapshot (or a fresh event about each restored endpoint) arrived, or this long
    passed (then the bridge decides with what it knows and logs it once). 0 turns the wait off.
    ``restored_trust_seconds``: a restored endpoint state that no event or snapshot confirmed is
    treated as unknown after this long (with the unknown grace), so a hang-up a push-only PBX sent
    while the bridge was down cannot keep someone Busy for ever.
    """

    path: Path = Path("presence-bridge.db")
    start_wait_seconds: float = Field(default=30.0, ge=0, le=600)
    restored_trust_seconds: float = Field(default=1800.0, gt=0, le=86400)


PASSWORD_HASH = re.compile(r"^pbkdf2_sha256\$(\d{1,7})\$([0-9a-f]{16,128})\$([0-9a-f]{64})$")
"""``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` (``presence-bridge hash-password`` prints one)."""
PASSWORD_HASH_FIX = "expected pbkdf2_sha256$ITERATIONS$SALT$HASH: run presence-bridge hash-password"
MIN_PASSWORD_ITERATIONS = 100_000
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class HttpAuth(ConfigModel):
    """Who may read the status page, ``/status`` and ``/events`` (README, "The status page").

    Only verifiers are configured, never the token or password itself: ``token_sha256`` is the
    SHA-256 (hex) of a bearer token (``printf %s "$TOKEN" | sha256sum``); ``basic_password_hash``
    a PBKDF2 hash of ``basic_user``'s password. Both are secrets to the loader (``_file`` and
    ``${ENV_VAR}`` work, they are kept out of messages): a verifier still lets a weak password be
    guessed offline.
    """

    token_sha256: SecretStr | None = None
    basic_user: str = ""
    basic_password_hash: SecretStr | None = None

    @model_validator(mode="after")
    def _complete(self) -> HttpAuth:
        problems: list[Problem] = []
        if self.token_sha256 is None and self.basic_password_hash is None:
            problems.append(((), "give token_sha256 or basic_user with basic_password_hash (or both)"))
        if (self.basic_password_hash is None) != (not self.basic_user):
            problems.append((("basic_user",), "basic_user and basic_password_hash go together"))
        token = self.token_sha256.get_secret_value().strip().lower() if self.token_sha256 else None
        if token is not None and not SHA256_HEX.match(token):
            problems.append((("token_sha256",), 'expected 64 hex digits: printf %s "$TOKEN" | sha256sum'))
        stored = self.basic_password_hash.get_secret_value().strip() if self.basic_password_hash else None
        found = PASSWORD_HASH.match(stored) if stored is not None else None
        if self.basic_password_hash is not None and found is None:
            problems.append((("basic_password_hash",), PASSWORD_HASH_FIX))
        elif found is not None and int(found.group(1)) < MIN_PASSWORD_ITERATIONS:
            problems.append((("basic_password_hash",), f"at least {MIN_PASSWORD_ITERATIONS} iterations"))
        if problems:
            raise config_errors("HttpAuth", problems)
        return self


OpenPath = Literal["/healthz", "/metrics"]


class HttpConfig(ConfigModel):
    """The status listener. On loopback everything is open; anywhere else ``auth`` guards the page,
    ``/status`` and ``/events`` (``check`` refuses such a listener without it, and the service
    answers 403 on them). ``open`` lists what stays open to anyone who can connect, with or
    without ``auth``."""

    listen: ListenAddress = "127.0.0.1:9108"
    limits: ListenerLimits = STATUS_DEFAULTS  # timeouts and connection caps (bridge.kit.listen_limits)
    auth: HttpAuth | None = None
    open: tuple[OpenPath, ...] = ("/healthz", "/metrics")

    @property
    def bind(self) -> tuple[str, int]:
        """(host, port) to listen on (IPv6 without brackets)."""
        return parse_listen(self.listen)


class BridgeConfig(ConfigModel):
    """The whole configuration. Build it with ``load_config``; it is immutable.

    Across sections: people name known tenants (the only tenant when they name none), endpoints
    known adapters and no ignored context, nobody and no endpoint is listed twice, ``mapping``
    overrides name known adapters and every resolved table is complete.
    """

    UNKNOWN_KEY: ClassVar[str] = "unknown section"

    tenants: dict[str, TenantConfig] = Field(min_length=1)
    people: tuple[PersonConfig, ...] = ()
    adapters: dict[str, AdapterSection] = Field(default_factory=dict)
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    allow_inline_secrets: StrictBool = False  # secrets written in the file (the loader reads it first)

    @classmethod
    def check_raw(cls, data: dict[Any, Any], info: ValidationInfo) -> tuple[dict[Any, Any], list[Problem]]:
        people_at = info.context.get("people_at") if isinstance(info.context, dict) else None
        return check_references({k: v for k, v in data.items() if v is not None}, people_at)

    @model_validator(mode="after")
    def _tables_and_contexts(self) -> BridgeConfig:
        ignored: IgnoredContexts = {name: section.ignore_contexts for name, section in self.adapters.items()}
        found = [
            *ignored_context_problems(self.people, ignored),
            *table_problems(self.mapping, list(self.adapters), self.people, self.tables),
        ]
        if found:
            raise config_errors(type(self).__name__, found)
        return self

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
