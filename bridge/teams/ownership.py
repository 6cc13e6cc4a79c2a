"""What the publisher owns in Teams, and the store calls it needs to remember it across restarts.

The teams floor states the protocol; the runtime's SQLite store (``bridge.runtime.store``) implements
it, so nothing here imports upward. ``save_published`` of a record that owns nothing forgets the
person; both calls may raise ``StoreError`` (the publisher logs and counts it, and goes on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.presence import Pair


@dataclass(frozen=True, slots=True)
class PublishedRecord:
    """What we own in Teams for one person (sessions are always ours; preferred only when we set it).

    ``session_confirmed`` / ``preferred_confirmed`` False: the write-ahead record of a request that
    was about to be sent and never answered, so Graph may hold the old value, the new one or none.
    After a restart such a value is re-sent at once (every presence write is idempotent) or
    cleared blindly (our own session always may be), never trusted until its next refresh.
    """

    person_id: str
    tenant: str
    session: Pair | None = None
    session_expires_at: datetime | None = None
    preferred: Pair | None = None
    preferred_expires_at: datetime | None = None
    session_confirmed: bool = True
    preferred_confirmed: bool = True

    @property
    def owns_anything(self) -> bool:
        return self.session is not None or self.preferred is not None


class PublishedStore(Protocol):
    """The publisher's view of the state store: load what a tenant owns, save one person's record."""

    def load_published(self, tenant: str | None = None) -> dict[str, PublishedRecord]: ...

    def save_published(self, record: PublishedRecord, updated_at: datetime) -> None: ...
