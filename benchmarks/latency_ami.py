"""Latency through the Asterisk adapter: a fake AMI server, in its own process, replaying frames.

The PBX is a spawned process (standard library sockets only) that speaks AMI like Asterisk 22:
the banner, login and every resync answer are the recorded bytes of tests/fixtures/asterisk-22
(through tests/adapters/asterisk_ami/fake_ami.py, ActionIDs replaced by the client's), with the
extension-list and device-list answers grown to the benchmark population in the recorded shape
(``ExtensionStatus`` with a FreePBX hint ``PJSIP/<ext>&Custom:DND<ext>``, ``DeviceStateChange``).

Live events are the recorded frame shapes of 06_devstate_events / 07_devstate_dnd_hint with the
device changed: a call state is the pair Asterisk sends, ``ExtensionStatus`` + ``DeviceStateChange``
of ``PJSIP/<ext>`` (ring RINGING, answer/resume/conference INUSE, hold ONHOLD, hang up NOT_INUSE),
written with one ``sendall``; FreePBX DND is ``DeviceStateChange`` of ``Custom:DND<ext>``
(BUSY on, NOT_INUSE off). Each event's bytes are written at its planned time on a fixed-rate grid,
stamped with ``perf_counter()`` right before the write.

Prediction (``emitted``): the adapter's own pure parts (``FrameParser``, ``parse_message``,
``AmiTracker``) turn the same bytes into canonical changes, replayed through the engine as for CTI.
"""

from __future__ import annotations

import multiprocessing
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from adapters.asterisk_ami.config import AmiConfig
from adapters.asterisk_ami.frames import FrameParser
from adapters.asterisk_ami.parse import Unrecognised, parse_message
from adapters.asterisk_ami.tracker import AmiTracker
from adapters.base import AdapterEvent
from benchmarks.latency_schedule import Planned
from benchmarks.population import ADAPTER, Person
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT
from tests.adapters.asterisk_ami.fake_ami import BANNER, FREEPBX_REPLIES, LAB_REPLIES, LOGIN_OK

AMI_USER = "bridge"
AMI_SECRET = "bridgesecret"
CONTEXT = "ext-local"
LIVE_LIMIT = 60.0  # seconds after the last event for the process to report (a bound, not a wait)

# (Status, StatusText) of ExtensionStatus and the PJSIP device state, per CTI line value (06's shapes)
LINE_TO_AMI: dict[str, tuple[int, str, str]] = {
    "ringing": (8, "Ringing", "RINGING"),
    "in_call": (1, "InUse", "INUSE"),
    "in_conference": (1, "InUse", "INUSE"),
    "on_hold": (16, "Hold", "ONHOLD"),
    "idle": (0, "Idle", "NOT_INUSE"),
}
_AID = re.compile(rb"^ActionID: [^\r\n]*\r\n", re.MULTILINE)


