"""The latency benchmark's load generator: a spawned process writing CTI JSON lines on a schedule.

It imports the standard library only (cheap to spawn, nothing of the bridge). It connects to the
generic CTI adapter's TCP ingress, authenticates, reports ready, and on the given start time
(``time.perf_counter()``, CLOCK_MONOTONIC: the same clock in every process) writes each line with
one blocking ``sendall`` at its planned offset, stamping ``perf_counter()`` right before the write.
It never batches: a line that is late (the generator fell behind) is still written on its own. A
reader thread consumes the adapter's acks (one per line) and counts the refusals; it reads them in
chunks every ``ACK_POLL`` seconds instead of blocking on each one, so an ack does not wake this
process (and preempt the bridge on a busy core) once per event.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

ACK_LIMIT = 60.0  # seconds to wait for the last acks after the last line (a bound, not a wait)
ACK_POLL = 0.02  # seconds between reads of the acks


def _child(
    conn: Connection, host: str, port: int, token: str, lines: list[bytes], offsets: list[float]
) -> None:
    sock = socket.create_connection((host, port), timeout=10.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(None)
    sock.sendall(json.dumps({"token": token}).encode() + b"\n")
    first = b""
    while b"\n" not in first:
        first += sock.recv(4096)
    if not json.loads(first).get("ok"):
        conn.send(("refused",))
        return
    counts = {"acks": 0, "refused": 0}
    done = threading.Event()

    def read_acks() -> None:
        pending = b""
        while counts["acks"] < len(lines):
            time.sleep(ACK_POLL)
            try:
                chunk = sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            counts["acks"] += len(complete)
            counts["refused"] += sum(1 for raw in complete if b'"ok": true' not in raw)
        done.set()

    acks = threading.Thread(target=read_acks, name="acks", daemon=True)
    acks.start()
    conn.send(("ready", time.perf_counter() - time.clock_gettime(time.CLOCK_MONOTONIC)))
    start: float = conn.recv()
    sent: list[float] = []
    clock = time.perf_counter
    for line, offset in zip(lines, offsets, strict=True):
        delay = start + offset - clock()
        if delay > 0:
            time.sleep(delay)
        sent.append(clock())
        sock.sendall(line)
    done.wait(ACK_LIMIT)
    conn.send((sent, counts["acks"], counts["refused"]))
    sock.close()


@dataclass
class CtiLoad:
    """A started generator: ``go(start)`` then ``result()`` (blocking: call it off the event loop)."""

    process: multiprocessing.process.BaseProcess
    conn: Connection

    @classmethod
    def start(cls, address: tuple[str, int], token: str, lines: list[bytes], offsets: list[float]) -> CtiLoad:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_child,
            args=(child, address[0], address[1], token, lines, offsets),
            name="cti-load",
            daemon=True,
        )
        process.start()
        child.close()
        return cls(process, parent)

    def ready(self, limit: float = 30.0) -> float:
        """Wait until connected; returns the child's ``perf_counter() - CLOCK_MONOTONIC``."""
        if not self.conn.poll(limit):
            raise RuntimeError("the load generator did not connect in time")
        answer = self.conn.recv()
        if answer[0] != "ready":
            raise RuntimeError(f"the load generator could not start: {answer[0]}")
        return float(answer[1])

    def go(self, start: float) -> None:
        self.conn.send(start)

    def result(self, limit: float) -> tuple[list[float], int, int]:
        """Send stamps, acks received and acks refusing a line."""
        if not self.conn.poll(limit):
            raise RuntimeError("the load generator did not finish in time")
        sent, acks, refused = self.conn.recv()
        self.process.join(5.0)
        self.conn.close()
        return sent, acks, refused

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5.0)
