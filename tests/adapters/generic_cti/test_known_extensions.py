"""``mapping report`` asks the CTI listener which extensions it knows: only those it has heard of.

A push-only PBX cannot be asked which extensions exist, so the answer is never complete: an
extension without an event yet is "not seen yet", not unknown.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import KnowsExtensions
from tests.adapters.generic_cti.conftest import Running
from tests.adapters.generic_cti.harness import key, post


async def test_an_extension_is_known_once_the_pbx_posted_an_event_about_it(cti: Running) -> None:
    assert isinstance(cti.adapter, KnowsExtensions)
    before = await cti.adapter.known_extensions()
    assert before is not None and before.extensions == frozenset() and not before.complete
    assert (await post(cti.adapter, {"extension": "1001", "line": "in_call"})).status_code == 202
    after = await cti.adapter.known_extensions()
    assert after is not None
    assert after.extensions == {"1001"}
    assert not after.complete  # 1002 is "not seen yet", never "does not exist"
    assert "since it started" in after.source


async def test_an_extension_nobody_maps_is_not_listed(start_cti: Callable[..., object]) -> None:
    cti: Running = await start_cti(mapped=lambda k: k == key("1001"))  # type: ignore[misc]
    await post(cti.adapter, [{"extension": "1001", "dnd": "on"}, {"extension": "9999", "dnd": "on"}])
    known = await cti.adapter.known_extensions()
    assert known is not None and known.extensions == {"1001"}
