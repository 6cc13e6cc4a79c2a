"""Reading configuration YAML so every key path knows its line, and ``${ENV_VAR}`` substitution.

Duplicate keys are problems (the later value would silently win); unquoted numbers under
``extension``/``context``/``device``/``tenant_id``/``client_id`` keep their text (``0123`` stays
``"0123"``). ``<name>_file`` gives its line to ``<name>`` (the secret read from it). ``${VAR}`` is
substituted in every string value before validation, so it works in any key; a value made only of
``${VAR}`` references comes out as ``FromEnvironment`` (so a secret can tell it was not written
inline).

**Hostile documents.** The node tree is checked before any Python value is built from it:

- Anchors and aliases are allowed (sharing one mapping block among a few people or adapters is
  what they are for) but capped: all aliases together may repeat at most ``MAX_ALIAS_NODES``
  nodes. Refusing them outright would break such files for no gain; not capping them lets an
  835-byte "billion laughs" file expand to gigabytes in validation. The count is done on the
  composed graph, where each alias is one shared node, so a bomb costs nothing to refuse.
- An alias inside the node it refers to (a loop) is refused, and so is nesting deeper than
  ``MAX_DEPTH`` levels (a real configuration is under ten; every later step recurses).
- A scalar that cannot become a value (a 5,000-digit integer, the date 2001-13-45) is found and
  reported at its line instead of escaping as a ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from bridge.config_report import KeyPath, Report
from bridge.errors import ConfigError
from bridge.kit.config_types import FromEnvironment

MAX_ALIAS_NODES = 10_000  # nodes all aliases together may repeat
MAX_DEPTH = 32  # nesting levels

_KEEP_TEXT_KEYS = frozenset({"extension", "context", "device", "tenant_id", "client_id"})
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# libyaml's loader when PyYAML was built with it: the same nodes and marks, faster (10,000 people
# inline: 3 s instead of 10 s for the whole load)
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str, report: Report) -> Any:
    """The document's data, with every key path's line in ``report.lines``."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_shape(node, report.source)
        data = _construct(loader, node, report.source) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{report.source}:{line}: (yaml): {exc.problem or exc.context}"]) from exc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, most controls)
        line = text.count("\n", 0, exc.position) + 1
        problem = f"{exc.reason} (character {exc.character!r})"
        raise ConfigError([f"{report.source}:{line}: (yaml): {problem}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{report.source}:1: (yaml): {exc}"]) from exc
    finally:
        loader.dispose()
    if node is not None:
        _walk(node, data, (), report)
    return data


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _check_shape(root: yaml.Node, source: str) -> None:
    """Refuse alias loops, alias expansion beyond ``MAX_ALIAS_NODES`` and nesting beyond ``MAX_DEPTH``.

    One depth-first pass over the composed graph, without recursion: a node met again while it is
    on the current path is a loop; met again after it was finished, an alias repeating its
    (expanded) size and height.
    """

    def refuse(node: yaml.Node, message: str) -> ConfigError:
        return ConfigError([f"{source}:{_line(node)}: (yaml): {message}"])

    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path = {id(root)}
    stack = [(root, iter(_children(root)), 1)]
    repeated = 0
    while stack:
        node, pending, depth = stack[-1]
        child = next(pending, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            kids = _children(node)
            size[id(node)] = 1 + sum(size[id(kid)] for kid in kids)
            height[id(node)] = 1 + max((height[id(kid)] for kid in kids), default=0)
            continue
        if id(child) in on_path:
            raise refuse(child, "an alias refers to the node that contains it (a loop)")
        if id(child) in size:
            repeated += size[id(child)]
            if repeated > MAX_ALIAS_NODES:
                raise refuse(
                    child,
                    f"aliases of this anchor (and others) repeat more than {MAX_ALIAS_NODES:,} nodes; "
                    "write the shared part out, or import people from a CSV file",
                )
            if depth + height[id(child)] > MAX_DEPTH:
                raise refuse(child, f"nested deeper than {MAX_DEPTH} levels (through an alias)")
            continue
        if depth >= MAX_DEPTH:
            raise refuse(child, f"nested deeper than {MAX_DEPTH} levels")
        on_path.add(id(child))
        stack.append((child, iter(_children(child)), depth + 1))


def _construct(loader: yaml.SafeLoader, root: yaml.Node, source: str) -> Any:
    """The document's value; a scalar PyYAML cannot build (``ValueError`` and kin) named at its line."""
    try:
        return loader.construct_document(root)
    except yaml.YAMLError:
        raise
    except Exception as exc:  # PyYAML's constructors raise plain errors for bad scalars
        line, message = _failing_scalar(loader, root) or (_line(root), f"{type(exc).__name__}: {exc}")
        raise ConfigError([f"{source}:{line}: (yaml): {message}"]) from exc


def _failing_scalar(loader: yaml.SafeLoader, root: yaml.Node) -> tuple[int, str] | None:
    """The first scalar whose constructor fails, and why (the value itself is not shown: it may
    be a secret)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(reversed(_children(node)))
        constructor = loader.yaml_constructors.get(node.tag) if isinstance(node, yaml.ScalarNode) else None
        if constructor is None:
            continue
        try:
            constructor(loader, node)
        except Exception as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]
            if kind == "int" and len(node.value) > 1000:
                return _line(node), f"number too long ({len(node.value):,} characters)"
            return _line(node), f"not a valid {kind}: {exc}"
    return None


def _walk(node: yaml.Node, data: Any, path: KeyPath, report: Report) -> None:
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        by_text = {str(k): k for k in data}
        seen: set[str] = set()
        for key_node, value_node in node.value:
            text = str(key_node.value)
            child = (*path, text)
            report.lines[child] = key_node.start_mark.line + 1
            if text in seen:
                report.add(child, "duplicate key (the later value would silently win)")
                continue
            seen.add(text)
            if text.endswith("_file"):
                report.lines.setdefault((*path, text.removesuffix("_file")), report.lines[child])
            key = by_text.get(text)
            if key is None:
                continue
            value = data[key]
            if text in _KEEP_TEXT_KEYS and isinstance(value_node, yaml.ScalarNode):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    data[key] = value_node.value  # 0123 stays "0123", not 83
            _walk(value_node, data[key], child, report)
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            report.lines[(*path, i)] = item_node.start_mark.line + 1
            _walk(item_node, item, (*path, i), report)


def substitute_env(data: Any, path: KeyPath, environ: Mapping[str, str], report: Report) -> Any:
    """``data`` with ``${VAR}`` replaced in every string; an unset variable is a problem at its key."""
    if isinstance(data, dict):
        for key in list(data):
            data[key] = substitute_env(data[key], (*path, key), environ, report)
        return data
    if isinstance(data, list):
        return [substitute_env(v, (*path, i), environ, report) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:
        missing = [name for name in _ENV.findall(data) if name not in environ]
        if missing:
            report.add(path, f"environment variable {', '.join(missing)} is not set")
            return data
        value = _ENV.sub(lambda m: environ[m.group(1)], data)
        return FromEnvironment(value) if not _ENV.sub("", data).strip() else value
    return data
