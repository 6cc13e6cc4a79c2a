"""A PBX that prints its phones: after ``LOGIN <user> <secret>`` and ``OK`` it repeats every line's
state, then prints each change (``EXT 1001 INUSE``, ``DND 1001 ON``) and ``PING`` every 30 s.
A complete presence-bridge adapter; docs/writing-an-adapter.md walks through it."""

from adapters.base import AdapterDeps, AdapterFactory
from adapters.sdk import ConnectionAdapter, Session
from bridge.errors import AdapterAuthError, AdapterError
from bridge.model import EndpointKey, LineState, StateChange, Toggle
from pydantic import BaseModel, Field, SecretStr

PBX_LINE = {
    "IDLE": LineState.IDLE,
    "RINGING": LineState.RINGING,
    "DIALING": LineState.DIALING,
    "INUSE": LineState.IN_CALL,
    "HOLD": LineState.ON_HOLD,
    "UNAVAILABLE": LineState.UNAVAILABLE,
}
PBX_DND = {"ON": Toggle.ON, "OFF": Toggle.OFF}


def parse(adapter: str, line: str) -> StateChange | None:
    """One PBX line as a fact; None when it is not one (``PING``, or something to count)."""
    match line.split():
        case ["EXT", ext, state] if state in PBX_LINE:
            return StateChange(EndpointKey(adapter, ext), line=PBX_LINE[state])
        case ["DND", ext, state] if state in PBX_DND:
            return StateChange(EndpointKey(adapter, ext), dnd=PBX_DND[state])
    return None


class LineProtoConfig(BaseModel, extra="forbid", frozen=True):
    host: str
    port: int = Field(7000, ge=1, le=65535)
    user: str = Field(min_length=1)
    secret: SecretStr


class LineProtoAdapter(ConnectionAdapter):
    kind = "lineproto"
    idle_timeout = 90.0  # three missed PINGs: a half-open connection

    def __init__(self, name: str, config: LineProtoConfig, deps: AdapterDeps) -> None:
        super().__init__(name, deps)
        self.config, self.seen = config, set[EndpointKey]()

    async def run_session(self, session: Session) -> None:
        cfg = self.config
        reader, writer = await session.connect(cfg.host, cfg.port)
        writer.write(f"LOGIN {cfg.user} {cfg.secret.get_secret_value()}\n".encode())
        answer = (await session.within(self.connect_timeout, reader.readline(), "login")).strip()
        if answer != b"OK":
            error = AdapterAuthError if answer == b"DENIED" else AdapterError
            raise error(f"login as {cfg.user!r}: the PBX answered {answer[:40]!r}")
        session.connected(f"logged in as {cfg.user}")
        async for line in session.lines(reader):
            if fact := parse(self.name, line):
                self.seen.add(fact.endpoint)
                session.emit(fact)
            elif line != "PING":
                session.count("unrecognised_lines")

    def went_blind(self) -> list[StateChange]:
        return [StateChange(key, line=LineState.UNKNOWN, dnd=Toggle.UNKNOWN) for key in self.seen]


class LineProtoFactory:
    kind = LineProtoAdapter.kind
    config_model: type[BaseModel] = LineProtoConfig

    def create(self, name: str, config: BaseModel, deps: AdapterDeps) -> LineProtoAdapter:
        return LineProtoAdapter(name, LineProtoConfig.model_validate(config), deps)


FACTORY: AdapterFactory = LineProtoFactory()
