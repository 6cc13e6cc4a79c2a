"""``check``: talk to Graph and the PBX once and say plainly what is wrong (``mapping report`` is
``mapping_report.py``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from cryptography import x509

from adapters.base import Adapter, AdapterDeps, Health
from bridge.config import BridgeConfig, TenantConfig
from bridge.errors import BridgeError
from bridge.kit.clock import SystemClock
from bridge.kit.config_types import is_loopback, listen_addresses, parse_listen
from bridge.runtime.pbx_side import build_adapters, first_settled
from bridge.runtime.tenant import token_provider
from bridge.teams.auth import MsalTokenProvider

ROLE_WRITE = "Presence.ReadWrite.All"
ROLE_READ = "Presence.Read.All"
ROLE_USERS = "User.Read.All"


def required_roles(config: BridgeConfig, tenant: str) -> dict[str, str]:
    """Role -> why it is needed, for one tenant."""
    roles = {ROLE_WRITE: "to set and clear presence sessions"}
    if any(p.upn and p.tenant == tenant for p in config.people):
        roles[ROLE_USERS] = "to resolve people given by UPN to object ids"
    return roles


def certificate_expiry(path: Path) -> datetime | None:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.not_valid_after_utc


async def check_tenant(config: BridgeConfig, name: str, cfg: TenantConfig, out: TextIO) -> bool:
    print(f"tenant {name} ({cfg.tenant_id}, app {cfg.client_id}):", file=out)
    provider: MsalTokenProvider | None = None
    try:
        provider = token_provider(cfg)
        await provider.token()
    except BridgeError as exc:
        print(f"  FAIL token: {exc}", file=out)
        return False
    finally:
        if provider is not None:
            provider.close()
    print("  ok   token obtained", file=out)
    roles = provider.roles()
    ok = True
    for role, why in required_roles(config, name).items():
        if role in roles:
            print(f"  ok   {role}", file=out)
        else:
            ok = False
            print(f"  FAIL missing application permission {role} ({why}); grant admin consent", file=out)
    if ROLE_READ not in roles and ROLE_WRITE not in roles:
        print(f"  warn {ROLE_READ} missing: Teams -> PBX reads will fail", file=out)
    expires = provider.expires_at()
    if expires is not None:
        print(f"  info token valid until {expires.isoformat()}", file=out)
    if cfg.certificate_file is not None:
        not_after = certificate_expiry(Path(cfg.certificate_file))
        if not_after is not None:
            days = (not_after - datetime.now(UTC)).days
            level = "ok  " if days > 30 else ("warn" if days >= 0 else "FAIL")
            ok = ok and days >= 0
            print(f"  {level} certificate expires {not_after.date()} ({days} days)", file=out)
    else:
        print(
            "  info client secrets' expiry is not visible to the app: check Entra > Certificates & secrets",
            file=out,
        )
    return ok


STATUS_EXPOSED = (
    "would serve the status page, /status and /events (every person's presence) to any host that can "
    "reach it, and http.auth is not set: set http.auth (token_sha256 or basic_user with "
    "basic_password_hash) or keep it on 127.0.0.1:PORT"
)
INLINE_SECRETS = (
    "allow_inline_secrets is true: secrets written in the configuration file are accepted, so anyone "
    "who can read the file or a backup of it has them; use ${ENV_VAR} or <key>_file: PATH instead"
)


def _exposed(listen: str) -> bool:
    host, _ = parse_listen(listen)
    return not is_loopback(host)


def config_refusals(config: BridgeConfig) -> list[str]:
    """What ``check`` refuses: a status listener beyond this host (not loopback: ``0.0.0.0``,
    ``::``, a LAN address or a host name) without ``http.auth``."""
    if _exposed(config.http.listen) and config.http.auth is None:
        return [f"http.listen {config.http.listen} is not loopback: it {STATUS_EXPOSED}"]
    return []


def config_warnings(config: BridgeConfig) -> list[str]:
    """What the configuration exposes beyond this host: secrets allowed in the file, and every
    adapter listener that is not on loopback (the status listener is ``config_refusals``)."""
    found = [INLINE_SECRETS] if config.allow_inline_secrets else []
    for name, section in config.adapters.items():
        for key, listen in listen_addresses(section.settings):
            if _exposed(listen):
                found.append(
                    f"adapters.{name}.{key} {listen} is not loopback: any host that can reach it can "
                    f"talk to adapter {name} ({section.kind}); bind the address the PBX uses and "
                    "firewall it to the PBX"
                )
    return found


ADAPTER_CHECK_SECONDS = 15.0
_HINTS = {
    Health.BAD_CREDENTIALS: "the PBX refused our credentials",
    Health.TRANSIENT_DISCONNECT: "cannot connect or listen (address in use? PBX down?)",
    Health.CONNECTING: f"no answer within {ADAPTER_CHECK_SECONDS:.0f} s",
}


@runtime_checkable
class ChecksAccount(Protocol):
    """An adapter whose check is one exchange with the PBX rather than a start (the SIP watcher:
    one SUBSCRIBE per event package, the PBX's answer in words); ``(ok, words)`` per exchange."""

    async def check_account(self, limit: float) -> Sequence[tuple[bool, str]]: ...


async def check_account(name: str, adapter: ChecksAccount, out: TextIO) -> bool:
    answers = await adapter.check_account(ADAPTER_CHECK_SECONDS)
    for ok, words in answers:
        print(f"  {'ok  ' if ok else 'FAIL'} adapter {name}: {words}", file=out)
    return all(ok for ok, _ in answers)


async def check_adapter(name: str, adapter: Adapter, out: TextIO) -> bool:
    """Start one adapter (a PBX login, or binding a listener), wait until it settles, stop it.

    DEGRADED fails the check too: the adapter connects, but something configured will not work
    (an AMI user without a ``manager.conf`` class). The adapter's own line says what and the fix.
    """
    if isinstance(adapter, ChecksAccount):
        return await check_account(name, adapter, out)
    detail = ""
    try:
        await adapter.start()
        health, detail = await asyncio.wait_for(first_settled(adapter), ADAPTER_CHECK_SECONDS)
    except TimeoutError:
        health = adapter.health
    finally:
        await adapter.stop()
    if health is Health.CONNECTED:
        print(f"  ok   adapter {name}: connected", file=out)
        return True
    print(f"  FAIL adapter {name}: {health.value}: {detail or _HINTS.get(health, 'failed')}", file=out)
    return False


async def check_tenants(config: BridgeConfig, out: TextIO) -> bool:
    print(
        f"configuration ok: {len(config.tenants)} tenant(s), {len(config.people)} people, "
        f"{len(config.adapters)} adapter(s)",
        file=out,
    )
    refusals = config_refusals(config)
    for refusal in refusals:
        print(f"FAIL {refusal}", file=out)
    for warning in config_warnings(config):
        print(f"warn {warning}", file=out)
    results = [not refusals]
    results += [await check_tenant(config, name, cfg, out) for name, cfg in config.tenants.items()]
    if config.adapters:
        print("adapters:", file=out)
        adapters = build_adapters(config, AdapterDeps(SystemClock(), random.Random()))
        results += [await check_adapter(name, adapter, out) for name, adapter in adapters.items()]
    return all(results)
