"""A synthetic but realistic population: N people with 1-3 endpoints each, as bridge YAML.

Most people have one desk phone; some add a softphone, a few a DECT handset too (seeded, so
every run builds the same population). Object ids are stable UUID-shaped strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bridge.config import BridgeConfig, load_config_text
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT, UserRecord
from bridge.model import EndpointKey

ADAPTER = "pbx"
DEVICES = ("desk", "soft", "dect")
ENDPOINT_WEIGHTS = (0.6, 0.3, 0.1)  # share of people with 1, 2 and 3 endpoints


@dataclass(frozen=True)
class Person:
    object_id: str
    extension: str
    endpoints: tuple[EndpointKey, ...]


def people(count: int, seed: int = 1) -> tuple[Person, ...]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        extension = str(10000 + n)
        how_many = rng.choices((1, 2, 3), ENDPOINT_WEIGHTS)[0]
        endpoints = tuple(EndpointKey(ADAPTER, extension, device=d) for d in DEVICES[:how_many])
        out.append(Person(f"00000000-0000-4000-8000-{n:012d}", extension, endpoints))
    return tuple(out)


def users(population: tuple[Person, ...]) -> tuple[UserRecord, ...]:
    return tuple(UserRecord(p.object_id, f"u{p.extension}@bench.example") for p in population)


def config_yaml(
    population: tuple[Person, ...],
    *,
    authority: str = "https://login.bench.example",
    graph_url: str = "https://graph.bench.example/v1.0",
    ca_file: Path | None = None,
    budget_requests: int = 1200,
    state_path: str = ":memory:",
    cti_token: str = "bench-cti-token-0123456789",
) -> str:
    lines = [
        "allow_inline_secrets: true",  # the emulator's demo app and a throwaway CTI token
        "tenants:",
        "  bench:",
        f"    tenant_id: {DEFAULT_TENANT}",
        f"    client_id: {DEFAULT_CLIENT_ID}",
        f"    client_secret: {DEFAULT_CLIENT_SECRET}",
        f"    authority: {authority}",
        f"    graph_url: {graph_url}",
        f"    budget: {{requests: {budget_requests}, window_seconds: 30}}",
    ]
    if ca_file is not None:
        lines.append(f"    ca_file: {ca_file}")
    lines.append("people:")
    for p in population:
        eps = ", ".join(
            f'{{adapter: {ADAPTER}, extension: "{e.extension}", device: {e.device}}}' for e in p.endpoints
        )
        lines.append(f"  - {{id: {p.object_id}, tenant: bench, endpoints: [{eps}]}}")
    lines += [
        "adapters:",
        f"  {ADAPTER}:",
        "    kind: generic_cti",
        f"    token: {cti_token}",
        "    http_listen: 127.0.0.1:0",
        "state:",
        f"  path: '{state_path}'",
    ]
    return "\n".join(lines) + "\n"


def bridge_config(population: tuple[Person, ...], **kw: object) -> BridgeConfig:
    return load_config_text(config_yaml(population, **kw), "<benchmark>", environ={})  # type: ignore[arg-type]
