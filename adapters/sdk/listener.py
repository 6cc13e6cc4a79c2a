"""Listener adapters: the PBX connects to us (a webhook, a JSON-lines socket, a syslog feed).

The subclass writes ``serve(listener)`` for one listening address: ``listener.bind()`` for a
listening socket, start serving on it, ``listener.listening()``, then serve until the server
fails (return or raise). The base owns the rest (DESIGN 13, "Contract suite for listeners"):

* one keeper per configured listener, all owned by the adapter's supervised main task;
* a bind that fails (address in use, address not yet configured) is TRANSIENT_DISCONNECT and is
  retried after a jittered, capped :class:`~bridge.kit.backoff.Backoff` on the injected clock;
* a listener that stops serving is counted (``listener_failures``), TRANSIENT_DISCONNECT, and is
  rebound on the port it had (port 0 resolves once: the PBX was given that port);
* CONNECTED once every listener is listening; one listener down is enough for TRANSIENT_DISCONNECT;
* ``stop()`` cancels ``serve``: close what it opened in a ``finally`` (or ``async with``).

A client presenting a wrong secret is the client's problem: answer it, ``count`` it, and leave
health alone.
"""

from __future__ import annotations

import asyncio
import socket
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import ClassVar

from adapters.base import AdapterDeps
from adapters.sdk.base import AdapterBase
from bridge.errors import AdapterError
from bridge.kit.backoff import Backoff
from bridge.kit.health import Health
from bridge.kit.net import bind_listening


class Listener:
    """One configured listening address, as ``serve`` sees it."""

    def __init__(self, name: str, host: str, port: int, on_up: Callable[[Listener], None]) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.address: tuple[str, int] | None = None
        """Where it is bound right now (port 0 resolved); None while not bound."""
        self.up = False
        self._on_up = on_up

    def __repr__(self) -> str:
        return f"Listener({self.name!r}, {self.host}:{self.port}, up={self.up})"

    def bind(self) -> socket.socket:
        """A non-blocking listening TCP socket on the configured address (raises ``OSError``).

        The first bind's port is kept: a rebind after a failure takes the same port again.
        """
        sock = bind_listening(self.host, self.port)
        host, port = sock.getsockname()[:2]
        self.address = (str(host), int(port))
        self.port = self.address[1]
        return sock

    def listening(self) -> None:
        """Serving has started: once every listener said so, the adapter is CONNECTED."""
        self.up = True
        self._on_up(self)


class ListenerAdapter(AdapterBase):
    """Subclass, set ``kind``, pass ``listen`` (name -> (host, port)), implement ``serve``."""

    backoff_initial: ClassVar[float] = 1.0
    backoff_max: ClassVar[float] = 30.0
    counter_names: ClassVar[tuple[str, ...]] = ("listener_failures",)

    def __init__(
        self,
        name: str,
        deps: AdapterDeps,
        listen: Mapping[str, tuple[str, int]],
        *,
        label: str | None = None,
    ) -> None:
        super().__init__(name, deps, label=label)
        self.listeners: dict[str, Listener] = {
            key: Listener(key, host, port, self._listening) for key, (host, port) in listen.items()
        }

    @abstractmethod
    async def serve(self, listener: Listener) -> None:
        """``listener.bind()``, start serving, ``listener.listening()``, serve until it fails."""

    def backoff(self) -> Backoff:
        return Backoff(self.backoff_initial, self.backoff_max, rng=self.deps.rng)

    def address(self, listener: str) -> tuple[str, int] | None:
        """Where listener ``listener`` is bound right now; None when not bound (or not configured)."""
        found = self.listeners.get(listener)
        return None if found is None else found.address

    async def _main(self) -> None:
        async with asyncio.TaskGroup() as group:
            for listener in self.listeners.values():
                group.create_task(self._keep(listener), name=f"{self.kind}:{self.name}:{listener.name}")

    async def _keep(self, listener: Listener) -> None:
        backoff = self.backoff()
        while True:
            failure = ""  # why serve() ended; empty when it just returned
            try:
                await self.serve(listener)
            except (AdapterError, OSError) as exc:
                failure = _reason(exc)
            except asyncio.CancelledError:
                if _cancel_requested():
                    raise  # stop()
                # e.g. Server.serve_forever() once the server was closed under it: not our stop
            except Exception as exc:  # a bug in serve(): shown with its traceback, then rebound
                self.log.exception("%s: %s listener crashed", self.label, listener.name)
                failure = _reason(exc)
            finally:
                bound, listener.up, listener.address = listener.address, False, None
            where = f"{listener.host}:{listener.port}"
            if bound is None:  # never bound: the address is the problem
                self._down(f"{listener.name} cannot listen on {where}: {failure or 'serve() did not bind'}")
            else:
                backoff.reset()
                self.count("listener_failures")
                ended = f"failed: {failure}" if failure else "stopped unexpectedly"
                self._down(f"{listener.name} listener on {where} {ended}")
            await self.clock.sleep(backoff.next())

    def _listening(self, listener: Listener) -> None:
        if all(each.up for each in self.listeners.values()):
            host, port = listener.address or (listener.host, listener.port)
            self.set_health(Health.CONNECTED, f"{listener.name} listening on {host}:{port}")

    def _down(self, detail: str) -> None:
        self.set_health(Health.TRANSIENT_DISCONNECT, detail)


def _cancel_requested() -> bool:
    """Whether this task is being cancelled (stop), not just handed a CancelledError from within."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or exc.__class__.__name__
