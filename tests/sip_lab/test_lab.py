"""The lab proves itself end to end, without our adapter: real Kamailio, real pyVoIP phones, and a
hand-written probe (``probe.py``) as the watcher. If one of these fails, every SIP adapter test
built on the lab would fail for a reason that is not the adapter's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import defusedxml.ElementTree as SafeET
import pytest
from pyVoIP.VoIP import CallState

from tests.sip_lab.fixtures import LabFactory, PhoneFactory
from tests.sip_lab.lab import KamailioLab, find_kamailio, live_group_members, wait_gone
from tests.sip_lab.probe import SipMessage, SipProbe

ROOT = Path(__file__).resolve().parents[2]
DIALOG_NS = "{urn:ietf:params:xml:ns:dialog-info}"
REGINFO_NS = "{urn:ietf:params:xml:ns:reginfo}"
AWAY_PIDF = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1001@127.0.0.1">
  <tuple id="t1"><status><basic>open</basic></status></tuple>
  <dm:person id="p1"><rpid:activities><rpid:away/></rpid:activities><dm:note>Away</dm:note></dm:person>
</presence>
"""


def dialog_states(notifies: list[SipMessage], call_id: str) -> list[str]:
    """The successive states (lower-cased, repeats folded) of the dialog of call ``call_id``."""
    states: list[str] = []
    for notify in notifies:
        if not notify.body:
            continue
        for dialog in SafeET.fromstring(notify.body).iter(f"{DIALOG_NS}dialog"):
            if dialog.get("call-id") == call_id:
                state = (dialog.findtext(f"{DIALOG_NS}state") or "").lower()
                if not states or states[-1] != state:
                    states.append(state)
    return states


def in_call(sub_notifies: list[SipMessage], call_id: str) -> bool:
    """Whether the lamp showed the call answered (the test hangs up only after that, as a person
    would: a BYE right behind the 200 can overtake pua_dialoginfo's "confirmed" PUBLISH)."""
    return "confirmed" in dialog_states(sub_notifies, call_id)


def call_ended(sub_notifies: list[SipMessage], call_id: str) -> bool:
    return dialog_states(sub_notifies, call_id)[-1:] == ["terminated"]


def registration_state(notify: SipMessage) -> str | None:
    """The state of the (one) registration in a reginfo NOTIFY, None when it has no body."""
    if not notify.body:
        return None
    registration = SafeET.fromstring(notify.body).find(f"{REGINFO_NS}registration")
    return None if registration is None else registration.get("state")


def test_ci_has_kamailio() -> None:
    """CI runs the SIP tests instead of skipping them: .ci/run installs kamailio and exports
    SIP_LAB_REQUIRED=1; a CI service that sets CI (GitHub, GitLab...) requires it too."""
    required = os.environ.get("SIP_LAB_REQUIRED") == "1" or os.environ.get("CI", "").lower() not in (
        "",
        "0",
        "false",
    )
    if not required:
        pytest.skip("neither SIP_LAB_REQUIRED=1 nor CI set: SIP lab tests skip only where kamailio is absent")
    assert find_kamailio() is not None, "CI must install kamailio (.ci/run, apt-get)"


def test_lab_answers_options_and_leaves_no_process(make_lab: LabFactory) -> None:
    lab = make_lab()
    pgid = lab.pid
    assert pgid is not None and len(live_group_members(pgid)) > 1  # main + its children
    with SipProbe(lab.port) as probe:
        assert probe.options().status == 200
    lab.stop()
    assert live_group_members(pgid) == []


def test_a_failing_test_leaves_no_kamailio() -> None:
    if find_kamailio() is None:
        pytest.skip("kamailio is not installed")
    lab = KamailioLab()
    with pytest.raises(RuntimeError, match="the test failed"), lab:
        raise RuntimeError("the test failed")
    assert lab.last_pgid is not None and live_group_members(lab.last_pgid) == []


def test_a_killed_test_run_leaves_no_kamailio() -> None:
    """SIGKILL skips every teardown; setpriv's parent-death signal still stops the lab."""
    if find_kamailio() is None or shutil.which("setpriv") is None:
        pytest.skip("kamailio or setpriv (util-linux) is not installed")
    script = (
        "import sys; from tests.sip_lab.lab import KamailioLab; lab = KamailioLab(); lab.start(); "
        "print(lab.pid, lab.run_dir, flush=True); sys.stdin.read()"
    )
    runner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert runner.stdout is not None
    pid, run_dir = runner.stdout.readline().split()  # the lab's own bound limits this wait
    members = live_group_members(int(pid))
    assert len(members) > 1
    runner.kill()
    runner.wait()
    try:
        # kamailio's exit_timeout (3 s, kamailio.cfg) bounds its own shutdown
        assert wait_gone(members, 10.0), f"kamailio outlived the killed run: {live_group_members(int(pid))}"
    finally:
        if live_group_members(int(pid)):  # the assertion failed: do not leave the orphans behind
            os.killpg(int(pid), signal.SIGKILL)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_a_kamailio_deaf_to_sigterm_is_killed_with_its_children(make_lab: LabFactory) -> None:
    lab = make_lab()
    pgid = lab.pid
    assert pgid is not None
    os.kill(pgid, signal.SIGSTOP)  # a stopped main process cannot act on SIGTERM
    lab.stop(bound=0.5)
    assert live_group_members(pgid) == []


