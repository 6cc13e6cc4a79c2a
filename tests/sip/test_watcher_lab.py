"""The SIP adapter subscribed to a real Kamailio, with real pyVoIP phones calling each other.

What a user would notice: the watched phones' line states (ringing, in a call, idle) follow real
calls; a PBX restart is survived without anyone restarting the bridge; a wrong password shows as
BAD_CREDENTIALS and does not hammer the PBX.
"""

from __future__ import annotations

import asyncio

from pyVoIP.VoIP import CallState

from adapters.base import Health
from bridge.model import LineState
from tests.sip.lab_watch import LabWatch
from tests.sip_lab.fixtures import LabFactory, PhoneFactory
from tests.sip_lab.phones import LabPhone


async def call_answer_hang_up(watch: LabWatch, caller: LabPhone, callee: LabPhone) -> None:
    """1002 calls 1001; each step waits until the watcher saw what a person would wait for."""
    await watch.until(lambda: watch.line("1001") is watch.line("1002") is LineState.IDLE, "both idle")
    outgoing = await asyncio.to_thread(caller.dial, callee.extension)
    ringing = await asyncio.to_thread(callee.incoming)
    await watch.until(lambda: watch.line("1001") is LineState.RINGING, "1001 ringing")
    await asyncio.to_thread(callee.answer, ringing)
    await asyncio.to_thread(caller.wait_state, outgoing, CallState.ANSWERED)
    await watch.until(lambda: watch.line("1001") is LineState.IN_CALL, "1001 in a call")
    await watch.until(lambda: watch.line("1002") is LineState.IN_CALL, "1002 in a call")
    await asyncio.to_thread(caller.hang_up, outgoing)
    await watch.until(lambda: watch.line("1001") is LineState.IDLE, "1001 idle again")
    await watch.until(lambda: watch.line("1002") is LineState.IDLE, "1002 idle again")


async def test_a_real_call_shows_ringing_in_call_idle(make_lab: LabFactory, make_phone: PhoneFactory) -> None:
    lab = make_lab()
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    async with LabWatch(lab.port, extensions=["1001", "1002"]) as watch:
        await watch.until(lambda: watch.adapter.health is Health.CONNECTED, "CONNECTED")
        await call_answer_hang_up(watch, caller, callee)
    assert watch.lines("1001")[:4] == [LineState.IDLE, LineState.RINGING, LineState.IN_CALL, LineState.IDLE]
    assert watch.lines("1002")[:4] == [LineState.IDLE, LineState.DIALING, LineState.IN_CALL, LineState.IDLE]


async def test_digest_auth_and_tcp(make_lab: LabFactory, make_phone: PhoneFactory) -> None:
    """The auth lab challenges every SUBSCRIBE (407); over TCP the NOTIFYs come back on our connection."""
    lab = make_lab(auth=True)
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    settings = {"extensions": ["1001", "1002"], "password": lab.password, "transport": "tcp"}
    async with LabWatch(lab.port, **settings) as watch:
        await watch.until(lambda: watch.adapter.health is Health.CONNECTED, "CONNECTED")
        await call_answer_hang_up(watch, caller, callee)
        assert watch.adapter.counters["auth_rejected"] == 0


async def test_kamailio_restart_is_followed_by_resubscription(
    make_lab: LabFactory, make_phone: PhoneFactory
) -> None:
    """Kamailio forgets every subscription on restart: the next refresh gets 481, the adapter
    subscribes afresh and the next call is seen again."""
    lab = make_lab()
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    async with LabWatch(lab.port, extensions=["1001", "1002"], expires=120) as watch:
        await watch.until(lambda: watch.line("1001") is LineState.IDLE, "1001 idle")
        subscribes = watch.adapter.counters["subscribes"]
        await asyncio.to_thread(lab.restart)
        await asyncio.to_thread(callee.register_again)
        await asyncio.to_thread(caller.register_again)
        for _ in range(100):  # past every refresh point (60..96 s of 120), the lab answering in between
            await watch.jump(1.0)
        await watch.until(
            lambda: watch.adapter.counters["subscribes"] >= subscribes + 4, "refresh and resubscribe"
        )
        await watch.until(lambda: watch.adapter.health is Health.CONNECTED, "CONNECTED again")
        await call_answer_hang_up(watch, caller, callee)
    assert watch.adapter.counters["disconnects"] == 0, "a PBX restart costs subscriptions, not the session"


async def test_wrong_password_is_bad_credentials_without_a_hot_loop(make_lab: LabFactory) -> None:
    lab = make_lab(auth=True)
    async with LabWatch(lab.port, extensions=["1001"], password="not-the-lab-password") as watch:
        await watch.until(lambda: watch.adapter.health is Health.BAD_CREDENTIALS, "BAD_CREDENTIALS")
        tried = watch.adapter.counters["subscribes"]
        assert tried == 2, "one SUBSCRIBE and one answer to the challenge"
        await watch.jump(290.0)
        await watch.until(lambda: True, "settle")
        assert watch.adapter.counters["subscribes"] == tried, "nothing more within the 300 s pause"
        assert watch.adapter.health is Health.BAD_CREDENTIALS
        await watch.jump(15.0)
        await watch.until(lambda: watch.adapter.counters["subscribes"] > tried, "one retry after the pause")
        assert watch.adapter.counters["subscribes"] <= tried + 2
    assert "not-the-lab-password" not in repr(watch.items)
