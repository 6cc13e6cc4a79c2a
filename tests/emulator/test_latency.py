"""The latency model: Graph at internet distance, on the emulator's clock.

Expected values come from the spec text (a fixed delay, a uniform range, a log-normal given by
its median and p99) and the normal distribution's quantiles, never from the model's own code.
"""

from __future__ import annotations

import asyncio
from statistics import NormalDist, quantiles

import httpx
import pytest

from bridge.emulator.cli_config import EmulatorOptions, build_config
from bridge.emulator.latency import LatencyKind, LatencyModel, LatencySpec
from bridge.errors import ConfigError
from tests.emulator.graph_support import ADELE, Harness, harness, make_config
from tests.emulator.test_cli import parse


@pytest.mark.parametrize(
    ("text", "kind", "base", "jitter", "p99", "shown"),
    [
        ("0", LatencyKind.NONE, 0.0, 0.0, 0.0, "0ms"),
        ("0ms", LatencyKind.NONE, 0.0, 0.0, 0.0, "0ms"),
        ("80ms", LatencyKind.FIXED, 0.080, 0.0, 0.0, "80ms"),
        ("0.25s", LatencyKind.FIXED, 0.250, 0.0, 0.0, "250ms"),
        ("80ms+-20ms", LatencyKind.UNIFORM, 0.080, 0.020, 0.0, "80ms+-20ms"),
        (" 100ms ± 100ms ", LatencyKind.UNIFORM, 0.100, 0.100, 0.0, "100ms+-100ms"),
        ("80ms,p99=400ms", LatencyKind.LOGNORMAL, 0.080, 0.0, 0.400, "80ms,p99=400ms"),
        ("1s, p99 = 2.5s", LatencyKind.LOGNORMAL, 1.0, 0.0, 2.5, "1000ms,p99=2500ms"),
    ],
)
def test_specs_parse_to_the_delay_they_name(
    text: str, kind: LatencyKind, base: float, jitter: float, p99: float, shown: str
) -> None:
    spec = LatencySpec.parse(text)
    assert (spec.kind, spec.base, spec.jitter, spec.p99) == (kind, pytest.approx(base), jitter, p99)
    assert str(spec) == shown
    assert LatencySpec.parse(shown) == spec


