"""Teams presence vocabulary shared by the core, the Graph client and the emulator.

Pure values only. Sources: ../shared/reference/graph-presence.md sections 2-4 (Microsoft's
documentation) and DESIGN section 13 (rankings we inferred where Microsoft is silent).

Frozen interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple


class Pair(NamedTuple):
    """An (availability, activity) pair, PascalCase as Graph returns it.

    A NamedTuple (immutable, ordered) rather than a dataclass: pairs are hashed and compared on
    every decision, and tuple hashing runs in C.
    """

    availability: str
    activity: str

    def __str__(self) -> str:
        return f"{self.availability}/{self.activity}"

    @classmethod
    def parse(cls, text: str) -> Pair:
        """Parse ``"Busy/InACall"``; raises ValueError naming the expected shape."""
        parts = text.split("/")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise ValueError(f"expected 'Availability/Activity', got {text!r}")
        return cls(parts[0].strip(), parts[1].strip())

    def same(self, other: Pair | None) -> bool:
        """Case-insensitive comparison (Graph docs mix camelCase and PascalCase)."""
        return other is not None and (
            self.availability.lower() == other.availability.lower()
            and self.activity.lower() == other.activity.lower()
        )


AVAILABLE = Pair("Available", "Available")
IN_A_CALL = Pair("Busy", "InACall")
IN_A_CONFERENCE_CALL = Pair("Busy", "InAConferenceCall")
AWAY = Pair("Away", "Away")
PRESENTING = Pair("DoNotDisturb", "Presenting")
OFFLINE = Pair("Offline", "Offline")

# setPresence accepts exactly these five (reference section 2.1).
SESSION_PAIRS: frozenset[Pair] = frozenset({AVAILABLE, IN_A_CALL, IN_A_CONFERENCE_CALL, AWAY, PRESENTING})

# setUserPreferredPresence accepts exactly these six (reference section 3.1).
PREFERRED_PAIRS: frozenset[Pair] = frozenset(
    {
        Pair("Available", "Available"),
        Pair("Busy", "Busy"),
        Pair("DoNotDisturb", "DoNotDisturb"),
        Pair("BeRightBack", "BeRightBack"),
        Pair("Away", "Away"),
        Pair("Offline", "OffWork"),
    }
)

# Session aggregation: higher wins. Documented: DoNotDisturb > Busy > Available > Away.
# Inferred (DESIGN 13): BeRightBack and Offline rank below Away.
AVAILABILITY_RANK: dict[str, int] = {
    "DoNotDisturb": 60,
    "Busy": 50,
    "Available": 40,
    "Away": 30,
    "BeRightBack": 20,
    "Offline": 10,
}
# Ties inside one availability (inferred, DESIGN 13): InAConferenceCall > InACall > InAMeeting > Busy.
ACTIVITY_RANK: dict[str, int] = {
    "InAConferenceCall": 4,
    "InACall": 3,
    "InAMeeting": 2,
    "Busy": 1,
}

SESSION_EXPIRY_MIN = timedelta(minutes=5)
SESSION_EXPIRY_MAX = timedelta(hours=4)
AVAILABLE_TIMEOUT = timedelta(minutes=5)  # Available fades to AvailableInactive, then Away after 2x


def preferred_default_expiry(pair: Pair) -> timedelta:
    """Default expiry of a user-preferred presence (reference section 3.1)."""
    return timedelta(days=1) if pair.availability in ("Busy", "DoNotDisturb") else timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TeamsIntent:
    """What the core wants Teams to hold for one person (the publisher makes it so).

    ``session`` is our application session (None: no session of ours, i.e. clear it).
    ``preferred`` is a user-preferred presence we own (None: none of ours should stand);
    it is only ever set when the admin configured it, and needs ``preferred_expiry``.
    ``reason`` is a short human explanation for logs and the status table.
    """

    session: Pair | None = None
    preferred: Pair | None = None
    preferred_expiry: timedelta | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.session is not None and self.session not in SESSION_PAIRS:
            raise ValueError(f"{self.session} is not a setPresence pair")
        if self.preferred is not None:
            if self.preferred not in PREFERRED_PAIRS:
                raise ValueError(f"{self.preferred} is not a setUserPreferredPresence pair")
            if self.preferred_expiry is None:
                raise ValueError("a preferred presence needs an expiry")

    def same_target(self, other: TeamsIntent | None) -> bool:
        """Equal in what would be sent to Graph (the reason does not count)."""
        if other is self:
            return True
        return other is not None and (
            self.session == other.session
            and self.preferred == other.preferred
            and self.preferred_expiry == other.preferred_expiry
        )


CLEAR = TeamsIntent(reason="idle")
