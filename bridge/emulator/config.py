"""Settings of the Graph presence emulator (shared by its identity, Graph and admin parts).

Frozen interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.emulator.latency import NO_LATENCY, LatencySpec

# App roles as they appear in an app token's ``roles`` claim.
ROLE_READ = "Presence.Read.All"
ROLE_READWRITE = "Presence.ReadWrite.All"
ROLE_USER_READ = "User.Read.All"
DEFAULT_ROLES: frozenset[str] = frozenset({ROLE_READWRITE, ROLE_READ, ROLE_USER_READ})

DEFAULT_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_CLIENT_ID = "22553876-f5ab-4529-bffb-cfe50aa89f87"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # a well-known demo value, only valid against the emulator


@dataclass(frozen=True)
class AppRegistration:
    """One Entra app the emulator accepts: a secret and/or a certificate (PEM), and its roles."""

    client_id: str
    secret: str | None = None
    cert_pem: bytes | None = None  # public certificate that verifies client_assertion JWTs
    roles: frozenset[str] = DEFAULT_ROLES

    def __repr__(self) -> str:  # never print a secret
        return f"AppRegistration(client_id={self.client_id!r}, roles={sorted(self.roles)!r})"


@dataclass(frozen=True)
class UserRecord:
    """A directory user (``GET /users/{id-or-upn}``)."""

    id: str
    user_principal_name: str
    display_name: str = ""
    business_phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmulatorConfig:
    tenant_id: str = DEFAULT_TENANT
    apps: tuple[AppRegistration, ...] = field(
        default_factory=lambda: (AppRegistration(DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET),)
    )
    users: tuple[UserRecord, ...] = ()
    rate_limit: int = 1500  # requests per app per tenant per window, over all presence calls
    rate_window_seconds: float = 30.0
    token_lifetime_seconds: int = 3599
    # False rejects DoNotDisturb/Presenting in setPresence, like older Graph (tests the fallback).
    presenting_supported: bool = True
    # Emulated distance to Graph: a delay per Graph/identity request (latency.py; --latency).
    latency: LatencySpec = NO_LATENCY
    latency_seed: int = 0  # the delays' random sequence, for reproducible runs
    # $batch: inner requests executed at most this many at a time (Graph: 4, throttling-limits).
    batch_concurrency: int = 4
