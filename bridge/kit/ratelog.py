"""Rate-limited log summaries: at most one line per interval per kind, with counts.

A flood of one kind of trouble (accept errors, malformed requests, wrong tokens from one address)
must cost a bounded number of log lines, not one per event: 232,465 lines in 23 s were written
before this existed. The first occurrence of a kind is logged at once (so the first sign of
trouble is never delayed); later ones within ``interval`` seconds are only counted, and the next
occurrence after the interval logs one summary line with the count since the last line.
``flush`` logs what is still counted (call it when the owner stops, or from a periodic tick).

Pure apart from the logger: time comes from the ``monotonic`` callable handed in (a clock's
``monotonic``), so tests drive it. The number of kinds held is bounded (``max_kinds``): past it,
new kinds are folded into one ``"(other)"`` kind so a storm from many addresses cannot grow it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_MAX_KINDS = 256
OTHER_KIND = "(other)"


@dataclass(slots=True)
class _Window:
    logged_at: float
    suppressed: int = 0
    last_detail: str = ""


class RateLimitedLog:
    """One logger's summaries for many kinds. ``note(kind, message, *args)`` logs or counts."""

    def __init__(
        self,
        logger: logging.Logger,
        monotonic: Callable[[], float],
        *,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        level: int = logging.WARNING,
        max_kinds: int = DEFAULT_MAX_KINDS,
    ) -> None:
        self._log = logger
        self._monotonic = monotonic
        self.interval = interval
        self.level = level
        self._max_kinds = max_kinds
        self._windows: dict[str, _Window] = {}

    def admit(self, kind: str) -> int | None:
        """One occurrence of ``kind``: None if it is only counted, else how many went unlogged
        since the kind's last line (0 for a first occurrence). For callers that write the line."""
        now = self._monotonic()
        if kind not in self._windows and len(self._windows) >= self._max_kinds:
            kind = OTHER_KIND
        window = self._windows.get(kind)
        if window is None:
            self._windows[kind] = _Window(logged_at=now)
            return 0
        if now - window.logged_at < self.interval:
            window.suppressed += 1
            return None
        self._windows[kind] = _Window(logged_at=now)
        return window.suppressed

    def note(self, kind: str, message: str, *args: object, level: int | None = None) -> bool:
        """One occurrence of ``kind``; ``message % args`` describes it. True if a line was written."""
        suppressed = self.admit(kind)
        if suppressed is None:
            window = self._windows.get(kind) or self._windows.get(OTHER_KIND)
            if window is not None:
                window.last_detail = message % args if args else message
            return False
        if suppressed:
            message += f" (and {suppressed} more like it since the last such line)"
        self._log.log(self.level if level is None else level, message, *args)
        return True

    def flush(self) -> int:
        """Log one summary line per kind with occurrences not yet logged; returns lines written."""
        return self.tick(force=True)

    def tick(self, *, force: bool = False) -> int:
        """Summarise and forget kinds whose interval has passed (a storm that stopped is still
        reported; ``force``: every kind); returns lines written. Cheap: call it periodically."""
        now = self._monotonic()
        lines = 0
        for kind, window in list(self._windows.items()):
            if not force and now - window.logged_at < self.interval:
                continue
            del self._windows[kind]
            if window.suppressed:
                self._log.log(
                    self.level,
                    "%s: %d more in the last %.0f s, latest: %s",
                    kind,
                    window.suppressed,
                    now - window.logged_at,
                    window.last_detail,
                )
                lines += 1
        return lines
