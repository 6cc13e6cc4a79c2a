"""``presence-bridge check`` for a SIP account against the Kamailio lab: the words an admin reads.

What a user would notice if this broke: ``check`` says ok while the PBX refuses the watcher, or
says something that does not lead to the fix (which password, which realm, which address).
"""

from __future__ import annotations

import io
import random
import socket
from typing import Any

from adapters.base import AdapterDeps
from adapters.sip_blf.adapter import SipBlfAdapter
from adapters.sip_blf.config import SipBlfConfig
from bridge.kit.clock import FakeClock
from bridge.runtime.check import check_adapter
from tests.sip.real_time import following_real_time
from tests.sip_lab.fixtures import LabFactory


def account(port: int, **settings: Any) -> SipBlfAdapter:
    config = SipBlfConfig.model_validate({"host": "127.0.0.1", "port": port, "user": "watcher"} | settings)
    deps = AdapterDeps(FakeClock(), random.Random(5), watched=lambda name: frozenset({"1001", "1002"}))
    return SipBlfAdapter("pbx", config, deps)


async def checked(adapter: SipBlfAdapter) -> tuple[bool, str]:
    out = io.StringIO()
    assert isinstance(adapter.clock, FakeClock)
    async with following_real_time(adapter.clock):
        ok = await check_adapter("pbx", adapter, out)
    return ok, out.getvalue()


async def test_an_open_lab_accepts_the_watcher(make_lab: LabFactory) -> None:
    lab = make_lab()
    ok, said = await checked(account(lab.port, events=["dialog", "presence"]))
    assert ok, said
    where = f"watcher at 127.0.0.1:{lab.port} over UDP"
    assert said.splitlines() == [
        f"  ok   adapter pbx: {where}: the 'dialog' subscription to 1001 is active",
        f"  ok   adapter pbx: {where}: the 'presence' subscription to 1001 is active",
    ]


async def test_a_wrong_password_names_the_realm_and_the_fix(make_lab: LabFactory) -> None:
    lab = make_lab(auth=True)
    ok, said = await checked(account(lab.port, password="not-the-lab-password"))
    assert not ok
    assert said.startswith(f"  FAIL adapter pbx: watcher at 127.0.0.1:{lab.port} over UDP: 'dialog' ")
    assert f"the PBX refused the password of watcher for realm '{lab.realm}' (407 again" in said
    assert "fix the adapter's password (or password_file)" in said
    assert "not-the-lab-password" not in said


async def test_no_password_where_the_pbx_asks_for_one(make_lab: LabFactory) -> None:
    lab = make_lab(auth=True)
    ok, said = await checked(account(lab.port, transport="tcp"))
    assert not ok
    assert f"watcher at 127.0.0.1:{lab.port} over TCP" in said
    assert f"the PBX asks watcher for a password for realm '{lab.realm}' (407)" in said
    assert "set password (or password_file)" in said


async def test_silence_names_the_address_and_the_firewall() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as deaf:  # bound, never answers
        deaf.bind(("127.0.0.1", 0))
        adapter = account(deaf.getsockname()[1])
        assert isinstance(adapter.clock, FakeClock)
        async with following_real_time(adapter.clock):
            answers = await adapter.check_account(0.5)
    port = adapter.config.server_port
    assert answers == [
        (
            False,
            f"watcher at 127.0.0.1:{port} over UDP: no answer to a 'dialog' SUBSCRIBE within 0.5 s: "
            "check host, port and transport, and that no firewall drops SIP between this host and the PBX",
        )
    ]
