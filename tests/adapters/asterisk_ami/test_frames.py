"""The AMI framer: every split of every capture gives the same messages; bad input is counted."""

from __future__ import annotations

import random

import pytest

from adapters.asterisk_ami.frames import AmiMessage, FrameParser, encode_action
from tests.adapters.asterisk_ami.fixtures import connections, raw_names

CAPTURES = [(name, i) for name in raw_names() for i in range(len(connections(name)))]
WHOLE_CUT_LIMIT = 1000  # captures up to this size get every cut point over the whole stream


def _parse(chunks: list[bytes]) -> tuple[list[AmiMessage], FrameParser]:
    parser = FrameParser()
    return parser.feed_all(chunks), parser


def _frame_starts(data: bytes) -> list[int]:
    starts, i = [0], 0
    while (i := data.find(b"\r\n\r\n", i)) >= 0:
        i += 4
        starts.append(i)
    return starts


@pytest.mark.parametrize(("name", "conn"), CAPTURES, ids=[f"{n}#{c}" for n, c in CAPTURES])
def test_every_single_cut_point_yields_the_unsplit_messages(name: str, conn: int) -> None:
    data = connections(name)[conn]
    expected, parser = _parse([data])
    assert expected, "a capture always holds messages"
    assert parser.rejected_frames == parser.oversized_frames == 0
    if len(data) <= WHOLE_CUT_LIMIT:
        for cut in range(len(data) + 1):
            assert _parse([data[:cut], data[cut:]])[0] == expected, cut
        return
    # Larger captures: every cut point, each replayed on the window from the frame boundary before
    # the previous frame to the one after the next (the framer carries nothing across a blank line).
    starts = _frame_starts(data)
    for k in range(len(starts) - 1):
        lo, hi = starts[max(0, k - 1)], starts[min(len(starts) - 1, k + 2)]
        window = data[lo:hi]
        want = _parse([window])[0]
        for cut in range(starts[k] - lo, starts[k + 1] - lo + 1):
            assert _parse([window[:cut], window[cut:]])[0] == want, lo + cut


@pytest.mark.parametrize(("name", "conn"), CAPTURES, ids=[f"{n}#{c}" for n, c in CAPTURES])
def test_byte_at_a_time_and_random_multi_cuts_yield_the_same_messages(name: str, conn: int) -> None:
    data = connections(name)[conn]
    expected, _ = _parse([data])
    assert _parse([data[i : i + 1] for i in range(len(data))])[0] == expected
    rng = random.Random(f"{name}#{conn}")
    for _ in range(30):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(2, 40))))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert _parse(chunks)[0] == expected


def test_non_ascii_caller_name_survives_a_split_inside_a_character() -> None:
    data = connections("30_freepbx_synth")[0]
    at = data.index("Jürgen".encode()) + 1  # between the two bytes of "ü"
    messages, _ = _parse([data[: at + 1], data[at + 1 :]])
    names = [m.get("CallerIDName") for m in messages if m.event == "Newchannel"]
    assert names == ["Jürgen Müller-Åström"]
    away = [m.get("Message") for m in messages if m.event == "PresenceStateChange"]
    assert away == ["Mittagspause – zurück um 14 Uhr"]


def test_banner_gives_the_ami_version_and_is_not_a_message() -> None:
    messages, parser = _parse([connections("01_login_plain")[0]])
    assert parser.version == "11.0.0"
    assert messages[0].response == "Success" and messages[0].get("Message") == "Authentication accepted"


def test_empty_last_header_and_duplicate_headers_are_kept() -> None:
    # panoramisk strips an empty last header and folds duplicates into a list (traps 10, 5.6).
    messages, _ = _parse(connections("10_presence"))
    state = next(m for m in messages if m.get("PresenceMessage"))
    assert state.get_all("Message") == ["Presence State", "Busy in a meeting"]
    cleared = [m for m in messages if m.event == "PresenceStateChange" and m.get("Status") == "available"]
    assert cleared and cleared[0].headers[-1] == ("Message", "")


def test_garbage_lines_are_counted_and_the_stream_recovers() -> None:
    good = connections("07_devstate_dnd_hint")[0]
    expected, _ = _parse([good])
    junk = b"\x00\xff\xfe this is not a header\r\nmore junk\r\n\r\n"
    messages, parser = _parse([junk, good[:200], junk, good[200:]])
    assert parser.rejected_frames >= 1
    assert [m for m in messages if m.event] == [m for m in expected if m.event]


def test_oversized_frames_are_dropped_counted_and_bounded() -> None:
    parser = FrameParser(max_line=1024, max_headers=64)
    huge_line = b"Event: DeviceStateChange\r\nDevice: " + b"X" * 50_000 + b"\r\nState: INUSE\r\n\r\n"
    many = b"Event: Foo\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(100)) + b"\r\n"
    ok = b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\nState: INUSE\r\n\r\n"
    out: list[AmiMessage] = []
    for i in range(0, len(huge_line), 997):
        out += parser.feed(huge_line[i : i + 997])
        assert len(parser._buffer) <= 1024 + 997
    out += parser.feed(many + ok)
    assert parser.oversized_frames == 2
    assert [m.get("Device") for m in out] == ["PJSIP/1001"]


def test_encoded_actions_refuse_line_breaks() -> None:
    wire = encode_action("Setvar", [("Variable", "DEVICE_STATE(Custom:TEAMS1001)"), ("Value", "INUSE")], "7")
    assert wire.split(b"\r\n") == [
        b"Action: Setvar",
        b"ActionID: 7",
        b"Variable: DEVICE_STATE(Custom:TEAMS1001)",
        b"Value: INUSE",
        b"",
        b"",
    ]
    with pytest.raises(ValueError, match="line break"):
        encode_action("Setvar", [("Value", "dnd\r\nAction: Command")], "8")
