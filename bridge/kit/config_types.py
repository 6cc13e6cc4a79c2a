"""Rules every configuration model shares, adapters' models included (kit floor: adapters import it).

A placeholder can be typed into any field and a ``<secret>_file`` key sits beside the secret it
replaces, so these rules belong to the model rather than to one field type. ``ConfigModel`` (frozen,
unknown keys rejected) carries them through ``ConfigRules``:

- every field: a placeholder (``changeme``, ``xxx``, ``TODO``, ``<...>``, the zero GUID) is refused
  with the fix named by the field's ``Fix`` metadata (``Fix(..., required=True)``: empty is
  "required" too);
- every ``SecretStr`` field ``name``: ``name_file: PATH`` reads it from a file (relative to the
  ``base_dir`` in the validation context), empty or placeholder values are refused, and the value
  is added to the context's ``secrets`` set so a loader can keep it out of every message;
- a secret file must be a regular file of at most ``SECRET_FILE_LIMIT`` bytes of UTF-8 text
  without control characters (``/dev/zero``, a FIFO or a binary key is a problem, not a hang or a
  ``MemoryError``); surrounding whitespace (the trailing newline) is stripped;
- when the context says ``inline_secrets: False`` (the YAML loader does, unless the file sets
  ``allow_inline_secrets: true``), a secret must come from ``name_file`` or be made only of
  ``${ENV_VAR}`` references (``FromEnvironment``): one written in the file is refused. Models
  built in code (no such context key) are not concerned;
- an unknown key's error carries ``ctx`` ``unknown`` (what to call it) and ``allowed`` (the keys);
- ``check_raw`` lets a model check its raw input (cross-references, "exactly one of") and report
  problems together with its fields' errors, not after them.

``with_config_rules`` gives a third-party adapter's plain pydantic model the same rules.
``ListenAddress`` / ``parse_listen`` are the one ``host:port`` shape (IPv6 as ``[::1]:8080``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bridge.kit.files import UnreadableFile, read_text_file

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]  # (location relative to the model, message)
M = TypeVar("M", bound=BaseModel)

PLACEHOLDER = re.compile(
    r"^(change[-_ ]?me|x{3,}|todo|tbd|fixme|<.*>|0{8}-0{4}-0{4}-0{4}-0{12})$", re.IGNORECASE
)
_SECRET_WORDS = frozenset({"secret", "token", "password"})  # a secret spelled as its own key's name
_MIN_REDACTED = 4  # shorter values would redact ordinary words from messages
SECRET_FILE_LIMIT = 64 * 1024  # bytes: a client secret is 40 characters, a long token a few hundred
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FromEnvironment(str):
    """A configuration string made only of ``${ENV_VAR}`` references (the loader marks it so)."""

    __slots__ = ()


@dataclass(frozen=True)
class Fix:
    """Field metadata: the fix a problem message names (``required``: an empty value is missing)."""

    text: str
    required: bool = False


class FileSecret(SecretStr):
    """A secret read from ``<name>_file``, remembering the file (re-read when it changes)."""

    def __init__(self, secret_value: str, path: Path) -> None:
        super().__init__(secret_value)
        self.path = path


@dataclass(frozen=True)
class _SecretFile:
    """Stands in for a secret given as ``<name>_file`` until the field reads it."""

    path: object
    conflict: bool  # the secret itself was given too


def _details(problems: Iterable[Problem]) -> list[InitErrorDetails]:
    return [
        InitErrorDetails(type=PydanticCustomError("config", msg), loc=loc, input=None)
        for loc, msg in problems
    ]


def config_errors(title: str, problems: Iterable[Problem]) -> ValidationError:
    """A ValidationError with one ``config`` error per problem (the message shown as written)."""
    return ValidationError.from_exception_data(title, _details(problems))


@dataclass(frozen=True)
class _FieldRule:
    secret: bool
    fix: Fix | None


def _metadata(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Annotated:
        return list(annotation.__metadata__)
    if get_origin(annotation) in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _metadata(arg)]
    return []


def _is_secret(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _is_secret(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_is_secret(arg) for arg in get_args(annotation))
    return annotation is SecretStr


@cache
def _rules(model: type[BaseModel]) -> Mapping[str, _FieldRule]:
    rules: dict[str, _FieldRule] = {}
    for name, field in model.model_fields.items():
        fix = next((m for m in [*field.metadata, *_metadata(field.annotation)] if isinstance(m, Fix)), None)
        if fix is not None or _is_secret(field.annotation):
            rules[name] = _FieldRule(_is_secret(field.annotation), fix)
    return rules


def _secret(name: str, value: Any, rule: _FieldRule, info: ValidationInfo) -> Any:
    context = info.context if isinstance(info.context, dict) else {}
    if isinstance(value, _SecretFile):
        if value.conflict:
            raise ValueError(f"give either {name} or {name}_file, not both")
        if not isinstance(value.path, str) or not value.path:
            raise ValueError(f"{name}_file: must be a file path")
        target = Path(context.get("base_dir", ".")) / value.path
        value = FileSecret(_read_secret_file(name, target), target)
        inline = False
    else:
        inline = isinstance(value, str) and not isinstance(value, FromEnvironment)
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw is None or raw == "":
        raise ValueError(f"empty: set the real value as ${{ENV_VAR}} or with {name}_file: PATH")
    if isinstance(raw, str):
        if PLACEHOLDER.match(raw.strip()) or raw.strip().lower() in _SECRET_WORDS:
            fix = (
                rule.fix.text if rule.fix else f"set the real value as ${{ENV_VAR}} or with {name}_file: PATH"
            )
            raise ValueError(f"placeholder value: {fix}")
        if len(raw) >= _MIN_REDACTED and isinstance(context.get("secrets"), set):
            context["secrets"].add(raw)
        if inline and context.get("inline_secrets") is False:
            raise ValueError(
                f"written in the file: secrets never are; set it as ${{ENV_VAR}} or with {name}_file: PATH "
                "(or set allow_inline_secrets: true at the top level, which check warns about)"
            )
        return str(raw) if isinstance(raw, FromEnvironment) else value
    return value


def _read_secret_file(name: str, target: Path) -> str:
    """The secret in ``target``: a regular file, size-capped, strict UTF-8, no control characters."""
    try:
        text = read_text_file(target, limit=SECRET_FILE_LIMIT).strip()
    except UnreadableFile as exc:
        at = f" at line {exc.line}" if exc.line is not None else ""
        raise ValueError(f"{name}_file: {exc.reason}{at}: {target}") from None
    if _CONTROL.search(text):
        raise ValueError(f"{name}_file: control characters in the secret (a binary file?): {target}")
    return text


def _take_secret_files(data: dict[Any, Any], rules: Mapping[str, _FieldRule]) -> dict[Any, Any]:
    for name, rule in rules.items():
        file_key = f"{name}_file"
        if rule.secret and file_key in data:
            data = dict(data)
            data[name] = _SecretFile(data.pop(file_key), conflict=name in data)
    return data


class ConfigRules(BaseModel):
    """The shared rules as validators only (no model_config, so a third-party model keeps its own)."""

    UNKNOWN_KEY: ClassVar[str] = "unknown key"
    NOT_A_MAPPING: ClassVar[str | None] = None  # the problem for input that is no mapping (None: pydantic's)

    @classmethod
    def check_raw(cls, data: dict[Any, Any], info: ValidationInfo) -> tuple[dict[Any, Any], list[Problem]]:
        """Override to check (or complete) the raw input; problems are reported with field errors."""
        return data, []

    @field_validator("*", mode="before")
    @classmethod
    def _real_value(cls, value: Any, info: ValidationInfo) -> Any:
        rule = _rules(cls).get(info.field_name or "")
        if rule is not None and rule.secret:
            return _secret(info.field_name or "", value, rule, info)
        if rule is not None and rule.fix is not None and rule.fix.required and value in (None, ""):
            raise ValueError(f"required: {rule.fix.text}")
        if isinstance(value, str) and PLACEHOLDER.match(value.strip()):
            fix = (
                rule.fix.text
                if rule is not None and rule.fix is not None
                else "replace it with the real value"
            )
            raise ValueError(f"placeholder value: {fix}")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _with_raw_checks(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        found: list[Problem] = []
        if isinstance(data, dict):
            data, found = cls.check_raw(_take_secret_files(data, _rules(cls)), info)
        elif cls.NOT_A_MAPPING is not None and not isinstance(data, cls):
            raise config_errors(cls.__name__, [((), cls.NOT_A_MAPPING)])
        try:
            model = handler(data)
        except ValidationError as exc:
            raise _merged(cls, exc, found) from None
        if found:
            raise config_errors(cls.__name__, found)
        return model


def _merged(model: type[ConfigRules], exc: ValidationError, found: list[Problem]) -> ValidationError:
    """``exc`` plus the raw problems (which win at their location), unknown keys named."""
    errors = exc.errors(include_url=False)
    unknown = [e for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    if not found and not unknown:
        return exc
    allowed = {"unknown": model.UNKNOWN_KEY, "allowed": ", ".join(model.model_fields)}
    taken = {loc for loc, _ in found}
    details = [
        InitErrorDetails(
            type=PydanticCustomError(e["type"], e["msg"], allowed if e in unknown else e.get("ctx")),
            loc=e["loc"],
            input=e.get("input"),
        )
        for e in errors
        if tuple(e["loc"]) not in taken
    ]
    return ValidationError.from_exception_data(exc.title, [*details, *_details(found)])


class ConfigModel(ConfigRules):
    """Base of every configuration section: frozen, unknown keys rejected, the shared rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@cache
