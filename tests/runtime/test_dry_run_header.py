"""The dry run (``presence-bridge demo -c FILE``): its header names the real adapters' latest event.

Issue 10, item 9: the header always said "last PBX event: -" whatever the PBX did.
"""

from __future__ import annotations

from pathlib import Path

from bridge.config import load_config_text
from bridge.dry_run import dry_running, frame
from bridge.kit.clock import FakeClock
from bridge.model import LineState, StateChange
from tests.runtime.rig import send
from tests.runtime.support import eventually

CONFIG = """
allow_inline_secrets: true
tenants:
  contoso:
    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10
    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38
    client_secret: not-sent-anywhere
people:
  - upn: alice@contoso.com
    tenant: contoso
    endpoints: [{adapter: pbx, extension: "1001"}]
adapters:
  pbx: {kind: generic_cti, token: rig-cti-token-0123456789, http_listen: 127.0.0.1:0}
state:
  path: %s
"""


def header(text: str) -> str:
    return text.splitlines()[0]


async def test_the_header_shows_the_last_event_the_pbx_sent(tmp_path: Path) -> None:
    config = load_config_text(CONFIG % (tmp_path / "production.db"), "<test>", environ={})
    async with dry_running(config, FakeClock()) as (service, handles):
        # the listener is up (it binds in the background); no phone event yet
        await eventually(lambda: "last PBX event: pbx CONNECTED" in header(frame(service, handles, 0.0)))
        await send(service.adapters["pbx"], "1001", line="in_call")
        await eventually(lambda: isinstance(service.last_event, StateChange))
        after = header(frame(service, handles, 2.0))
    assert after.endswith("last PBX event: pbx/1001 line=in_call"), after
    assert service.engine.people["alice@contoso.com"].decision.line is LineState.IN_CALL  # type: ignore[union-attr]
    assert not (tmp_path / "production.db").exists()
