"""What both transports do with a request once it is authenticated: parse, filter, count.

Pure (no I/O): the HTTP and TCP front ends call ``Ingest.offer`` and turn its outcome into
their own answer; the adapter emits ``outcome.changes``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.generic_cti.parse import (
    DEFAULT_MAX_FUTURE,
    CtiJsonError,
    CtiParseError,
    CtiTimeError,
    parse_request,
)
from bridge.kit.gate import GATE_COUNTERS
from bridge.kit.http_guard import GUARD_COUNTERS
from bridge.model import EndpointKey, StateChange

log = logging.getLogger(__name__)

COUNTER_NAMES = (
    "accepted",  # events emitted to the core
    "ignored_unmapped",  # valid events about extensions nobody is mapped to
    "rejected_bad_json",  # requests/lines that were not JSON
    "rejected_schema",  # requests/lines with a schema error (nothing applied)
    "rejected_time",  # requests/lines with an `at` too far ahead or unrepresentable (nothing applied)
    "snapshots",  # snapshots (the PBX's full state) accepted
    "rejected_oversize",  # bodies over max_body_bytes, lines over max_line_bytes
    "rejected_request",  # wrong method, media type or path on the HTTP side
    "bad_token",  # requests/connections with a missing or wrong token
    "tcp_idle_timeouts",  # logged-in TCP connections closed after idle_timeout_seconds of silence
    *GATE_COUNTERS,  # connections refused, dropped, accept errors (bridge.kit.gate)
    *GUARD_COUNTERS,  # HTTP header/body timeouts, malformed requests (bridge.kit.http_guard)
)


@dataclass(frozen=True, slots=True)
class Ignored:
    """A valid event the adapter did not emit, as listed back to the sender."""

    index: int
    extension: str
    context: str
    device: str
    reason: str = "unmapped"

    def as_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "extension": self.extension,
            "context": self.context,
            "device": self.device,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    changes: tuple[StateChange, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    error: CtiParseError | None = None
    snapshot: bool = False  # the changes are the PBX's full state (``bridge.model.Snapshot``)
    at: datetime | None = None  # the snapshot's own time, if it gave one

    @property
    def accepted(self) -> int:
        return len(self.changes)


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


@dataclass
class Ingest:
    """Counters plus the all-or-nothing parse of one request for adapter ``name``.

    ``now`` (the adapter's clock) bounds the PBX's ``at``: more than ``max_future`` seconds ahead is
    refused; without it, any representable ``at`` passes."""

    name: str
    mapped: Callable[[EndpointKey], bool] | None = None
    now: Callable[[], datetime] | None = None
    max_future: float = DEFAULT_MAX_FUTURE
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))

    def count(self, counter: str, n: int = 1) -> None:
        self.counters[counter] += n

    def offer(self, body: bytes, source: str) -> Outcome:
        try:
            now = None if self.now is None else self.now()
            request = parse_request(body, self.name, now=now, max_future=self.max_future)
        except CtiJsonError as exc:
            self.count("rejected_bad_json")
            log.info("cti %s: rejected request from %s: %s", self.name, source, exc)
            return Outcome(error=exc)
        except CtiTimeError as exc:
            self.count("rejected_time")
            log.info("cti %s: rejected request from %s: %s", self.name, source, exc)
            return Outcome(error=exc)
        except CtiParseError as exc:
            self.count("rejected_schema")
            log.info("cti %s: rejected request from %s: %s", self.name, source, exc)
            return Outcome(error=exc)
        kept: list[StateChange] = []
        ignored: list[Ignored] = []
        for index, change in enumerate(request.changes):
            key = change.endpoint
            if self.mapped is not None and not self.mapped(key):
                ignored.append(Ignored(index, key.extension, key.context, key.device))
                log.debug("cti %s: ignored unmapped extension %s", self.name, key.extension)
            else:
                kept.append(change)
        self.count("accepted", len(kept))
        self.count("ignored_unmapped", len(ignored))
        if request.snapshot:
            self.count("snapshots")
            log.info("cti %s: snapshot from %s: %d endpoint(s) not at rest", self.name, source, len(kept))
        return Outcome(changes=tuple(kept), ignored=tuple(ignored), snapshot=request.snapshot, at=request.at)
