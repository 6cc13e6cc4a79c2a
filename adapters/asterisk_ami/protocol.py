"""One AMI TCP session: send actions, match responses and list items by ActionID, hand events on.

A focused replacement of panoramisk 1.4's ``AMIProtocol``/``Manager`` (reference asterisk-ami.md
section 5 and traps 1-12), used instead of wrapping it because the broken parts are its core:

* parsing per TCP chunk with ``errors='ignore'`` loses split UTF-8 (trap 12): ``frames.FrameParser``;
* no timeout on any action (5.4), pending actions re-sent only on ``FullyBooted`` (trap 1):
  here every action has a deadline on the injected clock and fails with the session;
* a synchronous handler that raises kills the connection (trap 4): handler errors are caught,
  logged and counted here;
* list actions resolve wrongly with ``as_list`` (trap 9): here an action is a list action when its
  response says ``EventList: start``, and its items never reach the live-event callback;
* an ActionID is ours only if we issued it (``pb-<n>``): Asterisk broadcasts some events that carry
  the ActionID of whichever client caused them (``OriginateResponse`` goes to every session with
  read=call), so another client's event is an event, never one of our late responses;
* reconnect, liveness, credentials and stop (traps 2, 3, 5-8) belong to the adapter's supervisor,
  which owns this session and the clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from adapters.asterisk_ami.frames import AmiMessage, FrameParser, encode_action
from bridge.errors import AdapterError
from bridge.kit.clock import Clock, Expired
from bridge.kit.clock import within as clock_within

log = logging.getLogger(__name__)
T = TypeVar("T")
READ_SIZE = 65536
ID_PREFIX = "pb-"


class AmiClosed(AdapterError):
    """The AMI session ended (EOF, reset or abort)."""


class AmiTimeout(AdapterError):
    """An action got no answer in time."""


@dataclass
class AmiReply:
    """An action's response and, for list actions, its items (without the Complete event)."""

    response: AmiMessage
    items: list[AmiMessage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.response.response or "").lower() == "success"

    @property
    def message(self) -> str:
        return self.response.text("Message")


@dataclass
class _Pending:
    future: asyncio.Future[AmiReply]
    reply: AmiReply | None = None


async def within(clock: Clock, awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """Await ``awaitable`` for at most ``seconds`` on the injected clock (raises AmiTimeout)."""
    try:
        return await clock_within(clock, seconds, awaitable)
    except Expired:
        raise AmiTimeout(f"{what}: no answer within {seconds:g} s") from None


class AmiSession:
    """A connected AMI socket. ``run()`` reads until the peer goes away, then raises AmiClosed."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        clock: Clock,
        on_event: Callable[[AmiMessage], None],
        *,
        action_timeout: float,
        parser: FrameParser | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._clock = clock
        self._on_event = on_event
        self._timeout = action_timeout
        self.parser = parser or FrameParser()
        self._pending: dict[str, _Pending] = {}
        self._issued = 0  # our ActionIDs are ID_PREFIX + 1 .. ID_PREFIX + _issued
        self._closed: AmiClosed | None = None
        self.late_responses = 0
        self.foreign_responses = 0
        self.handler_errors = 0

    async def run(self) -> None:
        try:
            while True:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    raise AmiClosed("connection closed by the PBX")
                self.data_received(data)
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._fail(AmiClosed(f"connection lost: {exc.__class__.__name__}"))
            raise self._closed from exc  # type: ignore[misc]
        except AmiClosed as exc:
            self._fail(exc)
            raise

    def data_received(self, data: bytes) -> None:
        """Bytes from the PBX: every complete message goes to its action or to ``on_event``."""
        route = self._route
        for message in self.parser.feed(data):
            route(message)

    def _fail(self, exc: AmiClosed) -> None:
        self._closed = self._closed or exc
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(self._closed)
        self._pending.clear()

    def _route(self, message: AmiMessage) -> None:
        action_id = message.action_id
        if action_id is None:
            if message.event is None:
                self.late_responses += 1  # a response without an id: nothing of ours
                return
            self._deliver(message)
            return
        pending = self._pending.get(action_id)
        if pending is None:
            if self._issued_by_us(action_id):
                self.late_responses += 1  # ours, after its deadline (or a stray list item of it)
            elif message.event is not None:
                self._deliver(message)  # another client's OriginateResponse and the like
            else:
                self.foreign_responses += 1
            return
        if pending.reply is None:
            if message.response is None:
                return  # an event carrying our id before the response: ignore
            pending.reply = AmiReply(message)
            if (message.get("EventList") or "").lower() != "start":
                self._resolve(action_id, pending)
            return
        if (message.get("EventList") or "").lower() == "complete" or (message.event or "").endswith(
            "Complete"
        ):
            self._resolve(action_id, pending)
        elif message.event is not None:
            pending.reply.items.append(message)

    def _deliver(self, message: AmiMessage) -> None:
        try:
            self._on_event(message)
        except Exception:  # a bug in a handler must not kill the session (trap 4)
            self.handler_errors += 1
            log.exception("AMI event handler failed on %s", message.event)

    def _issued_by_us(self, action_id: str) -> bool:
        if not action_id.startswith(ID_PREFIX):
            return False
        number = action_id[len(ID_PREFIX) :]
        return number.isdigit() and 0 < int(number) <= self._issued

    def _resolve(self, action_id: str, pending: _Pending) -> None:
        del self._pending[action_id]
        if not pending.future.done() and pending.reply is not None:
            pending.future.set_result(pending.reply)

    async def send(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, deadline: float | None = None
    ) -> AmiReply:
        """Send one action and wait for its reply (list items included)."""
        if self._closed is not None:
            raise self._closed
        self._issued += 1
        action_id = f"{ID_PREFIX}{self._issued}"
        future: asyncio.Future[AmiReply] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(future)
        try:
            self._writer.write(encode_action(action, headers, action_id))
            await self._writer.drain()
        except OSError as exc:
            self._pending.pop(action_id, None)
            raise AmiClosed(f"write failed: {exc.__class__.__name__}") from exc
        try:
            return await within(self._clock, asyncio.shield(future), deadline or self._timeout, action)
        finally:
            self._pending.pop(action_id, None)

    def abort(self) -> None:
        """Drop the TCP connection now (watchdog, stop)."""
        transport = self._writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def close(self) -> None:
        self.abort()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
