"""The parse table against the protocol as the PBX's manual states it (one row per console line).

The expected facts are written from the protocol description, not read from ``PBX_LINE``: a row
changed in the table by mistake fails here.
"""

import pytest
from bridge.model import EndpointKey, LineState, StateChange, Toggle

from lineproto import PBX_DND, PBX_LINE, parse

K = EndpointKey("pbx", "1001")

MANUAL = [
    ("EXT 1001 IDLE", StateChange(K, line=LineState.IDLE)),
    ("EXT 1001 RINGING", StateChange(K, line=LineState.RINGING)),
    ("EXT 1001 DIALING", StateChange(K, line=LineState.DIALING)),
    ("EXT 1001 INUSE", StateChange(K, line=LineState.IN_CALL)),
    ("EXT 1001 HOLD", StateChange(K, line=LineState.ON_HOLD)),
    ("EXT 1001 UNAVAILABLE", StateChange(K, line=LineState.UNAVAILABLE)),
    ("DND 1001 ON", StateChange(K, dnd=Toggle.ON)),
    ("DND 1001 OFF", StateChange(K, dnd=Toggle.OFF)),
    ("EXT  1001   INUSE ", StateChange(K, line=LineState.IN_CALL)),  # the console pads columns
]

NOT_FACTS = [
    "PING",  # keep-alive
    "",
    "EXT 1001",
    "EXT 1001 INUSE 12:00",  # a fourth column is a format we do not know
    "ext 1001 INUSE",  # the PBX's words are upper case
    "EXT 1001 ON",
    "DND 1001 INUSE",
    "DND 1001 MAYBE",
    "QUEUE 1001 PAUSED",
]


@pytest.mark.parametrize(("line", "fact"), MANUAL, ids=[line for line, _ in MANUAL])
def test_each_console_line_gives_its_fact(line: str, fact: StateChange) -> None:
    assert parse("pbx", line) == fact


@pytest.mark.parametrize("line", NOT_FACTS)
def test_anything_else_is_not_a_fact(line: str) -> None:
    assert parse("pbx", line) is None


def test_every_table_word_is_in_the_manual() -> None:
    """A word added to a table without a manual row here is untested."""
    documented = {line.split()[2] for line, _ in MANUAL}
    assert set(PBX_LINE) | set(PBX_DND) <= documented
