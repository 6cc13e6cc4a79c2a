"""Reading configuration YAML so every key path knows its line, and ``${ENV_VAR}`` substitution.

Duplicate keys are problems (the later value would silently win); unquoted numbers under
``extension``/``context``/``device``/``tenant_id``/``client_id`` keep their text (``0123`` stays
``"0123"``). ``<name>_file`` gives its line to ``<name>`` (the secret read from it). ``${VAR}`` is
substituted in every string value before validation, so it works in any key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from bridge.config_report import KeyPath, Report
from bridge.errors import ConfigError

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
        data = loader.construct_document(node) if node is not None else {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{report.source}:{line}: (yaml): {exc.problem or exc.context}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{report.source}:1: (yaml): {exc}"]) from exc
    finally:
        loader.dispose()
    if node is not None:
        _walk(node, data, (), report)
    return data


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
        return _ENV.sub(lambda m: environ[m.group(1)], data)
    return data