@pytest.mark.parametrize(
    "text", ["80", "fast", "80ms+-90ms", "80ms,p99=40ms", "80ms,p99=80ms", "-5ms", "80ms,p50=100ms"]
)
def test_bad_specs_are_refused_with_the_accepted_forms_or_the_rule(text: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        LatencySpec.parse(text)


def _sample(text: str, n: int = 20_000, seed: int = 1) -> list[float]:
    model = LatencyModel(LatencySpec.parse(text), seed)
    return [model.next_delay() for _ in range(n)]


def test_fixed_delay_is_always_the_same() -> None:
    assert set(_sample("80ms", 100)) == {0.080}


def test_uniform_jitter_percentiles_match_the_range() -> None:
    samples = _sample("80ms+-20ms")
    assert 0.060 <= min(samples) and max(samples) <= 0.100
    deciles = quantiles(samples, n=10)
    for i, got in enumerate(deciles, start=1):
        assert got == pytest.approx(0.060 + 0.040 * i / 10, abs=0.001)  # U(60, 100): q-th = 60 + 40q


def test_long_tail_has_the_given_median_and_p99() -> None:
    samples = _sample("80ms,p99=400ms")
    cuts = quantiles(samples, n=1000)  # cuts[k - 1] is the k/1000 quantile
    unit = NormalDist()
    # log-normal: the q-quantile is median * (p99/median) ** (z(q) / z(0.99))
    for q, tolerance in ((0.10, 0.03), (0.50, 0.03), (0.90, 0.04), (0.99, 0.08)):
        expected = 0.080 * 5.0 ** (unit.inv_cdf(q) / unit.inv_cdf(0.99))
        assert cuts[round(q * 1000) - 1] == pytest.approx(expected, rel=tolerance), q
    assert cuts[499] == pytest.approx(0.080, rel=0.03)
    assert cuts[989] == pytest.approx(0.400, rel=0.08)
    assert min(samples) > 0


def test_the_same_seed_draws_the_same_delays() -> None:
    assert _sample("80ms,p99=400ms", 50, seed=7) == _sample("80ms,p99=400ms", 50, seed=7)
    assert _sample("80ms,p99=400ms", 50, seed=7) != _sample("80ms,p99=400ms", 50, seed=8)
    model = LatencyModel(LatencySpec.parse("80ms+-20ms"), seed=3)
    first = [model.next_delay() for _ in range(5)]
    model.reseed()
    assert [model.next_delay() for _ in range(5)] == first


async def _started(h: Harness, path: str) -> asyncio.Task[httpx.Response]:
    task = asyncio.ensure_future(h.call("GET", path))
    await h.clock.settle()
    return task


# Delays and steps are binary fractions (125 ms = 1/8 s) so the fake clock lands on them exactly.
TICK = 2**-10  # ~1 ms


async def test_a_graph_request_completes_exactly_after_the_modelled_delay() -> None:
    async with harness(make_config(latency=LatencySpec.parse("125ms"))) as h:
        token = asyncio.ensure_future(h.token())
        await h.clock.advance(0.125 - TICK)
        assert not token.done()  # the token endpoint is far away too
        await h.clock.advance(TICK)
        await token
        request = await _started(h, f"/users/{ADELE}/presence")
        await h.clock.advance(0.125 - TICK)
        assert not request.done()
        await h.clock.advance(TICK)
        assert request.done() and (await request).status_code == 200
        assert (await h.admin("GET", "/stats")).json()["latency_delayed"] == 2


async def test_a_write_takes_effect_at_the_end_of_its_delay() -> None:
    async with harness() as h:
        await h.token()
        h.emu.latency.set(LatencySpec.parse("125ms"))
        write = asyncio.ensure_future(h.set_presence(ADELE, "Busy", "InACall"))
        await h.clock.advance(0.125 - TICK)
        assert h.emu.presence_of(ADELE).availability == "Offline"
        await h.clock.advance(TICK)
        assert (await write).status_code == 200
        assert h.emu.presence_of(ADELE).availability == "Busy"


async def test_admin_changes_apply_from_the_next_request_and_read_back() -> None:
    async with harness() as h:
        await h.token()
        assert (await h.admin("GET", "/latency")).json() == {"latency": "0ms", "kind": "none", "seed": 0}
        response = await h.admin("PUT", "/latency", {"latency": "125ms", "seed": 5})
        assert response.json() == {"latency": "125ms", "kind": "fixed", "seed": 5}
        slow = await _started(h, f"/users/{ADELE}/presence")
        assert (await h.admin("PUT", "/latency", {"latency": "31.25ms"})).json()["seed"] == 5
        fast = await _started(h, f"/users/{ADELE}/presence")
        await h.clock.advance(0.03125)
        assert fast.done() and not slow.done()  # the waiting request keeps its 125 ms
        await h.clock.advance(0.125 - 0.03125)
        assert slow.done()
        assert (await h.admin("PUT", "/latency", {"latency": "0"})).json()["kind"] == "none"
        assert (await h.call("GET", f"/users/{ADELE}/presence")).status_code == 200  # no clock needed


@pytest.mark.parametrize("body", [{}, {"latency": 80}, {"latency": "soon"}, {"latency": "80ms", "seed": "x"}])
async def test_admin_refuses_a_bad_latency_with_graphs_error_shape(body: dict[str, object]) -> None:
    async with harness() as h:
        response = await h.admin("PUT", "/latency", body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BadRequest"
        assert (await h.admin("GET", "/latency")).json()["kind"] == "none"


async def test_the_same_seed_gives_the_same_timeline_after_reset() -> None:
    async with harness(make_config(latency=LatencySpec.parse("80ms,p99=400ms"), latency_seed=11)) as h:
        first = [h.emu.latency.next_delay() for _ in range(3)]
        await h.admin("POST", "/reset")
        assert [h.emu.latency.next_delay() for _ in range(3)] == first


def test_command_line_and_config_carry_the_latency() -> None:
    args = parse("--latency", "80ms,p99=400ms", "--latency-seed", "7")
    config = build_config(EmulatorOptions(latency=args.latency, latency_seed=args.latency_seed))
    assert config.latency == LatencySpec.parse("80ms,p99=400ms") and config.latency_seed == 7
    assert build_config(EmulatorOptions()).latency.kind is LatencyKind.NONE
    with pytest.raises(ConfigError) as err:
        build_config(EmulatorOptions(latency="80 msec"))
    assert any(p.startswith("--latency") for p in err.value.problems)
