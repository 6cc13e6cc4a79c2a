"""``presence-bridge mapping report`` asks each PBX which mapped extensions exist (issue 10, item 9:
"`mapping report` never asks the PBX whether an extension exists (7777 shows ok)").

The CLI runs as a subprocess, as an admin runs it. The PBX is the fake AMI server replaying recorded
Asterisk 22 bytes (hints 1001-1003; AMPUSER synthesized, see the adapter's test); a second AMI
adapter points at a closed port; a generic CTI listener has heard nothing. People are given by
object id, so Graph is not asked.
"""

from __future__ import annotations

import asyncio
import random
import socket
from pathlib import Path

import pytest

from adapters.asterisk_ami.adapter import AmiAdapter
from adapters.base import AdapterDeps, KnownExtensions
from bridge.config import load_config_text
from bridge.demo import PEOPLE
from bridge.kit.clock import FakeClock
from bridge.runtime.mapping_report import (
    AdapterAnswer,
    OnPbx,
    adapter_line,
    ask_adapter,
    on_pbx,
    person_pbx,
)
from tests.adapters.asterisk_ami.fake_ami import LAB_REPLIES, FakeAmi, ManagerUser
from tests.adapters.asterisk_ami.harness import ami_config
from tests.adapters.asterisk_ami.test_known_extensions import ampuser_tree
from tests.runtime.support import cli

