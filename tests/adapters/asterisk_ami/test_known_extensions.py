"""``mapping report`` asks the AMI adapter which extensions the PBX has (issue 10, item 9:
"7777 shows ok").

Against the fake AMI server replaying recorded Asterisk 22 bytes: the lab's ``ExtensionStateList``
(08_extensionstatelist) holds hints for 1001, 1002 and 1003, so 1001 exists and 7777 does not.
The ``DBGetTree Family: AMPUSER`` reply is SYNTHESIZED from the recorded shape of ``11_astdb``
(action 11-5: response, one ``DBGetTreeResponse`` per key with the ActionID last,
``DBGetTreeComplete``); the FreePBX user 2001 it lists has no hint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.parse import AstDbFact, DeviceFact, HintFact
from adapters.asterisk_ami.tracker import AmiTracker, ampuser_extensions
from adapters.base import Health, KnowsExtensions
from tests.adapters.asterisk_ami.fake_ami import LAB_REPLIES, FakeAmi, recorded
from tests.adapters.asterisk_ami.harness import Run

_TREE = recorded("11_astdb", "11-5")  # response, /DND/1001 = YES, /DND/1002 = "", complete


def ampuser_tree(entries: dict[str, str]) -> list[bytes]:
    """A DBGetTree reply for family AMPUSER holding ``entries`` (key below AMPUSER/ -> value)."""
    response, item, _, complete = _TREE
    items = [
        item.replace(b"Key: /DND/1001", f"Key: /AMPUSER/{k}".encode()).replace(
            b"Val: YES", f"Val: {v}".encode()
        )
        for k, v in entries.items()
    ]
    return [response, *items, complete.replace(b"ListItems: 2", f"ListItems: {len(items)}".encode())]


@pytest.fixture
async def lab() -> AsyncIterator[FakeAmi]:
    server = FakeAmi(
        {**LAB_REPLIES, "dbgettree:ampuser": ampuser_tree({"2001/cidname": "Zoe", "2001/device": "2001"})}
    )
    await server.start()
    yield server
    await server.close()


async def test_a_hinted_extension_exists_and_one_absent_from_the_pbx_does_not(lab: FakeAmi) -> None:
    async with Run(lab) as run:
        assert isinstance(run.adapter, KnowsExtensions)
        await run.until_health(Health.CONNECTED)
        known = await run.adapter.known_extensions()
    assert known is not None and known.complete
    assert "1001" in known.extensions  # hint in the recorded ExtensionStateList
    assert "7777" not in known.extensions  # nowhere on this PBX: the report flags UNKNOWN_ON_PBX
    assert "2001" in known.extensions  # a FreePBX user without a hint: AstDB AMPUSER
    assert known.source == "hints, devices, AstDB AMPUSER"
    assert len(lab.actions_named("DBGetTree")) == 3  # DEVICE, DND at the resync; AMPUSER on demand


async def test_without_an_ampuser_answer_the_hints_still_tell() -> None:
    server = FakeAmi(LAB_REPLIES)  # DBGetTree AMPUSER: "Invalid/unknown command"
    await server.start()
    try:
        async with Run(server) as run:
            await run.until_health(Health.CONNECTED)
            known = await run.adapter.known_extensions()
    finally:
        await server.close()
    assert known is not None and known.source == "hints, devices"
    assert {"1001", "1002", "1003"} <= known.extensions and "2001" not in known.extensions


async def test_not_connected_it_cannot_tell(lab: FakeAmi) -> None:
    await lab.refuse()
    async with Run(lab) as run:
        assert await run.adapter.known_extensions() is None


# --- which facts prove an extension exists (tracker.pbx_extensions), pure ------------------

CONFIG = AmiConfig(
    username="bridge", secret=SecretStr("bridgesecret"), devices={"PJSIP/3001": "3001", "PJSIP/3002": "3002"}
)
# (id, facts learnt, extension, exists?) -- the rule: the PBX's own definitions count, values we may
# have written ourselves (FreePBX DND, Custom:TEAMS lamps, presence) do not.
ROWS = [
    ("hint naming a phone", [HintFact("1001", "ext-local", ("PJSIP/1001",), 0)], "1001", True),
    ("hint naming a custom state", [HintFact("1001", "lab-hints", ("Custom:1001",), 0)], "1001", True),
    ("hint naming only FreePBX DND", [HintFact("1005", "ext-local", ("Custom:DND1005",), 0)], "1005", False),
    ("hint naming only our lamp", [HintFact("1006", "ext-local", ("Custom:TEAMS1006",), 0)], "1006", False),
    ("hint in our own BLF context", [HintFact("1007", "teams-blf", ("PJSIP/1007",), 0)], "1007", False),
    (
        "AstDB DEVICE user",
        [AstDbFact("DEVICE/99/dial", "PJSIP/99"), AstDbFact("DEVICE/99/user", "2002")],
        "2002",
        True,
    ),
    ("AstDB DND alone (we may have written it)", [AstDbFact("DND/7777", "YES")], "7777", False),
    ("config device the PBX lists", [DeviceFact("PJSIP/3001", "NOT_INUSE")], "3001", True),
    ("config device the PBX does not list", [], "3002", False),
    ("nothing at all", [], "7777", False),
]


@pytest.mark.parametrize(("facts", "extension", "exists"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_pbx_extensions(facts: list[object], extension: str, exists: bool) -> None:
    tracker = AmiTracker("pbx", CONFIG)
    tracker.learn(facts)  # type: ignore[arg-type]
    assert (extension in tracker.pbx_extensions()) is exists


def test_ampuser_extensions_are_the_second_path_element() -> None:
    facts = [
        AstDbFact("AMPUSER/2001/cidname", "Zoe"),
        AstDbFact("AMPUSER/2002/device", "2002"),
        AstDbFact("DND/9", "YES"),
    ]
    assert ampuser_extensions(facts) == {"2001", "2002"}
