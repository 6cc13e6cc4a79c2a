"""The service's numbers on its one :class:`~bridge.kit.metrics.Metrics` registry (``/metrics``).

``service_readings`` lists every number the running parts keep (engine, service, adapters'
``counters``, each tenant's publisher/Graph/budget and watcher ``stats()``, the state store's
counters, health and alarms);
:class:`ServiceMetrics` exports them as the families ``metric_table`` declares, through the
registry's callbacks. One scrape reads every component once (``refresh``), so a scrape costs one
``stats()`` per component however many families there are.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from bridge.kit.health import Health
from bridge.kit.metrics import Metrics
from bridge.runtime.metric_table import LABELS, Kind, Reading, Source, declared, is_declared

if TYPE_CHECKING:
    from bridge.runtime.service import BridgeService

log = logging.getLogger(__name__)

Samples = list[tuple[Sequence[str], float]]


def service_readings(service: BridgeService) -> Iterator[Reading]:
    """Every number of a running service, each once, under its exported name."""
    for key, count in service.engine.counters.items():
        yield Reading(f"engine_{key}", Source.ENGINE, (), float(count))
    for key, count in service.counters.items():
        yield Reading(f"service_{key}", Source.SERVICE, (), float(count))
    yield Reading("alarms", Source.SERVICE, (), float(len(service.alarms())))
    yield Reading("store_healthy", Source.SERVICE, (), _up(service.store.health))
    for key, count in service.store.counters.items():
        yield Reading(f"store_{key}", Source.SERVICE, (), float(count))
    for name, adapter in service.adapters.items():
        yield Reading("adapter_healthy", Source.ADAPTER, (name,), _up(adapter.health))
        for key, count in adapter.counters.items():
            yield Reading(f"adapter_{key}", Source.ADAPTER, (name,), float(count))
    for name, tenant in service.tenants.items():
        yield Reading("graph_healthy", Source.TENANT, (name,), _up(tenant.publisher.health))
        for key, value in tenant.publisher.stats().items():
            yield Reading(key, Source.TENANT, (name,), float(value))
    for name, watcher in service.watchers.items():
        for key, value in watcher.stats().items():
            yield Reading(key, Source.TENANT, (name,), float(value))


def _up(health: Health) -> float:
    return 1.0 if health is Health.CONNECTED else 0.0


class ServiceMetrics:
    """Exports readings as declared families; an undeclared name is exported too and logged once."""

    def __init__(self, metrics: Metrics, read: Callable[[], Iterable[Reading]]) -> None:
        self.metrics = metrics
        self._read = read
        self._latest: dict[str, Samples] = {}
        self._bound: set[str] = set()
        self.undeclared: set[str] = set()

    def refresh(self) -> dict[str, Samples]:
        """Read every component once; families seen for the first time are registered."""
        latest: defaultdict[str, Samples] = defaultdict(list)
        for reading in self._read():
            latest[reading.name].append((reading.labels, reading.value))
            if reading.name not in self._bound:
                self._bind(reading)
        self._latest = latest
        return latest

    def render(self) -> bytes:
        """The Prometheus text exposition of the current values."""
        self.refresh()
        return self.metrics.render()

    def _bind(self, reading: Reading) -> None:
        spec = declared(reading)
        if not is_declared(reading.name):
            self.undeclared.add(reading.name)
            log.warning(
                "metric %s is not declared in bridge/runtime/metric_table.py; exported as a %s",
                reading.name,
                spec.kind.value,
            )
        register = self.metrics.counter_callback if spec.kind is Kind.COUNTER else self.metrics.gauge_callback
        name = reading.name
        register(name, spec.help, lambda: self._latest.get(name, []), spec.labels)
        self._bound.add(name)


def flat(readings: Iterable[Reading]) -> dict[str, float]:
    """Readings as ``name|label=value`` -> value (``BridgeService.stats()``, for logs and tests)."""
    out: dict[str, float] = {}
    for reading in readings:
        label = ",".join(f"{k}={v}" for k, v in zip(LABELS[reading.source], reading.labels, strict=True))
        out[f"{reading.name}|{label}" if label else reading.name] = reading.value
    return out
