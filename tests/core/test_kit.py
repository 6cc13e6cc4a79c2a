"""The foundation kit: one backoff, one health tracker, one supervisor, one metrics registry."""

from __future__ import annotations

import logging
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.kit.backoff import Backoff
from bridge.kit.clock import FakeClock
from bridge.kit.health import Health, HealthTracker
from bridge.kit.metrics import Metrics
from bridge.kit.supervisor import Supervisor


def test_backoff_doubles_within_equal_jitter_and_caps() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


def test_backoff_never_zero_even_when_the_rng_says_zero() -> None:
    class Zero(random.Random):
        def random(self) -> float:
            return 0.0

    assert Backoff(initial=2.0, maximum=2.0, rng=Zero()).next() == 1.0


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="initial <= maximum"):
        Backoff(initial=10, maximum=1)


def test_health_logs_each_transition_once_and_recovery_once(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[Health] = []
    tracker = HealthTracker("ami pbx1", logging.getLogger("t"), on_change=lambda h, _d: heard.append(h))
    caplog.set_level(logging.INFO, logger="t")
    assert tracker.set(Health.CONNECTING, "dialling")
    assert tracker.set(Health.CONNECTED, "logged in")
    for _ in range(5):
        tracker.set(Health.TRANSIENT_DISCONNECT, "connection reset")
    tracker.set(Health.CONNECTED, "logged in")
    assert heard == [Health.CONNECTING, Health.CONNECTED, Health.TRANSIENT_DISCONNECT, Health.CONNECTED]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4
    assert "recovered" in lines[-1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert tracker.readiness == "ok"


def test_bad_credentials_is_an_error_line() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("t.bad")
    logger.addHandler(Keep())
    tracker = HealthTracker("graph contoso", logger)
    tracker.set(Health.BAD_CREDENTIALS, "invalid_client")
    assert [r.levelno for r in records] == [logging.ERROR]
    assert tracker.readiness == "failed"


async def test_supervisor_restarts_a_failing_body_with_backoff_and_stops_cleanly() -> None:
    clock = FakeClock()
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError("boom")
        await clock.sleep(3600)

    supervisor = Supervisor(clock, logging.getLogger("t.sup"), rng=random.Random(1), initial=1.0, maximum=4.0)
    task = supervisor.spawn("pump", body)
    await clock.settle()
    assert runs == 1
    await clock.advance(1.0)  # first delay is within [0.5, 1]
    assert runs == 2
    await clock.advance(2.0)  # second within [1, 2]
    assert runs == 3
    assert supervisor.restarts["pump"] == 2
    assert supervisor.running == ["pump"]
    with pytest.raises(ValueError, match="already running"):
        supervisor.spawn("pump", body)
    await supervisor.stop()
    assert task.done()
    assert supervisor.running == []


def test_metrics_counters_are_counters_with_total() -> None:
    metrics = Metrics()
    rejected = metrics.counter("adapter_rejected_frames", "Frames we could not read", ["adapter"])
    rejected.labels(adapter="pbx1").inc(3)
    assert metrics.counter("adapter_rejected_frames", "again", ["adapter"]) is rejected
    metrics.gauge("sessions_live", "Live sessions").set(12)
    metrics.gauge_callback("adapter_up", "1 while connected", lambda: [(("pbx1",), 1.0)], ["adapter"])
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    assert families["presence_bridge_adapter_rejected_frames"].type == "counter"
    sample = families["presence_bridge_adapter_rejected_frames"].samples[0]
    assert (sample.name, sample.labels, sample.value) == (
        "presence_bridge_adapter_rejected_frames_total",
        {"adapter": "pbx1"},
        3.0,
    )
    assert families["presence_bridge_sessions_live"].type == "gauge"
    assert families["presence_bridge_adapter_up"].samples[0].value == 1.0
    assert metrics.value("adapter_rejected_frames_total", {"adapter": "pbx1"}) == 3.0


def test_metrics_refuses_a_name_reused_with_another_kind_or_total_suffix() -> None:
    metrics = Metrics()
    metrics.counter("events", "x")
    with pytest.raises(ValueError, match="another kind"):
        metrics.gauge("events", "x")
    with pytest.raises(ValueError, match="without _total"):
        metrics.counter("events_total", "x")


def test_counter_callback_exports_counts_kept_elsewhere_as_a_counter() -> None:
    metrics = Metrics()
    counts = {"pbx1": 4, "pbx2": 0}
    def read() -> list[tuple[tuple[str], float]]:
        return [((name,), float(n)) for name, n in counts.items()]

    metrics.counter_callback("adapter_events", "Events read", read, ["adapter"])
    counts["pbx1"] += 1
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    family = families["presence_bridge_adapter_events"]
    assert family.type == "counter"
    assert {s.labels["adapter"]: s.value for s in family.samples if s.name.endswith("_total")} == {
        "pbx1": 5.0,
        "pbx2": 0.0,
    }
