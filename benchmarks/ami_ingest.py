"""Benchmark 2b: recorded AMI frames per second through the whole Asterisk adapter path, beside
panoramisk 1.4's parser alone on the same bytes in the same run (the ratio is the figure to keep).

The stream: every live event frame of the Asterisk 22 captures in ``tests/fixtures/asterisk-22``
(calls, queue, DND, presence; the FreePBX-shaped synthetic capture for PJSIP phones) that our
Login's ``Events: call,system,agent`` lets through, replicated over 10,000 extensions (10000-19999):
each copy rewrites the lab's numbers (1001, 2000, ...) to its own block of extensions, its channel
sequence numbers and unique ids, so every extension and channel name occurs and the tracker sees
realistic spread. Session-level frames (FullyBooted, Shutdown) are left out.

Ours: a fresh ``AmiAdapter`` logs in and resyncs over an in-memory wire (a scripted PBX answers
Login, DeviceStateList, ExtensionStateList, PresenceStateList, AstDB DEVICE/DND and QueueStatus
for all 10,000 extensions, FreePBX-shaped) so it is CONNECTED with a full tracker; then the stream
is fed in 4 KiB chunks to its session's ``data_received`` (framer -> routing -> parse -> tracker ->
canonical StateChanges to the adapter's emit callback, here a list). No socket, no event queue.

panoramisk: a fresh ``AMIProtocol`` (its ``data_received``: decode, split, ``Message.from_line``,
``handle_message`` -> ``factory.dispatch``) with a stub transport and a counting factory; no
``panoramisk.testing`` (it flips the global EOL, trap 25), utf8 as ``Manager`` sets it.

Best of 3 fresh runs each (median too), interleaved. Bar: ours/panoramisk >= 0.45.
"""

from __future__ import annotations

import asyncio
import gc
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from adapters.asterisk_ami.adapter import AmiAdapter
from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import AmiMessage, FrameParser
from adapters.asterisk_ami.protocol import AmiSession
from adapters.base import AdapterDeps, AdapterEvent, Health, HealthChange
from benchmarks.results import Bar, Result
from bridge.kit.clock import FakeClock
from bridge.model import StateChange

NAME = "ami_ingest"
RATIO_BAR = Bar(">=", 0.45)
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk-22"
LIVE_CAPTURES = (
    "06_devstate_events",
    "07_devstate_dnd_hint",
    "10_presence",
    "12_originate_local",
    "13_originate_denied",
    "14_originate_dial",
    "15_queue",
    "16_userevent",
    "20_panoramisk",
    "30_freepbx_synth",
)
# The lab's numbers (extensions, dialplan targets, a FreePBX device id): each copy maps them to its
# own block of bench extensions, in this order.
LAB_NUMBERS = ("1001", "1002", "1003", "1102", "2000", "2001", "2002", "2100", "2200", "9999")
FIRST_EXTENSION = 10_000
EXTENSIONS = 10_000
PASSES = 1  # full mode: the stream covers every extension this many times
QUICK_EXTENSIONS = 200
QUICK_PASSES = 1
CHUNK = 4096  # bytes per data_received
REPEATS = 3
EVENTS_MASK = frozenset({"call", "system", "agent", "all"})  # our Login's Events: (and "all")
SESSION_EVENTS = (b"Event: FullyBooted\r\n", b"Event: Shutdown\r\n")
QUEUE = "labqueue"
AGENT_EVERY = 10  # one extension in this many is a queue member (Local/<ext>@lab-agents)

_NUMBER = re.compile(rb"(?<![0-9])(" + b"|".join(n.encode() for n in LAB_NUMBERS) + rb")(?![0-9])")
_CHANNEL_SEQ = re.compile(rb"(?<=-)([0-9a-f]{8})(?=[;\r])")
_UNIQUEID = re.compile(rb"^((?:Uniqueid|Linkedid|DestUniqueid|DestLinkedid): \d+\.)(\d+)", re.MULTILINE)
_PRIVILEGE = re.compile(rb"^Privilege: ([^\r\n]*)", re.MULTILINE)


# --- the stream ---------------------------------------------------------------------------


