"""RFC 3261 17.1.2.2 timers of a non-INVITE client transaction, on a simulated clock.

Expected instants from the RFC: Timer E fires at T1, then at intervals doubling up to T2
(0.5, 1, 2, 4, 4, ... s after each send), Timer F at 64 x T1 = 32 s; after a provisional response
the retransmissions go every T2; a reliable transport never retransmits.
"""

from __future__ import annotations

from adapters.sip_blf.lifecycle import Phase
from adapters.sip_blf.transaction import ClientTransaction, Due
from tests.adapters.sip_blf.replay import LOCAL, make_subscription

UDP_RETRANSMITS = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def walk(tx: ClientTransaction) -> list[tuple[float, Due]]:
    seen = []
    while (deadline := tx.next_deadline) is not None:
        due = tx.due(deadline)
        assert due is not None
        seen.append((deadline, due))
    return seen


def test_udp_retransmits_on_timer_e_and_times_out_on_timer_f() -> None:
    seen = walk(ClientTransaction("z9hG4bK1", 0.0, reliable=False))
    assert [t for t, d in seen if d is Due.RETRANSMIT] == UDP_RETRANSMITS
    assert seen[-1] == (32.0, Due.TIMEOUT)


def test_after_a_provisional_answer_retransmits_go_every_t2() -> None:
    tx = ClientTransaction("z9hG4bK1", 0.0, reliable=False)
    tx.provisional(0.2)
    seen = walk(tx)
    assert [t for t, d in seen if d is Due.RETRANSMIT] == [4.2, 8.2, 12.2, 16.2, 20.2, 24.2, 28.2]
    assert seen[-1] == (32.0, Due.TIMEOUT)


def test_tcp_never_retransmits_but_still_times_out() -> None:
    assert walk(ClientTransaction("z9hG4bK1", 10.0, reliable=True)) == [(42.0, Due.TIMEOUT)]


def test_a_final_answer_stops_every_timer() -> None:
    tx = ClientTransaction("z9hG4bK1", 0.0, reliable=False)
    tx.finish()
    assert tx.next_deadline is None and tx.due(100.0) is None


def test_subscription_resends_the_same_request_then_gives_up_after_32_s() -> None:
    """A PBX that never answers: the same SUBSCRIBE (same branch) on Timer E, then a backoff."""
    sub = make_subscription("1001", local=LOCAL)
    (first,) = sub.start(0.0).send
    resent = []
    while (deadline := sub.next_deadline) is not None and deadline <= 32.0:
        step = sub.on_timer(deadline)
        resent += [(deadline, m) for m in step.send]
    assert [t for t, _ in resent] == UDP_RETRANSMITS
    assert all(m is first for _, m in resent)
    assert sub.phase is Phase.WAITING and "32 s" in sub.detail
