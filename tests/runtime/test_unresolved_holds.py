"""What a restart does to sessions of people whose UPN is not resolved yet (issue 11: listeners no
longer wait for resolution). The rule (``bridge.runtime.unresolved``): a stored session nobody
claims is held as restored while some UPN is unresolved (it may be theirs: someone in a call must
not flicker to Available), handed to its person when they resolve, and cleared only once every UPN
is resolved and it is still nobody's (as any session nobody wants after a restart).
"""

from __future__ import annotations

from bridge.presence import IN_A_CALL, TeamsIntent
from bridge.runtime.unresolved import UnresolvedHolds

BUSY = TeamsIntent(session=IN_A_CALL, reason="restored")


def test_held_while_unresolved_handed_over_when_claimed_cleared_when_nobody_will() -> None:
    sent: list[tuple[str, str, TeamsIntent, str]] = []
    holds = UnresolvedHolds({"t": {"alice": BUSY, "gone": BUSY}}, lambda *call: sent.append(call))

    holds.update(set(), complete=False)  # Graph down: nobody resolved
    assert sorted((oid, intent.session) for _, oid, intent, _ in sent) == [
        ("alice", IN_A_CALL),
        ("gone", IN_A_CALL),
    ]
    assert holds.holding == 2

    sent.clear()
    holds.update({"alice"}, complete=False)  # Alice resolved: her own decisions publish her
    holds.update({"alice"}, complete=False)  # a later round repeats nothing
    assert sent == [] and holds.holding == 1

    holds.update({"alice"}, complete=True)  # every UPN resolved, "gone" is nobody's
    assert [(oid, intent.session) for _, oid, intent, _ in sent] == [("gone", None)]
    assert holds.holding == 0


def test_nothing_to_hold_when_everyone_is_known_at_once() -> None:
    sent: list[tuple[str, str, TeamsIntent, str]] = []
    holds = UnresolvedHolds({"t": {"alice": BUSY}}, lambda *call: sent.append(call))
    holds.update({"alice"}, complete=True)
    assert sent == []
