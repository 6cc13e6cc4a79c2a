"""The status page's data: every person's row and the header, as a server-sent event stream.

``/events`` opens with a ``snapshot`` (header and every row), then sends ``rows`` (only the rows
that changed, by index) and ``header`` when something changed, checked every ``interval``
seconds on the service's clock; a comment line keeps a quiet stream alive through proxies. The
table is built at most once per interval however many pages are open, and only while one is:
nothing is added to the event path (the engine is read, never hooked). Building it costs about
10 ms per 1,000 people, so the interval stretches to ``BUDGET_FACTOR`` times the last build's
cost: an open page never takes more than a tenth of a core.

What reaches the page: names, extensions, states, causes, component health and alarm names.
Never a secret, token, object id or caller number (the rows carry none; tests grep for them).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from bridge.model import EndpointState, Toggle
from bridge.presence import Pair
from bridge.runtime.page_rows import changed, latest, page_row
from bridge.runtime.service import BridgeService

INTERVAL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BUDGET_FACTOR = 10.0
TENANT_NUMBERS = {  # header field -> publisher stat
    "budget_used": "budget_in_window",
    "budget_limit": "budget_limit",
    "live_sessions": "publisher_live_sessions",
    "pending": "publisher_pending",
    "quarantined": "publisher_quarantined",
}

Table = tuple[list[dict[str, object]], dict[str, object]]


def sse(event: str, data: object) -> str:
    """One server-sent event (``data`` as one line of compact JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class PageFeed:
    """Rows and header of ``service``, shared by every open page.

    ``shows``: what Teams shows per object id when the caller knows better than the watcher (the
    demo passes the emulator's view).
    """

    def __init__(
        self,
        service: BridgeService,
        *,
        shows: Callable[[], Mapping[str, Pair]] | None = None,
        interval: float = INTERVAL_SECONDS,
    ) -> None:
        self._service = service
        self._clock = service.clock
        self._shows = shows
        self.interval = interval
        self._table: Table = ([], {})
        self._built_at: float | None = None
        self._cost = 0.0  # seconds the last build took
        # wall time of monotonic 0, fixed once so "since" does not jitter from one tick to the next
        self._epoch = self._clock.now() - timedelta(seconds=self._clock.monotonic())

    def table(self) -> Table:
        """The current rows and header (rebuilt when older than half an interval)."""
        now = self._clock.monotonic()
        if self._built_at is None or now - self._built_at >= self.pace / 2:
            rows = self._rows()
            self._table = (rows, self._header(rows))
            self._built_at = now
            self._cost = self._clock.monotonic() - now
        return self._table

    @property
    def pace(self) -> float:
        """Seconds between two looks at the table: the interval, or longer for a big table."""
        return max(self.interval, BUDGET_FACTOR * self._cost)

    def _rows(self) -> list[dict[str, object]]:
        service = self._service
        status = service.status_rows(self._shows() if self._shows is not None else None)
        rows = []
        for slot, row in zip(service.engine.slots(), status, strict=True):
            states = [cell[2] for cell in slot.endpoints.values()]
            rows.append(
                page_row(
                    row,
                    line=slot.decision.line if slot.decision is not None and states else None,
                    dnd=any(state.dnd is Toggle.ON for state in states),
                    extensions=[endpoint.extension for endpoint in slot.config.endpoints],
                    since=latest(self._since(state) for state in states),
                )
            )
        return rows

    def _since(self, state: EndpointState) -> datetime | None:
        """When the endpoint's line last changed (else its latest PBX timestamp)."""
        if state.line_since is None:
            return state.observed_at
        return (self._epoch + timedelta(seconds=state.line_since)).replace(microsecond=0)

    def _header(self, rows: list[dict[str, object]]) -> dict[str, object]:
        service = self._service
        tenants: dict[str, Any] = {}
        for name, tenant in service.tenants.items():
            stats = tenant.publisher.stats()
            tenants[name] = {key: int(stats.get(stat, 0)) for key, stat in TENANT_NUMBERS.items()}
        counts = dict.fromkeys(("call", "dnd", "problem"), 0)
        for row in rows:
            for flag in cast(list[str], row["flags"]):
                counts[flag] += 1
        return {
            "overall": service.overall(),
            "components": service.readiness(),
            "tenants": tenants,
            "alarms": service.alarms(),
            "people": len(rows),
            "counts": counts,
        }

    async def stream(self) -> AsyncIterator[str]:
        """The event stream of one page, until the client goes away (the server cancels it)."""
        rows, header = self.table()
        yield "retry: 2000\n" + sse("snapshot", {"header": header, "rows": rows})
        quiet = 0.0
        while True:
            await self._clock.sleep(self.pace)
            new_rows, new_header = self.table()
            sent = False
            which = changed(rows, new_rows)
            if which is None:
                yield sse("snapshot", {"header": new_header, "rows": new_rows})
                sent = True
            elif which:
                yield sse("rows", {str(i): new_rows[i] for i in which})
                sent = True
            if new_header != header:
                yield sse("header", new_header)
                sent = True
            rows, header = new_rows, new_header
            quiet = 0.0 if sent else quiet + self.pace
            if quiet >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet = 0.0
