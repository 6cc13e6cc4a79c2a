"""One person's row of the status table (``/status``, ``presence-bridge status``, the demo), pure.

The columns (README, "Operating it"): ``pbx`` the person's line from the PBX (``-`` before any
event) with ``+dnd`` while a PBX DND is on; ``desired`` what we ask Teams for (``(clear)``: no
session of ours, ``(publish off)`` for people with ``publish: false``); ``sent`` the session Teams
holds from us (``(none)``) with ``+pref`` for a preferred presence we own; ``teams`` what Teams
shows; ``why`` the decision's cause (``no PBX event yet``); ``state`` ``pending`` or the failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bridge.model import EndpointState, Toggle
from bridge.policy import Decision
from bridge.presence import Pair, TeamsIntent

NOTHING = "-"


class Published(Protocol):
    """What the publisher holds for one person (``Publisher.view``), as far as the row shows it."""

    @property
    def desired(self) -> TeamsIntent | None: ...

    @property
    def sent_session(self) -> Pair | None: ...

    @property
    def sent_preferred(self) -> Pair | None: ...

    @property
    def pending(self) -> bool: ...

    @property
    def failed(self) -> str | None: ...


def status_row(
    *,
    label: str,
    decision: Decision | None,
    states: Iterable[EndpointState],
    publish: bool,
    published: Published | None,
    shows: Pair | None,
) -> dict[str, str]:
    """``states``: the person's endpoints with a known state; ``published``: None while the person
    has no object id yet or publishing is off."""
    known = list(states)
    pbx = decision.line.value if decision is not None and known else NOTHING
    if any(state.dnd is Toggle.ON for state in known):
        pbx += " +dnd"
    desired = sent = NOTHING
    state = ""
    if not publish:
        desired = "(publish off)"
    elif published is not None:
        if published.desired is not None:
            desired = str(published.desired.session) if published.desired.session else "(clear)"
        sent = str(published.sent_session) if published.sent_session else "(none)"
        if published.sent_preferred:
            sent += f" +pref {published.sent_preferred}"
        state = "pending" if published.pending else (published.failed or "")
    why = "" if decision is None else decision.cause if known else "no PBX event yet"
    return {
        "person": label,
        "pbx": pbx,
        "desired": desired,
        "sent": sent,
        "teams": str(shows) if shows else NOTHING,
        "why": why,
        "state": state,
    }
