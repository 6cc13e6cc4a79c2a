"""A fake AMI server on 127.0.0.1 that answers with recorded Asterisk 22.10.1 bytes.

Each answer is the recorded frame(s) of one action, with the recorded ActionID replaced by the
client's. Live events are pushed as recorded frames. Scripted faults: wrong password (recorded
"Authentication failed" then close), silent Ping, drop mid-message, refuse connections, a peer that
falls silent.

``ManagerUser`` plays the ``read =`` / ``write =`` lines of ``manager.conf`` (opt-in; without it the
fake answers everything and ``ListCommands`` is unknown, as before): ``ListCommands`` answers with the
synthesized ``31_listcommands_synth`` lines the write classes allow, an action they do not allow gets
the recorded ``Permission denied``, ``FullyBooted`` follows the Login only with read=system, and a
``Setvar`` that changes a ``Custom:`` device state is followed by its ``DeviceStateChange`` (class
call, recorded shape of ``06_devstate_events``) only with read=call, as Asterisk does.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass

from adapters.asterisk_ami.frames import AmiMessage, FrameParser
from tests.adapters.asterisk_ami.fixtures import connections, frames, frames_with

BANNER = connections("01_login_plain")[0].split(b"\r\n", 1)[0] + b"\r\n"
_AID = re.compile(rb"^ActionID: [^\r\n]*\r\n", re.MULTILINE)


def recorded(name: str, action_id: str, connection: int = 0, *, response_only: bool = False) -> list[bytes]:
    """The frames a recorded action got (response, list items, Complete)."""
    picked = frames_with(name, f"ActionID: {action_id}\r\n".encode(), connection)
    if response_only:
        picked = [f for f in picked if f.startswith(b"Response:")]
    assert picked, f"no frames for {action_id} in {name}"
    return picked


def _with_id(chunks: list[bytes], action_id: str | None) -> bytes:
    new = f"ActionID: {action_id}\r\n".encode() if action_id is not None else b""
    return b"".join(_AID.sub(lambda _m: new, chunk) for chunk in chunks)


LAB_REPLIES: dict[str, list[bytes]] = {
    "devicestatelist": recorded("09_devicestatelist", "09-2"),
    "extensionstatelist": recorded("08_extensionstatelist", "08-2"),
    "presencestatelist": recorded("10_presence", "10-4"),
    "dbgettree:dnd": recorded("11_astdb", "11-5"),
    "dbgettree:device": recorded("11_astdb", "11-7"),  # "Database entry not found"
    "queuestatus": recorded("15_queue", "15-3"),
    "setvar": recorded("06_devstate_events", "06-2", response_only=True),
    "dbput": recorded("11_astdb", "11-2"),
    "dbdel": recorded("11_astdb", "11-6"),
    "queuepause": recorded("15_queue", "15-5", response_only=True),
    "ping": recorded("01_login_plain", "01-2"),
    "challenge": recorded("02_login_md5", "02-1"),
}
FREEPBX_REPLIES: dict[str, list[bytes]] = {
    **LAB_REPLIES,
    "devicestatelist": recorded("30_freepbx_synth", "DSL"),
    "extensionstatelist": recorded("30_freepbx_synth", "ESL"),
    "dbgettree:device": recorded("30_freepbx_synth", "DBDEV"),
    "dbgettree:dnd": recorded("30_freepbx_synth", "DBDND"),
}
LIST_COMMANDS = recorded("31_listcommands_synth", "LC")[0]
PERMISSION_DENIED = recorded("13_originate_denied", "13-2")
_PRIV = re.compile(r"^([A-Za-z]+): .* \(Priv: ([^)]*)\)$")
_DEVICE_STATE = re.compile(r"^DEVICE_STATE\((Custom:[^)]+)\)$")


@dataclass
class ManagerUser:
    """The AMI user's classes in manager.conf (default: what docs/asterisk.md recommends)."""

    read: frozenset[str] = frozenset({"call", "system", "agent"})
    write: frozenset[str] = frozenset({"call", "reporting", "system", "agent"})

    def action_classes(self) -> dict[str, frozenset[str]]:
        """Action (lower-cased) -> the classes that allow it ("<none>": empty, always allowed)."""
        text = LIST_COMMANDS.decode()
        out = {}
        for line in text.split("\r\n"):
            match = _PRIV.match(line)
            if match:
                classes = frozenset(c for c in match.group(2).split(",") if c not in ("all", "<none>"))
                out[match.group(1).lower()] = classes
        return out

    def allows(self, action: str) -> bool:
        classes = self.action_classes().get(action.lower())
        return classes is None or not classes or bool(classes & self.write)

    def list_commands(self) -> bytes:
        lines = LIST_COMMANDS.decode().split("\r\n")
        kept = [line for line in lines if not _PRIV.match(line) or self.allows(line.split(":", 1)[0])]
        return "\r\n".join(kept).encode()