def with_config_rules(model: type[M]) -> type[M]:
    """``model`` with the shared rules (a subclass of it, same name), for third-party adapter models."""
    if issubclass(model, ConfigRules):
        return model
    namespace = {"__module__": model.__module__, "__qualname__": model.__qualname__, "__doc__": model.__doc__}
    ruled: type[M] = type(model.__name__, (ConfigRules, model), namespace)
    return ruled


_LISTEN_SHAPE = "expected host:port, e.g. 127.0.0.1:9108 (IPv6 in brackets: [::1]:9108)"


def parse_listen(text: str) -> tuple[str, int]:
    """Split ``host:port`` into host and port (``[::1]:8080`` -> ``("::1", 8080)``; port 0: any free)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(_LISTEN_SHAPE)
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ValueError(_LISTEN_SHAPE)
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("IPv6 addresses need brackets, e.g. [::1]:9108")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port must be 0..65535, got {port}")
    return host, port


def _listen_text(text: str) -> str:
    parse_listen(text)
    return text.strip()


_LISTEN_CHECK = AfterValidator(_listen_text)
ListenAddress = Annotated[str, _LISTEN_CHECK]
"""A ``host:port`` listen address, kept as written (stripped); ``parse_listen`` splits it."""


def listen_addresses(model: BaseModel) -> list[tuple[str, str]]:
    """``(field, address)`` for every ``ListenAddress`` field of ``model`` that is set (for ``check``,
    which warns about listeners beyond this host whatever adapter declares them)."""
    found = []
    for name, field in type(model).model_fields.items():
        if any(m is _LISTEN_CHECK for m in [*field.metadata, *_metadata(field.annotation)]):
            value = getattr(model, name)
            if isinstance(value, str):
                found.append((name, value))
    return found


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); a wildcard or LAN address,
    or any other name, is not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