def _frame(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _hint(extension: str) -> str:
    return f"PJSIP/{extension}&Custom:DND{extension},CustomPresence:{extension}"


def extension_status(extension: str, status: int, text: str, action_id: str | None = None) -> bytes:
    head = ["Event: ExtensionStatus", f"ActionID: {action_id}"] if action_id else ["Event: ExtensionStatus"]
    if action_id is None:
        head.append("Privilege: call,all")
    return _frame(
        *head,
        f"Exten: {extension}",
        f"Context: {CONTEXT}",
        f"Hint: {_hint(extension)}",
        f"Status: {status}",
        f"StatusText: {text}",
    )


def device_state(device: str, state: str, action_id: str | None = None) -> bytes:
    head = ["Event: DeviceStateChange", f"ActionID: {action_id}" if action_id else "Privilege: call,all"]
    return _frame(*head, f"Device: {device}", f"State: {state}")


def live_bytes(event: Planned, extension: str) -> bytes:
    """What Asterisk writes for one planned PBX event (one ``sendall``)."""
    fields = dict(event.fields)
    if "dnd" in fields:
        return device_state(f"Custom:DND{extension}", "BUSY" if fields["dnd"] else "NOT_INUSE")
    status, text, state = LINE_TO_AMI[str(fields["line"])]
    return extension_status(extension, status, text) + device_state(f"PJSIP/{extension}", state)


def _list_reply(action_id: str, what: str, items: list[bytes], complete: str) -> bytes:
    start = _frame("Response: Success", f"ActionID: {action_id}", "EventList: start", f"Message: {what}")
    end = _frame(
        f"Event: {complete}", f"ActionID: {action_id}", "EventList: Complete", f"ListItems: {len(items)}"
    )
    return start + b"".join(items) + end


def resync_items(population: Sequence[Person]) -> tuple[list[bytes], list[bytes]]:
    """The population's ExtensionStateList and DeviceStateList items (everyone idle, DND off)."""
    extensions = [extension_status(p.extension, 0, "Idle", "ESL") for p in population]
    devices = [device_state(f"PJSIP/{p.extension}", "NOT_INUSE", "DSL") for p in population]
    devices += [device_state(f"Custom:DND{p.extension}", "NOT_INUSE", "DSL") for p in population]
    return extensions, devices


def replies(population: Sequence[Person]) -> dict[str, bytes]:
    """Action (lower case, DBGetTree with its family) -> reply bytes with ``ActionID: {aid}`` inside."""
    extensions, devices = resync_items(population)
    recorded = {key: b"".join(chunks) for key, chunks in LAB_REPLIES.items()}
    recorded["dbgettree:dnd"] = recorded["dbgettree:device"]  # "Database entry not found": nobody has DND
    recorded["login"] = b"".join(LOGIN_OK)
    recorded["extensionstatelist"] = _list_reply(
        "ESL", "Extension Statuses will follow", extensions, "ExtensionStateListComplete"
    )
    recorded["devicestatelist"] = _list_reply(
        "DSL", "Device State Changes will follow", devices, "DeviceStateListComplete"
    )
    assert set(FREEPBX_REPLIES) <= set(recorded)
    return {key: _AID.sub(b"ActionID: {aid}\r\n", value) for key, value in recorded.items()}


def ami_yaml(
    population: Sequence[Person], port: int, authority: str, graph_url: str, ca_file: str, **kw: object
) -> str:
    people = "\n".join(
        f"  - {{id: {p.object_id}, tenant: bench, "
        f'endpoints: [{{adapter: {ADAPTER}, extension: "{p.extension}"}}]}}'
        for p in population
    )
    return f"""allow_inline_secrets: true
tenants:
  bench:
    tenant_id: {DEFAULT_TENANT}
    client_id: {DEFAULT_CLIENT_ID}
    client_secret: {DEFAULT_CLIENT_SECRET}
    authority: {authority}
    graph_url: {graph_url}
    budget: {{requests: {kw["budget"]}, window_seconds: 30}}
    ca_file: {ca_file}
people:
{people}
adapters:
  {ADAPTER}:
    kind: asterisk_ami
    host: 127.0.0.1
    port: {port}
    username: {AMI_USER}
    secret: {AMI_SECRET}
    freepbx: true
    ping_interval: 3600
state:
  path: '{kw["state_path"]}'
"""


# --- prediction ------------------------------------------------------------------------------


def emitted(
    population: Sequence[Person], planned: Sequence[Planned]
) -> tuple[list[AdapterEvent], Iterator[tuple[float, list[AdapterEvent]]]]:
    """What the Asterisk adapter emits: the resync's snapshot, then per sent event its time and changes."""
    config = AmiConfig(username=AMI_USER, secret=AMI_SECRET)  # type: ignore[arg-type]
    tracker = AmiTracker(ADAPTER, config)
    extensions, devices = resync_items(population)
    parser = FrameParser()
    tracker.begin_resync()
    tracker.learn(parse_message(m) for m in parser.feed(b"".join(extensions + devices)))
    return [tracker.snapshot()], _live(tracker, parser, population, planned)


def _live(
    tracker: AmiTracker, parser: FrameParser, population: Sequence[Person], planned: Sequence[Planned]
) -> Iterator[tuple[float, list[AdapterEvent]]]:
    for event in planned:
        changes: list[AdapterEvent] = []
        for message in parser.feed(live_bytes(event, population[event.person].extension)):
            fact = parse_message(message)
            if not isinstance(fact, Unrecognised):
                changes += tracker.apply(fact)  # type: ignore[arg-type]
        yield event.at, changes


# --- the fake PBX process ---------------------------------------------------------------------


def _actions(buffer: bytearray) -> Iterator[dict[str, str]]:
    while (end := buffer.find(b"\r\n\r\n")) >= 0:
        block, buffer[:] = bytes(buffer[:end]), buffer[end + 4 :]
        headers = dict(line.split(": ", 1) for line in block.decode().split("\r\n") if ": " in line)
        yield {k.lower(): v for k, v in headers.items()}


def _child(conn: Connection, table: dict[str, bytes], payloads: list[bytes], offsets: list[float]) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    offset = time.perf_counter() - time.clock_gettime(time.CLOCK_MONOTONIC)
    conn.send(("port", server.getsockname()[1], offset))
    client, _ = server.accept()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lock = threading.Lock()
    with lock:
        client.sendall(BANNER)

    def answer() -> None:
        buffer = bytearray()
        while data := client.recv(1 << 16):
            buffer += data
            for action in _actions(buffer):
                name = action.get("action", "").lower()
                key = f"{name}:{action.get('family', '').lower()}" if name == "dbgettree" else name
                reply = (
                    table.get(key)
                    or b"Response: Error\r\nActionID: {aid}\r\nMessage: Invalid/unknown command\r\n\r\n"
                )
                with lock:
                    client.sendall(reply.replace(b"{aid}", action.get("actionid", "").encode()))

    threading.Thread(target=answer, name="ami-actions", daemon=True).start()
    start: float = conn.recv()
    sent: list[float] = []
    clock = time.perf_counter
    for payload, offset in zip(payloads, offsets, strict=True):
        delay = start + offset - clock()
        if delay > 0:
            time.sleep(delay)
        with lock:
            sent.append(clock())
            client.sendall(payload)
    conn.send((sent, len(sent), 0))
    conn.recv()  # stay up (the adapter's session) until told
    client.close()
    server.close()


@dataclass
class FakePbx:
    """The fake AMI server process: ``port``, then ``go(start)`` and ``result()`` like ``CtiLoad``."""

    process: multiprocessing.process.BaseProcess
    conn: Connection
    port: int
    offset: float  # the child's perf_counter() - CLOCK_MONOTONIC

    @classmethod
    def start(cls, population: Sequence[Person], planned: Sequence[Planned]) -> FakePbx:
        payloads = [live_bytes(p, population[p.person].extension) for p in planned]
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_child,
            args=(child, replies(population), payloads, [p.at for p in planned]),
            name="fake-ami",
            daemon=True,
        )
        process.start()
        child.close()
        if not parent.poll(30.0):
            process.kill()
            raise RuntimeError("the fake AMI server did not start")
        _, port, offset = parent.recv()
        return cls(process, parent, port, offset)

    def go(self, start: float) -> None:
        self.conn.send(start)

    def result(self, limit: float) -> tuple[list[float], int, int]:
        if not self.conn.poll(limit):
            raise RuntimeError("the fake AMI server did not finish in time")
        sent, count, refused = self.conn.recv()
        return sent, count, refused

    def stop(self) -> None:
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.process.join(5.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
        self.conn.close()