def _capture_frames(name: str) -> list[bytes]:
    """All frames of a capture, every connection, each ending with its blank line."""
    data = (FIXTURES / f"{name}.server.raw").read_bytes()
    out: list[bytes] = []
    for line_block in re.split(rb"^#### connection \d+ ####\n", data, flags=re.MULTILINE):
        body = b"\n".join(line for line in line_block.split(b"\n") if not line.startswith(b"# "))
        if body.startswith(b"Asterisk Call Manager/"):
            body = body.split(b"\r\n", 1)[1]
        out += [chunk + b"\r\n\r\n" for chunk in body.split(b"\r\n\r\n") if chunk.strip()]
    return out


def _delivered(frame: bytes) -> bool:
    """A live event our session would get: all its classes granted, not a list item, not session-level."""
    if not frame.startswith(b"Event: ") or frame.startswith(SESSION_EVENTS):
        return False
    privilege = _PRIVILEGE.search(frame)
    if privilege is None:  # list items carry an ActionID and no Privilege
        return False
    classes = {c.strip() for c in privilege.group(1).decode().split(",")}
    return classes <= EVENTS_MASK


def template() -> list[bytes]:
    """The recorded live frames, capture after capture, in wire order."""
    return [f for name in LIVE_CAPTURES for f in _capture_frames(name) if _delivered(f)]


def extension(n: int, extensions: int) -> str:
    return str(FIRST_EXTENSION + n % extensions)


def _copy(frames: list[bytes], copy: int, extensions: int) -> list[bytes]:
    numbers = {
        lab.encode(): extension(copy * len(LAB_NUMBERS) + i, extensions).encode()
        for i, lab in enumerate(LAB_NUMBERS)
    }

    def rewrite(frame: bytes) -> bytes:
        frame = _NUMBER.sub(lambda m: numbers[m.group(1)], frame)
        frame = _CHANNEL_SEQ.sub(lambda m: b"%08x" % (copy * 256 + int(m.group(1), 16) % 256), frame)
        return _UNIQUEID.sub(lambda m: m.group(1) + str(copy * 1000 + int(m.group(2))).encode(), frame)

    return [rewrite(f) for f in frames]


