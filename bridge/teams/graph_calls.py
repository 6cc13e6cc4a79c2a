"""One planner ``Call`` -> the Graph request it names, and the ``Outcome`` the planner reads back.

Graph's errors (``GraphError`` and its kinds) propagate: the publisher turns them into an outcome.
"""

from __future__ import annotations

from bridge.teams.graph import GraphClient
from bridge.teams.plan_types import Call, Op, Outcome


async def send(graph: GraphClient, session_id: str, call: Call) -> Outcome:
    """Run ``call`` for its person with our application session id."""
    person_id = call.person_id
    if call.op is Op.SET_PRESENCE:
        assert call.pair is not None and call.expiry is not None
        done = await graph.set_presence(person_id, session_id, call.pair, call.expiry)
    elif call.op is Op.CLEAR_PRESENCE:
        done = await graph.clear_presence(person_id, session_id)
    elif call.op is Op.SET_PREFERRED:
        assert call.pair is not None and call.expiry is not None
        done = await graph.set_preferred(person_id, call.pair, call.expiry)
    elif call.op is Op.CLEAR_PREFERRED:
        done = await graph.clear_preferred(person_id)
    else:
        shown = (await graph.get_presences([person_id])).get(person_id)
        return Outcome(request_id=graph.last_request_id, shown=shown)
    return Outcome(request_id=done.request_id, found=done.found)
