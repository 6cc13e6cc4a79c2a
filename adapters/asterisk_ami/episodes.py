"""Trouble that repeats is logged once per episode: its start once, its end once (STYLE.md, logging).

An AstDB family the AMI user may not read is refused at every poll; saying so every minute would
bury the log, and saying so once for the adapter's lifetime hides a refusal that comes back after
the admin fixed ``manager.conf`` once. So: the first failure of an episode is a WARNING, repeats are
DEBUG, the first success after it ends the episode (one INFO line), and the next failure starts a new
episode with a new WARNING. Pure bookkeeping: the caller logs.
"""

from __future__ import annotations


class Episodes:
    """Which kinds of trouble (by key) are in an episode now."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        self._open: set[str] = set()

    def failed(self, key: str) -> bool:
        """Record a failure; True when it starts an episode (log it loudly)."""
        if key in self._open:
            return False
        self._open.add(key)
        return True

    def succeeded(self, key: str) -> bool:
        """Record a success; True when it ends an episode (log the recovery once)."""
        if key not in self._open:
            return False
        self._open.discard(key)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._open