ALICE, BOB, CAROL, DAVE, ERIN = (p.object_id for p in PEOPLE)
TENANT = (  # throwaway credentials, so written in the file (and allowed to be)
    "allow_inline_secrets: true\n"
    "tenants:\n  demo:\n    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10\n"
    "    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38\n    client_secret: never-used-here\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report_yaml(tmp: Path, ami_port: int, down_port: int) -> str:
    ami = "username: bridge, secret: bridgesecret, read_probe_timeout: 0.5, ping_interval: 3600"
    return TENANT + (
        "people:\n"
        f'  - {{id: {ALICE}, tenant: demo, name: Alice, endpoints: [{{adapter: ami, extension: "1001"}}]}}\n'
        f'  - {{id: {BOB}, tenant: demo, name: Bob, endpoints: [{{adapter: ami, extension: "7777"}}]}}\n'
        f'  - {{id: {CAROL}, tenant: demo, name: Carol, endpoints: [{{adapter: cti, extension: "1003"}}]}}\n'
        f'  - {{id: {DAVE}, tenant: demo, name: Dave, endpoints: [{{adapter: down, extension: "1004"}}]}}\n'
        f"  - {{id: {ERIN}, tenant: demo, name: Erin,\n"
        '     endpoints: [{adapter: ami, extension: "2001"}, {adapter: ami, extension: "8888"}]}\n'
        "adapters:\n"
        f"  ami: {{kind: asterisk_ami, host: 127.0.0.1, port: {ami_port}, {ami}}}\n"
        f"  down: {{kind: asterisk_ami, host: 127.0.0.1, port: {down_port}, {ami}}}\n"
        "  cti: {kind: generic_cti, token: a-long-enough-token, http_listen: 127.0.0.1:0}\n"
        f"state:\n  path: {tmp / 'state.db'}\n"
    )


async def test_an_extension_the_pbx_does_not_have_is_flagged(tmp_path: Path) -> None:
    replies = {**LAB_REPLIES, "dbgettree:ampuser": ampuser_tree({"2001/cidname": "Erin"})}
    pbx = FakeAmi(replies, user=ManagerUser())
    await pbx.start()
    try:
        config = tmp_path / "bridge.yaml"
        config.write_text(report_yaml(tmp_path, pbx.port, free_port()))
        load_config_text(config.read_text(), str(config), environ={})  # a valid configuration
        code, out, err = await cli("mapping", "report", "-c", str(config))
    finally:
        await pbx.close()
    assert code == 1, out + err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "exists" in lines["Alice"] and lines["Alice"].rstrip().endswith("ok")
    assert "UNKNOWN_ON_PBX: 7777 not on ami (looked in hints, devices, AstDB AMPUSER" in lines["Bob"]
    assert "not seen yet" in lines["Carol"] and lines["Carol"].rstrip().endswith("ok")
    assert "not checked" in lines["Dave"] and lines["Dave"].rstrip().endswith("ok")
    assert "2001 exists, 8888 unknown" in lines["Erin"] and "UNKNOWN_ON_PBX: 8888 not on ami" in lines["Erin"]
    adapters = [line.strip() for line in out.splitlines() if " adapter " in line]
    assert "ok   adapter ami: 2 of 4 mapped extension(s) exist (hints, devices, AstDB AMPUSER)" in adapters[0]
    assert adapters[1].startswith("FAIL adapter down: UNREACHABLE: TRANSIENT_DISCONNECT")
    assert adapters[2].startswith("info adapter cti: heard of 0 of 1 mapped extension(s)")
    assert "3 problem(s)" in out  # Bob, Erin, and the PBX that could not be asked


# --- the verdicts, pure: expected values from the module's documented meanings ---------------

LISTED = KnownExtensions(frozenset({"1001"}), complete=True, source="hints")
HEARD = KnownExtensions(frozenset({"1001"}), complete=False, source="events")
VERDICTS = [
    ("listed by the PBX", AdapterAnswer("pbx", LISTED), "1001", OnPbx.EXISTS),
    ("absent from the PBX's list", AdapterAnswer("pbx", LISTED), "7777", OnPbx.UNKNOWN),
    ("heard of by a listener", AdapterAnswer("pbx", HEARD), "1001", OnPbx.SEEN),
    ("not heard of by a listener", AdapterAnswer("pbx", HEARD), "7777", OnPbx.NOT_SEEN_YET),
    ("adapter unreachable", AdapterAnswer("pbx", unreachable="refused"), "1001", OnPbx.NOT_CHECKED),
    ("adapter cannot tell", AdapterAnswer("pbx"), "1001", OnPbx.NOT_CHECKED),
    ("adapter not asked", None, "1001", OnPbx.NOT_CHECKED),
]


@pytest.mark.parametrize(
    ("answer", "extension", "verdict"), [r[1:] for r in VERDICTS], ids=[r[0] for r in VERDICTS]
)
def test_on_pbx(answer: AdapterAnswer | None, extension: str, verdict: OnPbx) -> None:
    assert on_pbx(answer, extension) is verdict


ADAPTER_LINES = [
    (
        "complete answer",
        AdapterAnswer("a", LISTED),
        "ok   adapter a: 1 of 2 mapped extension(s) exist",
        False,
    ),
    ("listener", AdapterAnswer("a", HEARD), "info adapter a: heard of 1 of 2 mapped extension(s)", False),
    (
        "cannot tell",
        AdapterAnswer("a"),
        "info adapter a: cannot tell which extensions exist (2 not checked)",
        False,
    ),
    (
        "unreachable",
        AdapterAnswer("a", unreachable="BAD_CREDENTIALS: refused"),
        "FAIL adapter a: UNREACHABLE",
        True,
    ),
]


@pytest.mark.parametrize(
    ("answer", "start", "problem"), [r[1:] for r in ADAPTER_LINES], ids=[r[0] for r in ADAPTER_LINES]
)
def test_adapter_line(answer: AdapterAnswer, start: str, problem: bool) -> None:
    line, is_problem = adapter_line(answer, {"1001", "1002"})
    assert line.strip().startswith(start) and is_problem is problem


def test_an_ignored_endpoint_is_not_asked_about() -> None:
    config = load_config_text(
        TENANT
        + f"people:\n  - {{id: {ALICE}, tenant: demo, endpoints: [{{adapter: pbx, extension: '1001'}},\n"
        "      {adapter: pbx, extension: '7777', role: ignore}]}\n"
        "adapters:\n  pbx: {kind: generic_cti, token: a-long-enough-token, http_listen: 127.0.0.1:0}\n",
        "<test>",
        environ={},
    )
    cell, problem = person_pbx(config.people[0], {"pbx": AdapterAnswer("pbx", LISTED)})
    assert (cell, problem) == ("exists", "")


async def test_a_pbx_that_never_answers_is_unreachable_after_the_bound() -> None:
    pbx = FakeAmi(LAB_REPLIES)
    pbx.silent = True  # accepts the connection, never sends a byte
    await pbx.start()
    clock = FakeClock()
    try:
        adapter = AmiAdapter("ami", ami_config(pbx.port), AdapterDeps(clock, random.Random(1)))
        asking = asyncio.ensure_future(ask_adapter("ami", adapter, clock, 5.0))
        await asyncio.wait_for(pbx.until_actions("Login", 1), 5.0)  # real seconds: loopback I/O bound
        await clock.advance(5.0)
        answer = await asyncio.wait_for(asking, 5.0)
    finally:
        await pbx.close()
    assert answer.known is None
    assert answer.unreachable == "CONNECTING: no answer within 5 s"
    line, problem = adapter_line(answer, {"1001"})
    assert problem and "UNREACHABLE: CONNECTING: no answer within 5 s" in line
