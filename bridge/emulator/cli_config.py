"""Turn ``presence-bridge graph-emulator`` options into an :class:`EmulatorConfig`.

Every problem is collected and reported together (:class:`ConfigError`), naming the option.
Secrets come as ``CLIENT_ID:SECRET``, ``CLIENT_ID:@FILE`` (the file's first line), or through
the environment variable ``PRESENCE_BRIDGE_EMULATOR_APPS`` (entries separated by commas or
whitespace). They never appear in an error message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from bridge.emulator.config import DEFAULT_ROLES, AppRegistration, EmulatorConfig, UserRecord
from bridge.emulator.latency import LatencySpec
from bridge.errors import ConfigError

APPS_ENV = "PRESENCE_BRIDGE_EMULATOR_APPS"
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*(s|m)?\s*$")
_USER_KEYS = {
    "id": "id",
    "userPrincipalName": "user_principal_name",
    "user_principal_name": "user_principal_name",
    "displayName": "display_name",
    "display_name": "display_name",
    "businessPhones": "business_phones",
    "business_phones": "business_phones",
}


@dataclass(frozen=True)
class EmulatorOptions:
    """The options that shape the emulator's config (the command line, already split)."""

    tenant: str | None = None
    apps: Sequence[str] = ()
    app_certs: Sequence[str] = ()
    roles: Sequence[str] = ()
    users_file: Path | None = None
    rate_limit: str | None = None
    latency: str | None = None
    latency_seed: int = 0
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _AppDraft:
    secret: str | None = None
    cert_pem: bytes | None = None
    roles: frozenset[str] = DEFAULT_ROLES


def _split_spec(spec: str, option: str, problems: list[str]) -> tuple[str, str] | None:
    client_id, sep, value = spec.partition(":")
    if not sep or not client_id.strip():
        problems.append(f"{option}: expected CLIENT_ID:VALUE, got an entry without ':' or client id")
        return None
    return client_id.strip(), value


def _secret_value(value: str, client_id: str, option: str, problems: list[str]) -> str | None:
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            problems.append(f"{option} {client_id}: cannot read secret file {path}: {exc.strerror or exc}")
            return None
        value = lines[0].strip() if lines else ""
    if not value:
        problems.append(f"{option} {client_id}: empty secret")
        return None
    return value


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``"1500/30s"`` -> ``(1500, 30.0)``; ``"100/1m"`` -> ``(100, 60.0)``."""
    match = _RATE.match(text)
    if match is None or int(match.group(1)) <= 0 or float(match.group(2)) <= 0:
        raise ConfigError([f"--rate-limit: expected COUNT/SECONDS like 1500/30s, got {text!r}"])
    window = float(match.group(2)) * (60.0 if match.group(3) == "m" else 1.0)
    return int(match.group(1)), window


def _user(entry: Any, where: str, problems: list[str]) -> UserRecord | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping with id and userPrincipalName")
        return None
    unknown = sorted(str(k) for k in entry if k not in _USER_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        return None
    values = {_USER_KEYS[k]: v for k, v in entry.items()}
    for required in ("id", "user_principal_name"):
        if not isinstance(values.get(required), str) or not values[required]:
            problems.append(f"{where}.{required}: required text")
            return None
    phones = values.get("business_phones") or ()
    if isinstance(phones, str):
        phones = (phones,)
    return UserRecord(
        id=values["id"],
        user_principal_name=values["user_principal_name"],
        display_name=str(values.get("display_name") or ""),
        business_phones=tuple(str(p) for p in phones),
    )


def load_users(path: Path) -> tuple[UserRecord, ...]:
    """Users from YAML: a list, or a mapping with a ``users:`` list, of {id, userPrincipalName, ...}."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"--users-file {path}: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{path}{line}: not valid YAML"]) from None
    entries = document.get("users") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ConfigError([f"{path}: expected a list of users (or 'users:' with a list)"])
    problems: list[str] = []
    users = [_user(entry, f"{path}: users[{i}]", problems) for i, entry in enumerate(entries)]
    seen: set[str] = set()
    for user in users:
        if user is not None and user.id in seen:
            problems.append(f"{path}: duplicate user id {user.id}")
        if user is not None:
            seen.add(user.id)
    if problems:
        raise ConfigError(problems)
    return tuple(u for u in users if u is not None)


def _env_app_specs(environ: Mapping[str, str]) -> Iterable[str]:
    return [s for s in re.split(r"[,\s]+", environ.get(APPS_ENV, "")) if s]


def build_config(options: EmulatorOptions) -> EmulatorConfig:
    """The emulator config the options describe; :class:`ConfigError` lists every problem."""
    problems: list[str] = []
    drafts: dict[str, _AppDraft] = {}
    secret_specs = [(APPS_ENV, s) for s in _env_app_specs(options.environ)]
    secret_specs += [("--app", s) for s in options.apps]
    for option, spec in secret_specs:
        split = _split_spec(spec, option, problems)
        if split is not None:
            secret = _secret_value(split[1], split[0], option, problems)
            if secret is not None:
                drafts.setdefault(split[0], _AppDraft()).secret = secret
    for spec in options.app_certs:
        split = _split_spec(spec, "--app-cert", problems)
        if split is None:
            continue
        client_id, path = split
        try:
            pem = Path(path).read_bytes()
            x509.load_pem_x509_certificate(pem)
        except OSError as exc:
            problems.append(f"--app-cert {client_id}: cannot read {path}: {exc.strerror or exc}")
            continue
        except ValueError:
            problems.append(f"--app-cert {client_id}: {path} holds no PEM certificate")
            continue
        drafts.setdefault(client_id, _AppDraft()).cert_pem = pem
    defaults = EmulatorConfig()
    if not drafts and not problems:
        drafts = {app.client_id: _AppDraft(app.secret, app.cert_pem, app.roles) for app in defaults.apps}
    for spec in options.roles:
        split = _split_spec(spec, "--roles", problems)
        if split is None:
            continue
        if split[0] not in drafts:
            problems.append(f"--roles {split[0]}: no --app or --app-cert registers this client id")
            continue
        drafts[split[0]].roles = frozenset(r.strip() for r in split[1].split(",") if r.strip())
    rate_limit, window = defaults.rate_limit, defaults.rate_window_seconds
    if options.rate_limit is not None:
        try:
            rate_limit, window = parse_rate_limit(options.rate_limit)
        except ConfigError as err:
            problems.extend(err.problems)
    latency = defaults.latency
    if options.latency is not None:
        try:
            latency = LatencySpec.parse(options.latency)
        except ValueError as exc:
            problems.append(f"--{exc}")
    users: tuple[UserRecord, ...] = ()
    if options.users_file is not None:
        try:
            users = load_users(options.users_file)
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    apps = tuple(
        AppRegistration(cid, secret=d.secret, cert_pem=d.cert_pem, roles=d.roles) for cid, d in drafts.items()
    )
    return EmulatorConfig(
        tenant_id=options.tenant or defaults.tenant_id,
        apps=apps,
        users=users,
        rate_limit=rate_limit,
        rate_window_seconds=window,
        latency=latency,
        latency_seed=options.latency_seed,
    )