def copies(extensions: int, passes: int) -> int:
    """How many rewritten copies of the template cover ``extensions`` ``passes`` times."""
    return -(-extensions * passes // len(LAB_NUMBERS))


def live_stream(extensions: int, passes: int) -> tuple[bytes, int]:
    """The replicated live bytes and their frame count."""
    frames = template()
    parts = [b"".join(_copy(frames, c, extensions)) for c in range(copies(extensions, passes))]
    return b"".join(parts), len(frames) * len(parts)


def stream_hints(extensions: int, passes: int) -> dict[str, tuple[str, str]]:
    """extension -> (context, hint) as the stream's ExtensionStatus frames state them, so the resync
    tells the adapter the same dialplan hints the live events then carry (a PBX in its steady state)."""
    lab: dict[str, tuple[str, str]] = {}
    for frame in template():
        if frame.startswith(b"Event: ExtensionStatus\r\n"):
            message = FrameParser().feed(frame)[0]
            lab[message.text("Exten")] = (message.text("Context"), message.text("Hint"))
    hints: dict[str, tuple[str, str]] = {}
    for copy in range(copies(extensions, passes)):
        numbers = {
            lab_n: extension(copy * len(LAB_NUMBERS) + i, extensions) for i, lab_n in enumerate(LAB_NUMBERS)
        }

        def renumber(match: re.Match[str], numbers: dict[str, str] = numbers) -> str:
            return numbers.get(match.group(1), match.group(1))

        for exten, (context, hint) in lab.items():
            hints[numbers.get(exten, exten)] = (
                context,
                re.sub(r"(?<![0-9])(\d{4})(?![0-9])", renumber, hint),
            )
    return hints


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- the scripted PBX for the login / resync prologue ---------------------------------------


def _frame(*headers: tuple[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n"


def _list(action_id: str, message: str, items: list[list[tuple[str, str]]], complete: str) -> bytes:
    """A list action's answer, shaped as recorded (response, items with ActionID, Complete)."""
    out = [
        _frame(("Response", "Success"), ("ActionID", action_id), ("EventList", "start"), ("Message", message))
    ]
    out += [_frame(*item[:1], ("ActionID", action_id), *item[1:]) for item in items]
    out.append(
        _frame(
            ("Event", complete),
            ("ActionID", action_id),
            ("EventList", "Complete"),
            ("ListItems", str(len(items))),
        )
    )
    return b"".join(out)


class ScriptedPbx:
    """Answers the adapter's actions for ``extensions`` FreePBX-shaped extensions (all idle)."""

    def __init__(self, extensions: int, hints: dict[str, tuple[str, str]] | None = None) -> None:
        self.extensions = [extension(n, extensions) for n in range(extensions)]
        self.hints = hints or {}
        self.actions: list[str] = []

    def answer(self, action: AmiMessage) -> bytes:
        name = (action.get("Action") or "").lower()
        self.actions.append(name)
        aid = action.get("ActionID") or ""
        exts = self.extensions
        if name == "login":
            return _frame(
                ("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")
            ) + (
                _frame(
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", "12"),
                    ("Status", "Fully Booted"),
                )
            )
        if name == "devicestatelist":
            items = [
                [("Event", "DeviceStateChange"), ("Device", f"PJSIP/{e}"), ("State", "NOT_INUSE")]
                for e in exts
            ]
            items += [
                [("Event", "DeviceStateChange"), ("Device", f"Custom:DND{e}"), ("State", "UNAVAILABLE")]
                for e in exts
            ]
            return _list(aid, "Device State Changes will follow", items, "DeviceStateListComplete")
        if name == "extensionstatelist":
            items = [
                [
                    ("Event", "ExtensionStatus"),
                    ("Exten", e),
                    ("Context", self.hints.get(e, ("ext-local", ""))[0]),
                    ("Hint", self.hints.get(e, ("", f"PJSIP/{e}&Custom:DND{e},CustomPresence:{e}"))[1]),
                    ("Status", "0"),
                    ("StatusText", "Idle"),
                ]
                for e in exts
            ]
            return _list(aid, "Extension Statuses will follow", items, "ExtensionStateListComplete")
        if name == "presencestatelist":
            items = [
                [
                    ("Event", "PresenceStateChange"),
                    ("Presentity", f"CustomPresence:{e}"),
                    ("Status", "available"),
                    ("Subtype", ""),
                    ("Message", ""),
                ]
                for e in exts
            ]
            return _list(aid, "Presence State Changes will follow", items, "PresenceStateListComplete")
        if name == "dbgettree" and action.get("Family") == "DEVICE":
            items = []
            for e in exts:
                items += [
                    [("Event", "DBGetTreeResponse"), ("Key", f"/DEVICE/{e}/dial"), ("Val", f"PJSIP/{e}")],
                    [("Event", "DBGetTreeResponse"), ("Key", f"/DEVICE/{e}/user"), ("Val", e)],
                    [("Event", "DBGetTreeResponse"), ("Key", f"/DEVICE/{e}/type"), ("Val", "fixed")],
                ]
            return _list(aid, "Result will follow", items, "DBGetTreeComplete")
        if name == "dbgettree":  # DND: nobody has it on
            return _frame(("Response", "Error"), ("ActionID", aid), ("Message", "Database entry not found"))
        if name == "queuestatus":
            items = [[("Event", "QueueParams"), ("Queue", QUEUE), ("Max", "0"), ("Strategy", "ringall")]]
            items += [
                [
                    ("Event", "QueueMember"),
                    ("Queue", QUEUE),
                    ("Name", f"Agent {e}"),
                    ("Location", f"Local/{e}@lab-agents"),
                    ("StateInterface", f"Custom:{e}"),
                    ("Membership", "static"),
                    ("InCall", "0"),
                    ("Status", "1"),
                    ("Paused", "0"),
                    ("PausedReason", ""),
                    ("Wrapuptime", "0"),
                ]
                for i, e in enumerate(exts)
                if i % AGENT_EVERY == 0
            ]
            return _list(aid, "Queue status will follow", items, "QueueStatusComplete")
        if name == "ping":
            return _frame(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"))
        return _frame(("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command"))


class _Transport:
    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def write(self, data: bytes) -> None:  # panoramisk's Ping/Login would go here: dropped
        pass


class _Wire:
    """The adapter's StreamWriter: every action written is answered on its StreamReader."""

    def __init__(self, reader: asyncio.StreamReader, pbx: ScriptedPbx) -> None:
        self._reader = reader
        self._pbx = pbx
        self._actions = FrameParser()
        self.transport = _Transport()

    def write(self, data: bytes) -> None:
        for action in self._actions.feed(data):
            answer = self._pbx.answer(action)
            asyncio.get_running_loop().call_soon(self._reader.feed_data, answer)

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.transport.close()

    async def wait_closed(self) -> None:
        return None


class _BenchAdapter(AmiAdapter):
    """The real adapter over the in-memory wire; what it emits goes to ``emitted``."""

    def __init__(self, config: AmiConfig, pbx: ScriptedPbx) -> None:
        super().__init__("pbx", config, AdapterDeps(FakeClock(), random.Random(5)))
        self._pbx = pbx
        self.emitted: list[AdapterEvent] = []
        self.connected = asyncio.Event()

    async def open_connection(
        self, host: str, port: int, tls: ssl.SSLContext | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"Asterisk Call Manager/11.0.0\r\n")
        return reader, _Wire(reader, self._pbx)  # type: ignore[return-value]

    def emit(self, event: AdapterEvent) -> None:
        self.emitted.append(event)
        if isinstance(event, HealthChange) and event.health is Health.CONNECTED:
            self.connected.set()

    @property
    def session(self) -> AmiSession:
        assert self._session is not None, "not connected"
        return self._session


def bench_config() -> AmiConfig:
    return AmiConfig(
        username="bridge", secret="bench-secret", ping_interval=3600.0, astdb_poll_interval=3600.0
    )


@dataclass
class OursRun:
    seconds: float
    frames: int
    changes: list[StateChange]
    snapshot_changes: int
    counters: dict[str, int] = field(default_factory=dict)


async def run_ours(extensions: int, pieces: list[bytes], hints: dict[str, tuple[str, str]]) -> OursRun:
    """One fresh adapter: login + resync over the wire (untimed), then ``pieces`` fed (timed)."""
    adapter = _BenchAdapter(bench_config(), ScriptedPbx(extensions, hints))
    await adapter.start()
    try:
        await asyncio.wait_for(adapter.connected.wait(), 60)
        snapshot = sum(
            len(e.changes) for e in adapter.emitted if not isinstance(e, StateChange | HealthChange)
        )
        adapter.emitted.clear()
        session = adapter.session
        before = session.parser.frames
        seconds = timed_feed(session.data_received, pieces)
        frames = session.parser.frames - before
        counters = adapter.counters
    finally:
        await adapter.stop()
    changes = [e for e in adapter.emitted if isinstance(e, StateChange)]
    return OursRun(seconds, frames, changes, snapshot, counters)


def timed_feed(feed: Callable[[bytes], object], pieces: list[bytes]) -> float:
    """Seconds ``feed`` takes over ``pieces``, the same way for both parsers: the stream itself (the
    benchmark's objects) frozen out of the collector's sight."""
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        for piece in pieces:
            feed(piece)
        return time.perf_counter() - start
    finally:
        gc.unfreeze()


class _Dispatcher:
    """panoramisk's Manager as far as ``AMIProtocol`` needs one: counts what it dispatches."""

    save_stream = None

    def __init__(self) -> None:
        self.frames = 0

    def dispatch(self, message: object) -> None:
        self.frames += 1


def run_panoramisk(pieces: list[bytes]) -> tuple[float, int]:
    """One fresh panoramisk 1.4 AMIProtocol over ``pieces``: (seconds, frames dispatched)."""
    from panoramisk.ami_protocol import AMIProtocol

    protocol = AMIProtocol()
    protocol.connection_made(_Transport())  # type: ignore[arg-type]
    dispatcher = _Dispatcher()
    protocol.factory = dispatcher
    protocol.encoding = "utf8"  # what Manager(encoding='utf8') sets
    seconds = timed_feed(protocol.data_received, pieces)
    return seconds, dispatcher.frames


# --- the benchmark -----------------------------------------------------------------------------


def _best_and_median(rates: list[float]) -> tuple[float, float]:
    ordered = sorted(rates)
    return ordered[-1], ordered[len(ordered) // 2]


def measure(extensions: int, passes: int, repeats: int = REPEATS) -> dict[str, object]:
    data, expected = live_stream(extensions, passes)
    pieces = chunks(data)
    hints = stream_hints(extensions, passes)
    ours: list[OursRun] = []
    theirs: list[tuple[float, int]] = []
    for _ in range(repeats):  # interleaved, so both see the same machine weather
        ours.append(asyncio.run(run_ours(extensions, pieces, hints)))
        theirs.append(run_panoramisk(pieces))
    return {"bytes": len(data), "expected": expected, "ours": ours, "theirs": theirs}


def run(quick: bool = False) -> list[Result]:
    extensions = QUICK_EXTENSIONS if quick else EXTENSIONS
    passes = QUICK_PASSES if quick else PASSES
    m = measure(extensions, passes)
    ours: list[OursRun] = m["ours"]  # type: ignore[assignment]
    theirs: list[tuple[float, int]] = m["theirs"]  # type: ignore[assignment]
    size, expected = int(m["bytes"]), int(m["expected"])  # type: ignore[call-overload]
    our_rates = [r.frames / r.seconds for r in ours]
    their_rates = [frames / seconds for seconds, frames in theirs]
    change_rates = [len(r.changes) / r.seconds for r in ours]
    our_best, our_median = _best_and_median(our_rates)
    their_best, their_median = _best_and_median(their_rates)
    ratios = [a / b for a, b in zip(our_rates, their_rates, strict=True)]
    ratio = our_best / their_best
    setup = (
        f"{expected:,} recorded frames ({size / 1e6:.1f} MB) over {extensions:,} extensions x{passes}, "
        f"{CHUNK} B chunks, best of {REPEATS}"
    )
    frames_note = f"ours {ours[0].frames:,} frames, panoramisk {theirs[0][1]:,}"
    return [
        Result(
            NAME,
            "ours_frames_per_s",
            round(our_best),
            "frames/s",
            note=f"{setup}, median {our_median:,.0f}; framer -> parse -> tracker -> emit",
            extra={"frames": float(ours[0].frames), "bytes": float(size), "median": round(our_median)},
        ),
        Result(
            NAME,
            "panoramisk_frames_per_s",
            round(their_best),
            "frames/s",
            note=f"median {their_median:,.0f}; panoramisk 1.4 AMIProtocol.data_received + Message.from_line",
            extra={"frames": float(theirs[0][1]), "median": round(their_median)},
        ),
        Result(
            NAME,
            "ours_over_panoramisk",
            round(ratio, 3),
            "ratio",
            RATIO_BAR,
            note=f"best over best; per run {', '.join(f'{r:.2f}' for r in ratios)}; {frames_note}",
            extra={"median_ratio": round(sorted(ratios)[len(ratios) // 2], 3)},
        ),
        Result(
            NAME,
            "canonical_events_per_s",
            round(max(change_rates)),
            "events/s",
            note=f"{len(ours[0].changes):,} StateChanges out of {ours[0].frames:,} frames "
            f"(+{ours[0].snapshot_changes:,} in the resync snapshot)",
            extra={"changes": float(len(ours[0].changes))},
        ),
    ]


def counts_by_extension(changes: list[StateChange]) -> Iterator[tuple[str, str, int]]:
    """(extension, line, count) of the line changes, for checks."""
    tally: dict[tuple[str, str], int] = {}
    for change in changes:
        if change.line is not None:
            key = (change.endpoint.extension, str(change.line))
            tally[key] = tally.get(key, 0) + 1
    for (ext, line), count in sorted(tally.items()):
        yield ext, line, count
