"""The bridge configuration loader (the models are in ``bridge.config_model``, re-exported here).

``load_config(path)`` / ``load_config_text(text, source)`` return a ``BridgeConfig`` or raise
``ConfigError`` whose ``problems`` lists each problem as ``"<file>:<line>: <key.path>: <message>"``
(CSV rows report the CSV file and row). Loading steps, each collecting problems, never stopping
at the first:

1. YAML is composed into nodes so every key path knows its line (duplicate keys are problems;
   unquoted numbers under ``extension``/``context``/``device`` keep their text, e.g. ``0123``).
2. ``${ENV_VAR}`` is substituted in every string; secret keys (client_secret, token, password,
   secret) may instead come from a sibling ``<key>_file: PATH`` (read and stripped); placeholders
   (changeme, xxx, TODO, <...>, the zero GUID, empty tenant/client ids) are refused, naming the fix.
   Secret values never appear in a problem or a repr.
3. ``people:`` items ``{csv: FILE, tenant:, adapter:}`` are imported (rows ``person, extension
   [, context][, role][, device]``, header optional); rows of one person merge into one person.
4. Every section is validated on its own, then cross-checked (tenants, adapters and people exist,
   duplicates, dnd_preferred expiries, files present). Adapter settings are validated by the
   adapter kind's own ``config_model`` (``adapters.base.get_factory``, or injected ``factories``).

Relative paths (``*_file``, ``certificate_file``, ``ca_file``, ``csv``) are relative to the YAML
file's directory. ``state.path`` is left as written (the runtime resolves it).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from adapters.base import AdapterFactory, get_factory
from bridge.config_mapping import MappingConfig, TableCache
from bridge.config_model import (
    DEFAULT_IGNORE_CONTEXTS,
    GUID,
    ONE_CREDENTIAL,
    AdapterSection,
    BridgeConfig,
    BudgetConfig,
    EndpointConfig,
    EndpointIndexKey,
    HttpConfig,
    KeyPath,
    PersonConfig,
    StateConfig,
    TenantConfig,
)
from bridge.errors import ConfigError
from bridge.kit.heap import release_freed_memory
from bridge.mapping import MappingResolutionError

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

# =====================================================================================
# Loading
# =====================================================================================

SECRET_KEYS = frozenset({"client_secret", "token", "password", "secret"})
_RELATIVE_PATH_KEYS = frozenset({"certificate_file", "ca_file", "csv"})
_KEEP_TEXT_KEYS = frozenset({"extension", "context", "device", "tenant_id", "client_id"})
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = re.compile(
    r"^(change[-_ ]?me|x{3,}|todo|tbd|fixme|<.*>|0{8}-0{4}-0{4}-0{4}-0{12})$", re.IGNORECASE
)
_FIXES = {
    "tenant_id": "set the directory (tenant) id from Entra admin center > Overview",
    "client_id": "set the app registration's Application (client) id",
    "id": "set the user's Entra object id, or use upn: user@example.com",
}
_UNREADABLE = "unreadable-secret-file"  # stands in after a reported problem; never loaded
_SECTIONS = ("tenants", "people", "adapters", "mapping", "state", "http")
_CSV_COLUMNS = ("person", "extension", "context", "role", "device")


class _Origin:
    """Where one final ``people`` entry came from: a YAML item or CSV rows."""

    def __init__(self, yaml_index: int, csv_file: str | None = None, row: int = 0) -> None:
        self.yaml_index = yaml_index
        self.csv_file = csv_file
        self.row = row
        self.endpoint_rows: list[int] = []


class _Problems:
    """Collects problems and turns key paths into ``file:line: key.path``."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[KeyPath, int] = {(): 1}
        self.people: list[_Origin] = []
        self.flagged: set[KeyPath] = set()  # paths already reported (no follow-up errors there)
        self.secrets: set[str] = set()  # resolved secret values, redacted from every message
        self._items: list[tuple[str, int, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        """A problem at a key path (``people`` indices are final ones, after CSV expansion)."""
        file, line, shown = self._where(path)
        self.flagged.add(shown)
        self._items.append((file, line, f"{_dotted(shown)}: {message}"))

    def at(self, file: str, line: int, path: str, message: str) -> None:
        self._items.append((file, line, f"{path}: {message}"))

    def yaml_line(self, path: KeyPath) -> int:
        while path not in self.lines:
            path = path[:-1]
        return self.lines[path]

    def _where(self, path: KeyPath) -> tuple[str, int, KeyPath]:
        if len(path) >= 2 and path[0] == "people" and isinstance(path[1], int) and path[1] < len(self.people):
            origin = self.people[path[1]]
            shown: KeyPath = ("people", origin.yaml_index, *path[2:])
            if origin.csv_file is not None:
                line = origin.row
                if len(path) >= 4 and path[2] == "endpoints" and isinstance(path[3], int):
                    rows = origin.endpoint_rows
                    line = rows[path[3]] if path[3] < len(rows) else line
                return origin.csv_file, line, shown
            path = shown
        return self.source, self.yaml_line(path), path

    def pydantic(self, prefix: KeyPath, exc: ValidationError, model: type[BaseModel]) -> None:
        errors = exc.errors(include_url=False, include_input=False)
        deeper = {tuple(e["loc"][:i]) for e in errors for i in range(len(e["loc"]))}
        for error in errors:
            if error["type"] == "too_short" and tuple(error["loc"]) in deeper:
                continue  # pydantic also calls a sequence short when one of its items failed
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
            file, line, shown = self._where(prefix + loc)
            if shown in self.flagged:
                continue
            self._items.append((file, line, f"{_dotted(shown)}: {_message(error, model, loc)}"))

    @property
    def items(self) -> list[str]:
        ordered = sorted(set(self._items), key=lambda it: (it[0] != self.source, it[0], it[1], it[2]))
        return [self._redact(f"{file}:{line}: {text}") for file, line, text in ordered]

    def _redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) if path else "(top level)"


def _message(error: Any, model: type[BaseModel], loc: KeyPath) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    msg = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


def _allowed_keys(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """Field names of the model reached by walking ``loc`` (best effort, for messages)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) in (dict, tuple):
            current = get_args(current)[-1 if get_origin(current) is dict else 0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, type(int | None)):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


# --- step 1: YAML with lines ------------------------------------------------------------


_BIG_FILE = 256 * 1024  # characters; above this, loading returns the parser's memory to the OS
# libyaml's loader when PyYAML was built with it: the same nodes and marks, faster (10,000 people
# inline: 3 s instead of 10 s for the whole load)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str, problems: _Problems) -> Any:
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{problems.source}:{line}: (yaml): {exc.problem or exc.context}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{problems.source}:1: (yaml): {exc}"]) from exc
    finally:
        loader.dispose()
    if node is not None:
        _walk(node, data, (), problems)
    return data


def _walk(node: yaml.Node, data: Any, path: KeyPath, problems: _Problems) -> None:
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        by_text = {str(k): k for k in data}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            text = str(key_node.value)
            child = (*path, text)
            if text in seen:
                problems.lines[child] = key_node.start_mark.line + 1
                problems.add(child, "duplicate key (the later value would silently win)")
                continue
            seen.add(text)
            problems.lines[child] = key_node.start_mark.line + 1
            key = by_text.get(text)
            if key is None:
                continue
            if (
                text in _KEEP_TEXT_KEYS
                and isinstance(value_node, yaml.ScalarNode)
                and isinstance(data[key], int | float)
                and not isinstance(data[key], bool)
            ):
                data[key] = value_node.value  # 0123 stays "0123", not 83
            _walk(value_node, data[key], child, problems)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            problems.lines[(*path, i)] = item_node.start_mark.line + 1
            _walk(item_node, item, (*path, i), problems)


# --- step 2: environment, secret files, placeholders -------------------------------------


def _resolve_values(
    data: Any, path: KeyPath, environ: Mapping[str, str], base_dir: Path, problems: _Problems
) -> Any:
    if isinstance(data, dict):
        for key in list(data):
            data[key] = _resolve_values(data[key], (*path, key), environ, base_dir, problems)
        _secret_files(data, path, base_dir, problems)
        for key, value in data.items():
            if key in _RELATIVE_PATH_KEYS and isinstance(value, str) and value:
                data[key] = str(base_dir / value)
            if key in SECRET_KEYS and isinstance(value, str) and len(value) >= 4:
                problems.secrets.add(value)
            _check_placeholder(key, value, (*path, key), problems)
        return data
    if isinstance(data, list):
        return [_resolve_values(v, (*path, i), environ, base_dir, problems) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        missing = [name for name in _ENV.findall(data) if name not in environ]
        if missing:
            problems.add(path, f"environment variable {', '.join(missing)} is not set")
            return data
        return _ENV.sub(lambda m: environ[m.group(1)], data)
    return data


def _secret_files(data: dict[Any, Any], path: KeyPath, base_dir: Path, problems: _Problems) -> None:
    for key in SECRET_KEYS:
        file_key = f"{key}_file"
        if file_key not in data:
            continue
        file_path = (*path, file_key)
        problems.lines.setdefault((*path, key), problems.lines.get(file_path, 1))
        if key in data:
            problems.add((*path, key), f"give either {key} or {file_key}, not both")
            del data[file_key]
            continue
        value = data.pop(file_key)
        if not isinstance(value, str) or not value:
            problems.add(file_path, "must be a file path")
            continue
        target = base_dir / value
        try:
            data[key] = target.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            problems.add((*path, key), f"{file_key}: file not found: {target}")
            data[key] = _UNREADABLE
        except OSError as exc:
            problems.add((*path, key), f"{file_key}: cannot read {target}: {exc.strerror}")
            data[key] = _UNREADABLE


def _check_placeholder(key: Any, value: Any, path: KeyPath, problems: _Problems) -> None:
    if path in problems.flagged:
        return
    if key in ("tenant_id", "client_id") and (value is None or value == ""):
        problems.add(path, f"required: {_FIXES[key]}")
        return
    if key in SECRET_KEYS and (value is None or value == ""):
        problems.add(path, f"empty: set the real value as ${{ENV_VAR}} or with {key}_file: PATH")
        return
    if not isinstance(value, str) or not _PLACEHOLDER.match(value.strip()):
        return
    if key in SECRET_KEYS:
        fix = f"set the real value as ${{ENV_VAR}} or with {key}_file: PATH"
    else:
        fix = _FIXES.get(str(key), "replace it with the real value")
    problems.add(path, f"placeholder value: {fix}")


# --- step 3: people (inline and CSV) ------------------------------------------------------


def _expand_people(raw: Any, tenants: list[str], problems: _Problems) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(("people",), "must be a list of people")
        return []
    people: list[Any] = []
    for j, item in enumerate(raw):
        if isinstance(item, dict) and "csv" in item:
            for person, origin in _read_csv(item, j, tenants, problems):
                people.append(person)
                problems.people.append(origin)
            continue
        people.append(item)
        problems.people.append(_Origin(j))
        if isinstance(item, dict) and "tenant" not in item:
            if len(tenants) == 1:
                people[-1] = {**item, "tenant": tenants[0]}
            else:
                problems.add(("people", len(people) - 1, "tenant"), _several(tenants))
    return people


def _several(tenants: list[str]) -> str:
    return f"required when there is not exactly one tenant (tenants: {', '.join(tenants) or 'none'})"


def _read_csv(
    item: dict[str, Any], j: int, tenants: list[str], problems: _Problems
) -> list[tuple[Any, _Origin]]:
    def item_problem(key: str, message: str) -> None:
        problems.at(problems.source, problems.yaml_line(("people", j, key)), f"people.{j}.{key}", message)

    for key in sorted(set(item) - {"csv", "tenant", "adapter"}):
        item_problem(key, "unknown key; allowed with csv: csv, tenant, adapter")
    tenant = item.get("tenant") or (tenants[0] if len(tenants) == 1 else None)
    if tenant is None:
        item_problem("tenant", _several(tenants))
    adapter = item.get("adapter")
    if not isinstance(adapter, str) or not adapter:
        item_problem("adapter", "required with csv: the adapter these extensions belong to")
    path = Path(str(item["csv"]))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        item_problem("csv", f"cannot read {path}: {exc.strerror or exc}")
        return []
    if tenant is None or not isinstance(adapter, str) or not adapter:
        return []
    file = str(path)
    columns = list(_CSV_COLUMNS)
    people: dict[str, tuple[dict[str, Any], _Origin]] = {}
    first = True
    for row_no, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        is_header, first = first and cells[0].lower() == "person", False
        if is_header:
            unknown = [c for c in cells if c.lower() not in _CSV_COLUMNS]
            if unknown or "extension" not in [c.lower() for c in cells]:
                problems.at(
                    file,
                    row_no,
                    f"people.{j}.csv",
                    f"header must name person, extension and "
                    f"optionally context, role, device (got {', '.join(cells)})",
                )
                return []
            columns = [c.lower() for c in cells]
            continue
        if len(cells) > len(columns):
            problems.at(
                file,
                row_no,
                f"people.{j}.csv",
                f"{len(cells)} columns; at most {len(columns)} ({', '.join(columns)})",
            )
            continue
        fields = dict(zip(columns, cells, strict=False))
        who, extension = fields.get("person", ""), fields.get("extension", "")
        if not who or not extension:
            problems.at(file, row_no, f"people.{j}.csv", "every row needs a person and an extension")
            continue
        endpoint: dict[str, Any] = {"adapter": adapter, "extension": extension}
        for key in ("context", "role", "device"):
            if fields.get(key):
                endpoint[key] = fields[key]
        identity = "id" if GUID.match(who) else "upn"
        key = who.lower()
        if key not in people:
            people[key] = ({identity: who, "tenant": tenant, "endpoints": []}, _Origin(j, file, row_no))
        person, origin = people[key]
        person["endpoints"].append(endpoint)
        origin.endpoint_rows.append(row_no)
    return list(people.values())


# --- step 4: sections and cross-checks ------------------------------------------------------


def _validate(model: type[BaseModel], data: Any, path: KeyPath, problems: _Problems) -> Any:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems.pydantic(path, exc, model)
        return None


def _adapter_sections(
    raw: Any, factories: Mapping[str, AdapterFactory] | None, problems: _Problems
) -> dict[str, AdapterSection | None]:
    sections: dict[str, AdapterSection | None] = {}
    if raw is None:
        return sections
    if not isinstance(raw, dict):
        problems.add(("adapters",), "must map adapter names to their settings")
        return sections
    for name, body in raw.items():
        path: KeyPath = ("adapters", str(name))
        sections[str(name)] = None
        if not isinstance(body, dict):
            problems.add(path, "must be a mapping with at least `kind:`")
            continue
        body = dict(body)
        kind = body.pop("kind", None)
        if not isinstance(kind, str) or not kind:
            problems.add((*path, "kind"), "required: the adapter kind, e.g. generic_cti or asterisk_ami")
            continue
        factory = _factory(kind, factories, (*path, "kind"), problems)
        if factory is None:
            continue
        shared = "ignore_contexts" in factory.config_model.model_fields
        ignore = body.get("ignore_contexts") if shared else body.pop("ignore_contexts", None)
        settings = _validate(factory.config_model, body, path, problems)
        if settings is None:
            continue
        if ignore is None:
            ignore = getattr(settings, "ignore_contexts", DEFAULT_IGNORE_CONTEXTS)
        section = {"kind": kind, "ignore_contexts": ignore, "settings": settings}
        sections[str(name)] = _validate(AdapterSection, section, path, problems)
    return sections


def _factory(
    kind: str, factories: Mapping[str, AdapterFactory] | None, path: KeyPath, problems: _Problems
) -> AdapterFactory | None:
    try:
        if factories is None:
            return get_factory(kind)
        if kind not in factories:
            raise KeyError(f"unknown adapter kind {kind!r}; known: {', '.join(sorted(factories))}")
        return factories[kind]
    except KeyError as exc:
        problems.add(path, str(exc.args[0]) if exc.args else f"unknown adapter kind {kind!r}")
    except Exception as exc:  # a broken (third-party) adapter package is a problem to report, not a crash
        problems.add(path, f"adapter kind {kind!r} cannot be loaded: {type(exc).__name__}: {exc}")
    return None
    try:
        return get_factory(kind)
    except KeyError as exc:
        problems.add(path, str(exc.args[0]) if exc.args else f"unknown adapter kind {kind!r}")
    except Exception as exc:  # a broken (third-party) adapter package is a problem to report, not a crash
        problems.add(path, f"adapter kind {kind!r} cannot be loaded: {type(exc).__name__}: {exc}")
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cross_check(
    raw_tenants: Mapping[str, Any],
    adapters: dict[str, AdapterSection | None],
    raw_people: list[Any],
    raw_mapping: Any,
    problems: _Problems,
) -> None:
    """Checks across sections, on the raw data so that entries with other errors are checked too."""
    tenant_names = list(raw_tenants)
    known_people: dict[str, int] = {}
    endpoints: dict[EndpointIndexKey, int] = {}
    for i, person in enumerate(raw_people):
        if not isinstance(person, dict):
            continue
        tenant = person.get("tenant")
        if tenant is not None and _text(tenant) not in raw_tenants:
            problems.add(
                ("people", i, "tenant"), f"unknown tenant {tenant!r}; known: {', '.join(tenant_names)}"
            )
        key = _text(person.get("id") or person.get("upn")).lower()
        first_seen = known_people.get(key)
        if key and first_seen is not None:
            problems.add(
                ("people", i), f"{key} is listed twice (first as people.{_shown(problems, first_seen)})"
            )
        elif key:
            known_people[key] = i
        raw_endpoints = person.get("endpoints")
        for k, ep in enumerate(raw_endpoints if isinstance(raw_endpoints, list) else []):
            if isinstance(ep, dict):
                _check_endpoint(ep, ("people", i, "endpoints", k), i, adapters, endpoints, problems)
    for name, tenant in raw_tenants.items():
        if isinstance(tenant, dict):
            _check_tenant(str(name), tenant, known_people, problems)
    mapped = raw_mapping.get("adapters") if isinstance(raw_mapping, dict) else None
    for name in mapped if isinstance(mapped, dict) else ():
        if name not in adapters:
            problems.add(
                ("mapping", "adapters", name), f"unknown adapter; configured: {', '.join(adapters) or 'none'}"
            )


def _check_endpoint(
    ep: dict[str, Any],
    where: KeyPath,
    person: int,
    adapters: dict[str, AdapterSection | None],
    seen: dict[EndpointIndexKey, int],
    problems: _Problems,
) -> None:
    adapter, extension, context = (
        _text(ep.get("adapter")),
        _text(ep.get("extension")),
        _text(ep.get("context")),
    )
    if adapter and adapter not in adapters:
        problems.add(
            (*where, "adapter"), f"unknown adapter {adapter!r}; configured: {', '.join(adapters) or 'none'}"
        )
    section = adapters.get(adapter)
    if section is not None and context and context in section.ignore_contexts:
        problems.add(
            (*where, "context"),
            f"{context!r} is in adapters.{adapter}.ignore_contexts: its events are dropped",
        )
    index_key = (adapter, extension, context, _text(ep.get("device")))
    first = seen.get(index_key)
    if first is None:
        seen[index_key] = person
        return
    whose = "this person" if first == person else f"people.{_shown(problems, first)}"
    problems.add(where, f"endpoint {adapter}/{extension} is already mapped to {whose}")


def _check_tenant(name: str, tenant: dict[str, Any], people: Mapping[str, int], problems: _Problems) -> None:
    path: KeyPath = ("tenants", name)
    if ("client_secret" in tenant) == ("certificate_file" in tenant):
        problems.add(path, ONE_CREDENTIAL)
    for key in ("certificate_file", "ca_file"):
        file = tenant.get(key)
        if isinstance(file, str) and file and not Path(file).is_file():
            problems.add((*path, key), f"file not found: {file}")
    probe = tenant.get("dnd_probe_person")
    if probe is not None and _text(probe).lower() not in people:
        problems.add((*path, "dnd_probe_person"), "must be one of the people in this file (id or upn)")


def _shown(problems: _Problems, i: int) -> int:
    return problems.people[i].yaml_index if i < len(problems.people) else i


def _check_tables(
    mapping: MappingConfig,
    adapters: Mapping[str, object],
    people: list[PersonConfig | None],
    problems: _Problems,
) -> None:
    for name in (None, *adapters):
        try:
            TableCache(mapping).get(name)
        except MappingResolutionError as exc:
            where: KeyPath = ("mapping", "dnd_preferred")
            if name is not None and name in mapping.adapters and mapping.adapters[name].dnd_preferred:
                where = ("mapping", "adapters", name, "dnd_preferred")
            if where not in problems.flagged:
                problems.add(where, str(exc))
    for i, person in enumerate(people):
        if person is None or person.mapping is None:
            continue
        for name in {ep.adapter for ep in person.endpoints}:
            try:
                TableCache(mapping).get(name, person.mapping)
            except MappingResolutionError as exc:
                problems.add(("people", i, "mapping", "dnd_preferred"), str(exc))
                break


# --- entry points ------------------------------------------------------------------------------


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
    problems = _Problems(source)
    data = _compose(text, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{source}:1: (top level): must be a mapping of sections ({', '.join(_SECTIONS)})"]
        )
    for key in data:
        if key not in _SECTIONS:
            problems.add((key,), f"unknown section; allowed: {', '.join(_SECTIONS)}")
    env = os.environ if environ is None else environ
    _resolve_values(data, (), env, base_dir or Path("."), problems)

    raw_tenants = data.get("tenants")
    tenants: dict[str, TenantConfig | None] = {}
    if not isinstance(raw_tenants, dict) or not raw_tenants:
        problems.add(("tenants",), "required: at least one tenant (tenant_id, client_id and a credential)")
    else:
        for name, body in raw_tenants.items():
            tenants[str(name)] = _validate(TenantConfig, body, ("tenants", str(name)), problems)
    raw_people = _expand_people(data.get("people"), list(tenants), problems)
    people = [_validate(PersonConfig, p, ("people", i), problems) for i, p in enumerate(raw_people)]
    adapters = _adapter_sections(data.get("adapters"), factories, problems)
    mapping = _validate(MappingConfig, data.get("mapping"), ("mapping",), problems)
    state = _validate(StateConfig, data.get("state"), ("state",), problems)
    http = _validate(HttpConfig, data.get("http"), ("http",), problems)
    _cross_check(
        raw_tenants if isinstance(raw_tenants, dict) else {},
        adapters,
        raw_people,
        data.get("mapping"),
        problems,
    )
    if mapping is not None:
        _check_tables(mapping, adapters, people, problems)

    if problems.items:
        raise ConfigError(problems.items)
    config = BridgeConfig(
        tenants=tenants,  # type: ignore[arg-type]
        people=tuple(people),  # type: ignore[arg-type]
        adapters=adapters,  # type: ignore[arg-type]
        mapping=mapping,
        state=state,
        http=http,
    )
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}:0: (file): cannot read: {exc.strerror or exc}"]) from exc
    try:
        return load_config_text(text, str(path), base_dir=path.parent, environ=environ, factories=factories)
    finally:
        if len(text) >= _BIG_FILE:
            release_freed_memory()  # the node tree of a big file is garbage now; give it back
