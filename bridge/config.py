"""The bridge configuration loader: YAML (and CSV people) in, a validated ``BridgeConfig`` out.

``load_config(path)`` / ``load_config_text(text, source)`` return a ``BridgeConfig`` or raise
``ConfigError`` whose ``problems`` list every problem at once as ``"<file>:<line>: <key.path>:
<message>"`` (CSV rows report the CSV file and row). Secret values never appear in a problem.

The models (``bridge.config_model``, re-exported here) carry every rule; the loader does only what
they cannot: read YAML keeping each key's line (``bridge.config_yaml``), substitute ``${ENV_VAR}``
in every string, import people from CSV files (``bridge.config_people_csv``), and map each error's
location back to its file and line (``bridge.config_report``).

Relative paths (``*_file``, ``certificate_file``, ``ca_file``, ``csv``) are relative to the YAML
file's directory. ``state.path`` is left as written (the runtime resolves it).

Secrets are never written in the file (README): one that is, rather than coming from
``${ENV_VAR}`` or ``<name>_file``, is a problem unless the file says ``allow_inline_secrets:
true`` (generated files such as the demo's; ``check`` warns about it). Bad files are problems
too, never tracebacks: the file must be a regular file of at most ``CONFIG_FILE_LIMIT`` bytes of
UTF-8 (``bridge.kit.files``); what YAML can do to memory and the stack is capped in
``bridge.config_yaml``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.base import AdapterFactory
from bridge.config_model import (
    AdapterSection,
    BridgeConfig,
    BudgetConfig,
    EndpointConfig,
    EndpointIndexKey,
    HttpConfig,
    PersonConfig,
    StateConfig,
    TenantConfig,
)
from bridge.config_people_csv import expand_people
from bridge.config_report import Report
from bridge.config_yaml import read_yaml, substitute_env
from bridge.errors import ConfigError
from bridge.kit.files import UnreadableFile, read_text_file
from bridge.kit.heap import release_freed_memory

__all__ = [
    "AdapterSection",
    "BridgeConfig",
    "BudgetConfig",
    "EndpointConfig",
    "EndpointIndexKey",
    "HttpConfig",
    "PersonConfig",
    "StateConfig",
    "TenantConfig",
    "load_config",
    "load_config_text",
]

logger = logging.getLogger(__name__)

_SECTIONS = tuple(BridgeConfig.model_fields)
_BIG_FILE = 256 * 1024  # characters; above this, loading returns the parser's memory to the OS
CONFIG_FILE_LIMIT = 32 * 1024 * 1024  # bytes: 10,000 people inline are about 1.5 MB


def load_config_text(
    text: str,
    source: str,
    *,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    factories: Mapping[str, AdapterFactory] | None = None,
) -> BridgeConfig:
    """Parse and validate YAML text; ``source`` names it in problems.

    ``base_dir`` anchors relative paths (default: the current directory). ``environ`` is the
    variable set for ``${VAR}`` (default ``os.environ``). ``factories`` replaces the adapter
    registry (kind -> factory), e.g. in tests.
    """
    report = Report(source)
    data = read_yaml(text, report)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source}:1: (top level): must be a mapping of sections ({', '.join(_SECTIONS)})"]
        )
    substitute_env(data, (), os.environ if environ is None else environ, report)
    base = base_dir or Path(".")
    tenants = data.get("tenants")
    names = [str(name) for name in tenants] if isinstance(tenants, dict) else []
    if "people" in data:
        data["people"] = expand_people(data["people"], names, base, report)
    context: dict[str, Any] = {
        "inline_secrets": data.get("allow_inline_secrets") is True,
        "base_dir": base,
        "factories": factories,
        "secrets": report.secrets,
        "people_at": [origin.yaml_index for origin in report.origins],
    }
    try:
        config = BridgeConfig.model_validate(data, context=context)
    except ValidationError as exc:
        report.validation(exc)
    if report.items:
        raise ConfigError(report.items)
    logger.debug("configuration %s: %d tenants, %d people", source, len(config.tenants), len(config.people))
    return config


def load_config(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    factories: Mapping[str, AdapterFactory] | None = None,
) -> BridgeConfig:
    """Load a YAML file; relative paths inside it are relative to its directory."""
    try:
        text = read_text_file(path, limit=CONFIG_FILE_LIMIT)
    except UnreadableFile as exc:
        raise ConfigError([f"{path}:{exc.line or 0}: (file): cannot read: {exc.reason}"]) from exc
    try:
        return load_config_text(text, str(path), base_dir=path.parent, environ=environ, factories=factories)
    finally:
        if len(text) >= _BIG_FILE:
            release_freed_memory()  # the node tree of a big file is garbage now; give it back
