"""Persisting the planner's ownership records, and what happens when the store refuses one.

A refused write (disk full, a vanished file) is counted and logged once per outage; publishing goes
on (DESIGN 14: a clear we cannot record is still sent). The people whose latest record could not be
written are written again, from the planner's current view, as soon as a save succeeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.errors import StoreError
from bridge.kit.clock import Clock
from bridge.teams.ownership import PublishedRecord, PublishedStore

log = logging.getLogger(__name__)


class RecordWriter:
    def __init__(
        self,
        tenant: str,
        store: PublishedStore,
        clock: Clock,
        counters: dict[str, int],
        current: Callable[[str], PublishedRecord],
    ) -> None:
        self._tenant, self._store, self._clock = tenant, store, clock
        self._counters = counters
        self._current = current  # person id -> the planner's record for them now
        self._unsaved: set[str] = set()  # people whose latest record the store refused

    def save(self, record: PublishedRecord) -> None:
        try:
            self._store.save_published(record, self._clock.now())
        except StoreError as exc:
            self._counters["store_errors"] += 1
            level = logging.DEBUG if self._unsaved else logging.WARNING  # once per outage
            log.log(
                level, "state store write failed for person=%s (kept in memory): %s", record.person_id, exc
            )
            self._unsaved.add(record.person_id)
            return
        self._unsaved.discard(record.person_id)
        if self._unsaved:
            self._save_again()

    def _save_again(self) -> None:
        """The store takes writes again: persist what we own for everyone it refused before."""
        while self._unsaved:
            person_id = self._unsaved.pop()
            try:
                self._store.save_published(self._current(person_id), self._clock.now())
            except StoreError:
                self._unsaved.add(person_id)
                return
        log.info("tenant %s: every ownership record is persisted again", self._tenant)
