"""Real SIP phones for the lab: pyVoIP 1.6.8 registered to the lab Kamailio over UDP.

A ``LabPhone`` registers an extension, dials, answers, hangs up and rejects (486). Waits are on a
condition that pyVoIP's own message callback signals, each with a bound; nothing sleeps.

What pyVoIP 1.6.8 cannot do, and what stands in:
- **Hold**: it has no API to send a re-INVITE (it only answers one). Kamailio 5.6's
  pua_dialoginfo never signals hold in dialog-info either (no ``+sip.rendering``, no
  ``sendonly`` hint), so a hold through this lab would prove nothing: hold is tested on recorded
  or written dialog-info bodies (Asterisk's ``+sip.rendering="no"``), not here.
- **Record-Route**: its ACK and BYE carry no Route (trap 11); the lab config's lenient in-dialog
  path lets the dialog module see them anyway.
- **407**: it answers only 401 challenges to INVITE and REGISTER, so the lab challenges those
  two with 401 (``kamailio.cfg``, WITH_AUTH); SUBSCRIBE and PUBLISH still get 407.
- ``deny()`` (reject) raises after sending its 486 (see ``LabPhone.reject``).
- It starts reading its socket one second after registering (a ``Timer(1, recv_loop)`` inside
  pyVoIP); answers arriving earlier wait in the socket buffer.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from pyVoIP.VoIP import CallState, PhoneStatus, VoIPCall, VoIPPhone

from tests.sip_lab.lab import KamailioLab
from tests.sip_lab.probe import BOUND, HOST

RTP_PORTS = 4  # a contiguous free range per phone; one call uses one port


def free_udp_range(count: int) -> int:
    """The first of ``count`` consecutive UDP ports free on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind((HOST, 0))
            start: int = first.getsockname()[1]
            if start + count > 65535:
                continue
            taken = []
            try:
                for port in range(start + 1, start + count):
                    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    taken.append(probe)
                    probe.bind((HOST, port))
            except OSError:
                continue
            finally:
                for probe in taken:
                    probe.close()
            return start
    raise RuntimeError(f"no {count} consecutive free UDP ports on 127.0.0.1")


class _SignallingPhone(VoIPPhone):
    """pyVoIP's phone, signalling ``changed`` after each SIP message it has handled."""

    def __init__(self, changed: threading.Condition, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._changed = changed

    def callback(self, request: Any) -> None:
        try:
            super().callback(request)
        finally:
            with self._changed:
                self._changed.notify_all()


class LabPhone:
    """Extension ``extension`` as a pyVoIP phone registered to ``lab``."""

    def __init__(self, extension: str, lab: KamailioLab) -> None:
        self.extension = extension
        self.lab = lab
        self.sip_port = free_udp_range(1)
        rtp_low = free_udp_range(RTP_PORTS)
        self._changed = threading.Condition()
        self.phone = _SignallingPhone(
            self._changed,
            HOST,
            lab.port,
            extension,
            lab.password or "no-auth",
            myIP=HOST,
            callCallback=self._on_incoming,
            sipPort=self.sip_port,
            rtpPortLow=rtp_low,
            rtpPortHigh=rtp_low + RTP_PORTS - 1,
        )
        self.phone.sip.register_timeout = int(BOUND)  # pyVoIP's default is 30 s per (de)registration

    def start(self) -> None:
        """Register (pyVoIP does it synchronously); raises if the lab did not accept it."""
        self._bounded(self.phone.start, "registering", 2 * BOUND)
        if self.phone.get_status() != PhoneStatus.REGISTERED:
            raise AssertionError(f"{self.extension} did not register: {self.phone.get_status()}")

    def register_again(self) -> None:
        """Register once more (after a lab restart wiped the location table)."""
        pending = self.phone.sip.registerThread
        if pending is not None:
            pending.cancel()  # pyVoIP would leave the old refresh timer running beside the new one
        if not self._bounded(self.phone.sip.register, "registering again", 2 * BOUND):
            raise AssertionError(f"{self.extension} did not register again")

    def stop(self) -> None:
        """Hang up what is up, de-register (trap 12: no stale contact), close the socket."""
        if self.phone.get_status() != PhoneStatus.INACTIVE:
            self._bounded(self.phone.stop, "stopping", 2 * BOUND)

    def __enter__(self) -> LabPhone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dial(self, extension: str, bound: float = BOUND) -> VoIPCall:
        """Place a call to ``extension``; returns once the INVITE is under way (100/180 seen)."""
        call: VoIPCall = self._bounded(lambda: self.phone.call(extension), f"dialling {extension}", bound)
        return call

    def incoming(self, bound: float = BOUND) -> VoIPCall:
        """The call ringing on this phone (arrived or arriving within ``bound``)."""
        ringing: list[VoIPCall] = []

        def arrived() -> bool:
            ringing[:] = [c for c in list(self.phone.calls.values()) if c.state == CallState.RINGING]
            return bool(ringing)

        self.wait_until(arrived, bound, f"{self.extension}: no incoming call")
        return ringing[0]

    def wait_state(self, call: VoIPCall, state: CallState, bound: float = BOUND) -> None:
        self.wait_until(lambda: call.state == state, bound, f"{self.extension}: call never {state}")

    def wait_until(self, predicate: Callable[[], bool], bound: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout=bound):
                raise AssertionError(f"{what} within {bound}s")

    @staticmethod
    def answer(call: VoIPCall) -> None:
        call.answer()

    @staticmethod
    def hang_up(call: VoIPCall) -> None:
        call.hangup()

    def reject(self, call: VoIPCall) -> None:
        """486 Busy Here. pyVoIP's own ``deny()`` sends the 486 and then raises AttributeError
        stopping RTP clients that never started (1.6.8), so this sends pyVoIP's 486 itself."""
        busy = self.phone.sip.gen_busy(call.request)
        self.phone.sip.out.sendto(busy.encode("utf8"), (self.phone.server, self.phone.port))
        call.state = CallState.ENDED
        self.phone.calls.pop(call.call_id, None)

    def _bounded(self, action: Callable[[], Any], what: str, bound: float) -> Any:
        """Run a pyVoIP call that may block without a bound (its ``call()`` holds its socket lock
        in a blocking ``recv`` until 100/180 arrives; ``register``/``stop`` wait for that lock), so
        a lost answer fails the test instead of hanging it and, through its non-daemon threads,
        the whole run. On overrun one junk datagram to the phone's own socket ends the blocked
        ``recv`` (pyVoIP raises on it and lets go of the lock); ``shutdown`` cannot, on UDP."""
        result: list[Any] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(action())
            except BaseException as exc:
                failure.append(exc)

        worker = threading.Thread(target=run, name=f"pyVoIP {self.extension} {what}")
        worker.start()
        worker.join(bound)
        if worker.is_alive():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
                poke.sendto(b"lab: unblock", (HOST, self.sip_port))
            worker.join(bound)
            raise AssertionError(f"{self.extension} {what}: pyVoIP did not finish within {bound}s")
        if failure:
            raise failure[0]
        return result[0]

    def _on_incoming(self, call: VoIPCall) -> None:
        """pyVoIP calls this a second after the INVITE; tests pick the call up from
        ``incoming`` instead (it must be set, or pyVoIP answers every INVITE 486)."""