@pytest.mark.parametrize("auth", [False, True], ids=["open", "digest"])
def test_answered_call_notifies_early_confirmed_terminated(
    make_lab: LabFactory, make_phone: PhoneFactory, auth: bool
) -> None:
    lab = make_lab(auth=auth)
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    with SipProbe(lab.port, password=lab.password) as watcher:
        on_callee, on_caller = watcher.subscribe("1001"), watcher.subscribe("1002")
        assert watcher.challenges == ([407, 407] if auth else [])

        outgoing = caller.dial("1001")
        ringing = callee.incoming()
        watcher.wait_notify(on_callee, lambda _: bool(dialog_states(on_callee.notifies, outgoing.call_id)))
        callee.answer(ringing)
        caller.wait_state(outgoing, CallState.ANSWERED)
        watcher.wait_notify(on_callee, lambda _: in_call(on_callee.notifies, outgoing.call_id))
        caller.hang_up(outgoing)
        watcher.wait_notify(on_callee, lambda _: call_ended(on_callee.notifies, outgoing.call_id))
        watcher.wait_notify(on_caller, lambda _: call_ended(on_caller.notifies, outgoing.call_id))
        callee.wait_state(ringing, CallState.ENDED)

    assert dialog_states(on_callee.notifies, outgoing.call_id) == ["early", "confirmed", "terminated"]
    # the caller's side starts at "Trying" (capital T in Kamailio 5.6, trap 5)
    caller_states = dialog_states(on_caller.notifies, outgoing.call_id)
    assert caller_states == ["trying", "early", "confirmed", "terminated"]


def test_rejected_call_notifies_early_then_terminated(make_lab: LabFactory, make_phone: PhoneFactory) -> None:
    lab = make_lab()
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    with SipProbe(lab.port) as watcher:
        on_callee = watcher.subscribe("1001")
        outgoing = caller.dial("1001")
        ringing = callee.incoming()
        # reject only once the lamp shows ringing: a 486 sent at once can reach Kamailio before
        # pua_dialoginfo's "early" PUBLISH is handled, and the watcher then only ever sees
        # "terminated" (both NOTIFYs carry the latest state)
        watcher.wait_notify(on_callee, lambda _: bool(dialog_states(on_callee.notifies, outgoing.call_id)))
        callee.reject(ringing)
        watcher.wait_notify(on_callee, lambda _: call_ended(on_callee.notifies, outgoing.call_id))
    assert dialog_states(on_callee.notifies, outgoing.call_id) == ["early", "terminated"]


def test_wrong_password_is_challenged_again(make_lab: LabFactory) -> None:
    lab = make_lab(auth=True)
    with SipProbe(lab.port, password="not-the-password") as watcher:
        answer = watcher.transact(
            "SUBSCRIBE",
            "sip:1001@127.0.0.1",
            call_id="wrong-password",
            from_tag="w1",
            extra="Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 60\r\n",
        )
    assert watcher.challenges == [407]
    assert answer.status == 407


@pytest.mark.parametrize("auth", [False, True], ids=["open", "digest"])
def test_pidf_publish_reaches_a_presence_watcher(make_lab: LabFactory, auth: bool) -> None:
    lab = make_lab(auth=auth)
    with (
        SipProbe(lab.port, password=lab.password) as watcher,
        SipProbe(lab.port, user="1001", password=lab.password) as publisher,
    ):
        sub = watcher.subscribe("1001", event="presence")
        first = watcher.wait_notify(sub, lambda _: True)
        assert first.body == b""  # nothing published yet (force_dummy_presence=0, trap 6)

        answer = publisher.publish("1001", AWAY_PIDF)
        assert answer.status == 200 and answer.header("SIP-ETag")
        assert publisher.challenges == ([407] if auth else [])
        notify = watcher.wait_notify(sub, lambda n: b"<rpid:away/>" in n.body)
    assert notify.header("Content-Type") == "application/pidf+xml"
    assert notify.header("Event") == "presence"


def test_registration_state_reaches_a_reg_watcher(make_lab: LabFactory, make_phone: PhoneFactory) -> None:
    """Event: reg tells an unplugged phone from an idle one (dialog-info alone cannot)."""
    lab = make_lab()
    with SipProbe(lab.port) as watcher:
        sub = watcher.subscribe("1001", event="reg")
        assert watcher.wait_notify(sub, lambda _: True).body == b""  # nothing registered yet
        phone = make_phone("1001", lab)
        watcher.wait_notify(sub, lambda n: registration_state(n) == "active")
        phone.stop()  # de-registers (Expires: 0)
        gone = watcher.wait_notify(sub, lambda n: registration_state(n) == "terminated")
    assert gone.header("Content-Type") == "application/reginfo+xml"
    assert b'event="unregistered"' in gone.body


def test_restart_forgets_every_subscription_and_serves_again(
    make_lab: LabFactory, make_phone: PhoneFactory
) -> None:
    lab = make_lab()
    callee, caller = make_phone("1001", lab), make_phone("1002", lab)
    port, old_pid = lab.port, lab.pid
    with SipProbe(lab.port) as watcher:
        before = watcher.subscribe("1001")
        assert watcher.refresh(before).status == 200

        lab.restart()
        assert (lab.port, lab.pid != old_pid) == (port, True)
        assert old_pid is not None and live_group_members(old_pid) == []
        assert watcher.refresh(before).status == 481  # the watcher's cue to subscribe afresh

        callee.register_again()
        caller.register_again()
        after = watcher.subscribe("1001")
        outgoing = caller.dial("1001")
        callee.answer(callee.incoming())
        watcher.wait_notify(after, lambda _: in_call(after.notifies, outgoing.call_id))
        caller.wait_state(outgoing, CallState.ANSWERED)
        caller.hang_up(outgoing)
        watcher.wait_notify(after, lambda _: call_ended(after.notifies, outgoing.call_id))
