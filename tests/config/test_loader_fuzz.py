"""Property: whatever the file holds, the loader gives a configuration or a ``ConfigError`` whose
every problem names a line (``file:N:``) and a field or the part of the file it is about; nothing
else escapes (so the CLI never prints a traceback). Three kinds of input: raw bytes (alone and
spliced into a good file), token-level mutations of a good file (YAML syntax, anchors and aliases,
tags, huge numbers, control characters), and structured mutations (values of every shape put at
real key paths, shared objects so the dumper writes anchors)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import load_config, load_config_text
from bridge.errors import ConfigError

ENV = {"GRAPH_SECRET": "graph-secret-value-1", "CTI_TOKEN": "cti-token-value-0123"}
BASE = """\
tenants:
  t1:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: ${GRAPH_SECRET}
    budget: {requests: 1200, window_seconds: 30}
adapters:
  pbx: {kind: generic_cti, token: "${CTI_TOKEN}", http_listen: "127.0.0.1:0"}
people:
  - upn: alice@contoso.com
    name: Alice
    endpoints: [{adapter: pbx, extension: "1001"}]
mapping:
  line: {in_call: Busy/InACall}
state: {path: state.db, start_wait_seconds: 30}
http: {listen: "127.0.0.1:9108"}
"""
SOURCE = "bridge.yaml"
TOKENS = [
    "&a ", "*a", "&b ", "*b", "<<: *a", "[", "]", "{", "}", ":", ": ", "- ", ", ", "\n", "\n  ", "? ",
    "!!int ", "!!float ", "!!binary ", "!!timestamp ", "!!set ", "!!python/object ", "!x ", "'", '"',
    "#", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "${GRAPH_SECRET}", "${UNSET}", "9" * 5000,
    "0x" + "f" * 5000, "1e999", "-.inf", ".nan", "2001-13-45", "~", "null", "yes", "\x00", "\x07",
    "\t", "\ufeff", "é", "\U0001f600", "\\", "\r\n",
]


def check_outcome(load: Any, source: str) -> None:
    """``load()`` succeeds or raises ConfigError whose problems read ``<source>:<line>: <what>: ...``
    (``what``: a key path, which may be any text the file used as a key, or ``(yaml)``, ``(file)``,
    ``(top level)``)."""
    shape = re.compile(rf"^{re.escape(source)}:\d+: \S.*?: \S", re.DOTALL)
    try:
        load()
    except ConfigError as exc:
        assert exc.problems, "a ConfigError must list its problems"
        for problem in exc.problems:
            assert shape.match(problem), f"names no line and field: {problem!r}"
            for secret in ENV.values():
                assert secret not in problem


def load_text(text: str) -> None:
    check_outcome(lambda: load_config_text(text, SOURCE, environ=ENV), SOURCE)


def load_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / SOURCE
        path.write_bytes(data)
        check_outcome(lambda: load_config(path, environ=ENV), str(path))


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes(data: bytes) -> None:
    load_bytes(data)


@FUZZ
@given(st.integers(0, len(BASE.encode())), st.binary(min_size=1, max_size=40))
def test_bytes_spliced_into_a_good_file(at: int, junk: bytes) -> None:
    raw = BASE.encode()
    load_bytes(raw[:at] + junk + raw[at:])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(BASE)), st.sampled_from(TOKENS)), min_size=1, max_size=6))
def test_token_mutations_of_a_good_file(edits: list[tuple[int, str]]) -> None:
    text = BASE
    for at, token in sorted(edits, reverse=True):
        text = text[:at] + token + text[at:]
    load_text(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "changeme", "127.0.0.1:99999", "[::1]", "0.0.0.0:1", "PT4M", "9" * 400]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
PATHS = [
    ("tenants",), ("tenants", "t1"), ("tenants", "t1", "tenant_id"), ("tenants", "t1", "client_secret"),
    ("tenants", "t1", "budget"), ("tenants", "t1", "budget", "requests"), ("tenants", "t1", "watch"),
    ("adapters",), ("adapters", "pbx"), ("adapters", "pbx", "kind"), ("adapters", "pbx", "token"),
    ("adapters", "pbx", "http_listen"), ("people",), ("people", 0), ("people", 0, "endpoints"),
    ("people", 0, "endpoints", 0, "extension"), ("people", 0, "mapping"), ("mapping",),
    ("mapping", "line"), ("mapping", "adapters"), ("state",), ("state", "path"), ("http", "listen"),
    ("allow_inline_secrets",), ("extra",),
]


def put(doc: Any, path: tuple[str | int, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if isinstance(doc, list):
        doc[int(path[-1])] = value
    else:
        doc[path[-1]] = value


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=4), st.booleans())
def test_structured_mutations(changes: list[tuple[tuple[str | int, ...], Any]], share: bool) -> None:
    doc = yaml.safe_load(BASE)
    for path, value in changes:
        try:
            put(doc, path, value)
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # an earlier change replaced the parent: the path no longer exists
    if share:  # the same object in two places: the dumper writes an anchor and an alias
        doc["mapping"] = doc.get("people") if isinstance(doc, dict) else None
    load_text(yaml.safe_dump(doc, allow_unicode=True))


def test_the_unmutated_file_loads() -> None:
    assert load_config_text(BASE, SOURCE, environ=ENV).people[0].name == "Alice"