def device_state_event(device: str, state: str) -> bytes:
    lines = ["Event: DeviceStateChange", "Privilege: call,all", f"Device: {device}", f"State: {state}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


LOGIN_OK = [*recorded("01_login_plain", "01-1"), frames_with("01_login_plain", b"Event: FullyBooted")[0]]
LOGIN_BAD = recorded("03_login_bad", "03-1")
CHALLENGE = "175169375"  # recorded in 02_login_md5


class FakeAmi:
    def __init__(
        self,
        replies: dict[str, list[bytes]] | None = None,
        *,
        secret: str = "bridgesecret",
        user: ManagerUser | None = None,
    ) -> None:
        self.replies = dict(replies or LAB_REPLIES)
        self.secret = secret
        self.user = user
        self.custom_states: dict[str, str] = {}
        self.port = 0
        self.actions: list[AmiMessage] = []
        self.logins = 0
        self.connections = 0
        self.answer_ping = True
        self.hold_replies: set[str] = set()  # action names left unanswered
        self.login_ok = list(LOGIN_OK)  # recorded: response + FullyBooted
        self.close_on_accept = False  # a port that accepts and hangs up at once
        self.silent = False  # accepts and keeps connections, never sends a byte (no banner, no replies)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.logged_in = asyncio.Event()
        self._heard = asyncio.Condition()  # notified after every action received

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """The PBX is down: stop listening (new connects are refused) and drop sessions."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop()

    def drop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        await self.refuse()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def push(self, data: bytes | list[bytes]) -> None:
        payload = data if isinstance(data, bytes) else b"".join(data)
        for writer in self._writers:
            writer.write(payload)
            await writer.drain()

    async def push_and_close(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)
            await writer.drain()
            writer.close()
        self._writers.clear()

    def actions_named(self, name: str) -> list[AmiMessage]:
        return [a for a in self.actions if (a.get("Action") or "").lower() == name.lower()]

    async def until_actions(self, name: str, count: int, within: float = 5.0) -> None:
        """Wait (real seconds, a bound on loopback I/O) until ``count`` actions ``name`` were answered."""

        async def wait() -> None:
            async with self._heard:
                await self._heard.wait_for(lambda: len(self.actions_named(name)) >= count)

        await asyncio.wait_for(wait(), within)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.close_on_accept:
            writer.transport.abort()
            return
        self._writers.append(writer)
        if not self.silent:
            writer.write(BANNER)
        parser = FrameParser()
        try:
            while data := await reader.read(65536):
                for message in parser.feed(data):
                    answered = await self._answer(message, writer)
                    async with self._heard:
                        self._heard.notify_all()
                    if not answered:
                        return
        except OSError:
            return
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    async def _answer(self, message: AmiMessage, writer: asyncio.StreamWriter) -> bool:
        self.actions.append(message)
        if self.silent:
            return True
        name = (message.get("Action") or "").lower()
        aid = message.action_id
        if name == "login":
            expected = hashlib.md5((CHALLENGE + self.secret).encode()).hexdigest()
            if message.get("Secret") == self.secret or message.get("Key") == expected:
                self.logins += 1
                after = self.login_ok[1:]
                if self.user is not None and "system" not in self.user.read:
                    after = [f for f in after if b"Event: FullyBooted" not in f]
                writer.write(_with_id(self.login_ok[:1], aid) + b"".join(after))
                self.logged_in.set()
                return True
            writer.write(_with_id(LOGIN_BAD, aid))
            await writer.drain()
            return False  # Asterisk closes the session after a failed login
        if name == "ping" and not self.answer_ping:
            return True
        if name in self.hold_replies:
            return True
        if self.user is not None:
            return await self._as_user(self.user, name, message, writer)
        await self._reply(name, message, writer)
        return True

    async def _as_user(
        self, user: ManagerUser, name: str, message: AmiMessage, writer: asyncio.StreamWriter
    ) -> bool:
        aid = message.action_id
        if not user.allows(name):
            writer.write(_with_id(PERMISSION_DENIED, aid))
        elif name == "listcommands":
            writer.write(_with_id([user.list_commands()], aid))
        else:
            await self._reply(name, message, writer)
            device = _DEVICE_STATE.match(message.get("Variable") or "") if name == "setvar" else None
            if device is not None:
                value = (message.get("Value") or "").upper()
                changed = self.custom_states.get(device.group(1)) != value
                self.custom_states[device.group(1)] = value
                if changed and "call" in user.read:
                    writer.write(device_state_event(device.group(1), value))
        await writer.drain()
        return True

    async def _reply(self, name: str, message: AmiMessage, writer: asyncio.StreamWriter) -> None:
        aid = message.action_id
        key = f"{name}:{(message.get('Family') or '').lower()}" if name == "dbgettree" else name
        reply = self.replies.get(key)
        if reply is None:
            reply = [
                f"Response: Error\r\nActionID: {aid}\r\nMessage: Invalid/unknown command\r\n\r\n".encode()
            ]
        writer.write(_with_id(reply, aid))
        await writer.drain()


def live(name: str, needle: bytes = b"Event: ", connection: int = 0) -> list[bytes]:
    """Recorded live event frames (no ActionID) of a capture."""
    return [f for f in frames(name, connection) if f.startswith(needle) and b"ActionID:" not in f]
