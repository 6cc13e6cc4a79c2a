"""Queue pause from Teams (opt-in ``queue_pause_write``, DESIGN 9 and 13). Pure: decides, sends nothing.

A call-centre agent in a Teams call, presenting or in Do not disturb must not be offered queue
calls; the routable state that already drives ``TEAMS/<ext>`` says exactly when. So with
``queue_pause_write: true`` every routable command also pauses or unpauses the person's queue
members (an explicit ``WriteBack.queue_pause`` still wins):

* a busy routable state (``ROUTABLE_PAUSES``) pauses each member that is not paused yet, with reason
  ``teams:<state>`` (``QueuePause`` without ``Queue``: all its queues, write=agent);
* ``none`` unpauses only members whose reason is still ``teams:...``: a pause the agent chose
  (``lunch``), or one a supervisor set, is never lifted by us;
* a member already paused keeps its reason (the first cause of the pause stays visible).

Members and reasons come from ``QueueStatus`` and ``QueueMember*`` events (read=agent). The adapter
also applies its own successful ``QueuePause`` to what it knows at once, so an unpause finds our
pause even before (or without) its ``QueueMemberPause`` echo.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Final

from adapters.asterisk_ami.parse import QueueMemberFact
from adapters.asterisk_ami.writeback import TEAMS_PAUSE_PREFIX
from bridge.model import RoutableState

# Which routable states keep an agent out of queue calls (DESIGN 6: what each state means).
ROUTABLE_PAUSES: Final = MappingProxyType(
    {
        RoutableState.CALL: True,
        RoutableState.PRESENTING: True,
        RoutableState.DND: True,
        RoutableState.MEETING: True,  # only sent when the meeting option is on
        RoutableState.OOF: True,
        RoutableState.NONE: False,
    }
)
assert set(ROUTABLE_PAUSES) == set(RoutableState), "every routable state must say whether it pauses"


def pause_for(routable: RoutableState) -> str:
    """The ``queue_pause`` a routable state stands for: its name to pause, "" to unpause ours."""
    return routable.value if ROUTABLE_PAUSES[routable] else ""


def ours(reason: str) -> bool:
    return reason.startswith(TEAMS_PAUSE_PREFIX)


def interfaces_to_change(members: Iterable[tuple[str, QueueMemberFact]], pause: str) -> list[str]:
    """The member interfaces a ``queue_pause`` touches: pause the unpaused, unpause only ours."""
    if pause:
        return sorted({i for i, m in members if not m.removed and not m.paused})
    return sorted({i for i, m in members if not m.removed and m.paused and ours(m.reason)})
