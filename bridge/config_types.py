"""Annotated field types of the bridge's own configuration: Entra ids, URLs, files.

Each type carries its whole rule (shape, placeholder fix, relative path), so a model field reads as
what it holds. The rules every model shares (placeholders, secrets, listen addresses, unknown keys)
are in ``bridge.kit.config_types``, where adapters can reach them too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from bridge.kit.config_types import Fix

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_UPN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^(https?)://([^/:]+|\[[^\]]+\])(:\d+)?(/.*)?$")
_PROXY = re.compile(r"^https?://[^/\s]+(:\d+)?/?$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def _shaped(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


def _tenant_id(value: str) -> str:
    if not (GUID.match(value) or _DOMAIN.match(value)):
        raise ValueError("must be the directory (tenant) id GUID or the tenant's domain")
    return value


def _service_url(value: str, info: ValidationInfo) -> str:
    """https:// anywhere; http:// only on loopback (the local emulator). Trailing / dropped."""
    text = value.strip().rstrip("/")
    match = _URL.match(text)
    if not match:
        raise ValueError(f"{info.field_name} must be a URL like https://host[:port][/path]")
    if match.group(1) == "http" and match.group(2) not in _LOOPBACK:
        raise ValueError(f"{info.field_name} must use https:// (http:// is only allowed on loopback)")
    return text


def _proxy(value: str) -> str:
    if not _PROXY.match(value.strip()):
        raise ValueError("proxy must look like http://proxy.example.com:3128")
    return value


def _relative_to_config(value: Any, info: ValidationInfo) -> Any:
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    return Path(base) / value if base is not None and isinstance(value, str) and value else value


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


TenantId = Annotated[
    str,
    Fix("set the directory (tenant) id from Entra admin center > Overview", required=True),
    AfterValidator(_tenant_id),
]
ClientId = Annotated[
    str,
    Fix("set the app registration's Application (client) id", required=True),
    _shaped(GUID, "must be the app registration's Application (client) id, a GUID"),
]
ObjectId = Annotated[
    str,
    Fix("set the user's Entra object id, or use upn: user@example.com"),
    _shaped(GUID, "must be the user's Entra object id (a GUID); use upn: for an e-mail address"),
]
Upn = Annotated[
    str,
    Fix("set the user's sign-in name (user@example.com), or use id: with the Entra object id"),
    _shaped(_UPN, "must look like an e-mail address (user@example.com)"),
]
ServiceUrl = Annotated[str, AfterValidator(_service_url)]
ProxyUrl = Annotated[str, AfterValidator(_proxy)]
ConfigFile = Annotated[Path, BeforeValidator(_relative_to_config), AfterValidator(_existing)]
"""A file that must exist; relative to the configuration file's directory (context ``base_dir``)."""
