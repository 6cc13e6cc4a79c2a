"""One metrics registry per running service, on ``prometheus_client`` (real metric types).

Components get a :class:`Metrics` through their constructor and ask it for their instruments by
name: ``counter`` (exported as ``<namespace>_<name>_total``, monotonic), ``gauge`` (a level that
goes up and down, or a callback read at scrape time) and ``histogram`` (durations in seconds).
Asking twice for the same name returns the same instrument, so two adapters of one kind share a
family and differ by label. Names follow Prometheus conventions (base units, ``_seconds``,
``_bytes``; no ``_total`` on the name you pass: the client adds it). Labels name components
(adapter, tenant, kind, reason), never people: a label per person would grow without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_NAMESPACE = "presence_bridge"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Reading = Callable[[], Iterable[tuple[Sequence[str], float]]]


class _Callbacks(Collector):
    """Families whose values are read from their owner at scrape time (the "custom collector"
    pattern of prometheus_client, for counts a component keeps itself)."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[bool, str, tuple[str, ...], Reading]] = {}

    def add(
        self, counter: bool, name: str, documentation: str, labelnames: tuple[str, ...], read: Reading
    ) -> None:
        if name in self._families:
            raise ValueError(f"metric {name!r} already registered")
        self._families[name] = (counter, documentation, labelnames, read)

    def collect(self) -> Iterator[Metric]:
        for name, (counter, documentation, labelnames, read) in self._families.items():
            family: CounterMetricFamily | GaugeMetricFamily = (
                CounterMetricFamily(name, documentation, labels=list(labelnames))
                if counter
                else GaugeMetricFamily(name, documentation, labels=list(labelnames))
            )
            for labels, value in read():
                family.add_metric(list(labels), value)
            yield family


class Metrics:
    """A :class:`CollectorRegistry` with get-or-create instruments under one namespace."""

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self.registry = CollectorRegistry()
        self._instruments: dict[str, MetricWrapperBase] = {}
        self._callbacks = _Callbacks()
        self.registry.register(self._callbacks)

    def _full(self, name: str) -> str:
        if name.endswith("_total"):
            raise ValueError(f"metric {name!r}: pass the name without _total (the client adds it)")
        return f"{self.namespace}_{name}"

    def _get(
        self, kind: type[MetricWrapperBase], name: str, labelnames: Sequence[str]
    ) -> MetricWrapperBase | None:
        existing = self._instruments.get(name)
        if existing is None:
            return None
        if type(existing) is not kind or tuple(existing._labelnames) != tuple(labelnames):
            raise ValueError(f"metric {name!r} already registered as another kind or with other labels")
        return existing

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        found = self._get(Counter, name, labelnames)
        if found is None:
            found = Counter(self._full(name), documentation, labelnames, registry=self.registry)
            self._instruments[name] = found
        assert isinstance(found, Counter)
        return found

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        found = self._get(Gauge, name, labelnames)
        if found is None:
            found = Gauge(self._full(name), documentation, labelnames, registry=self.registry)
            self._instruments[name] = found
        assert isinstance(found, Gauge)
        return found

    def histogram(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        found = self._get(Histogram, name, labelnames)
        if found is None:
            found = Histogram(
                self._full(name), documentation, labelnames, registry=self.registry, buckets=buckets
            )
            self._instruments[name] = found
        assert isinstance(found, Histogram)
        return found

    def gauge_callback(
        self, name: str, documentation: str, read: Reading, labelnames: Sequence[str] = ()
    ) -> None:
        """A gauge family whose samples ``read()`` yields at scrape time as ``(label values, value)``."""
        self._callbacks.add(False, self._full(name), documentation, tuple(labelnames), read)

    def counter_callback(
        self, name: str, documentation: str, read: Reading, labelnames: Sequence[str] = ()
    ) -> None:
        """A counter family (``_total``) read at scrape time from counts its owner keeps (monotonic)."""
        self._callbacks.add(True, self._full(name), documentation, tuple(labelnames), read)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The current value of one exported sample (full sample name, e.g. ``..._total``)."""
        return self.registry.get_sample_value(f"{self.namespace}_{name}", labels or {})

    def render(self) -> bytes:
        return generate_latest(self.registry)
