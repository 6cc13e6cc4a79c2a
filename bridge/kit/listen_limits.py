"""Limits of one listening socket: how long a client may dawdle and how many connections it gets.

One model for every listener we serve (the CTI HTTP and TCP ingress, the status endpoints); each
owner's config section holds one with defaults fit for its traffic (``HTTP_DEFAULTS``,
``TCP_DEFAULTS``, ``STATUS_DEFAULTS``). A client on the same network must not be able to hold a
listener, or the process's file descriptors, by opening connections and saying nothing
(issue 11: 2,000 half-open connections were held for ever; 1,100 starved Graph of descriptors).
"""

from __future__ import annotations

from pydantic import Field

from bridge.kit.config_types import ConfigModel


class ListenerLimits(ConfigModel):
    """Timeouts and connection caps of one listener (see docs/cti.md, "Limits").

    ``header_timeout_seconds``: HTTP: from connect (or the end of the previous response) to the
    last header line; TCP: from connect to the login line. ``body_timeout_seconds``: HTTP only,
    from the headers to the last body byte. ``idle_timeout_seconds``: HTTP: a kept-alive
    connection with no new request is closed after it; TCP: an authenticated connection that sent
    nothing (not even a blank keep-alive line) for this long is closed. Caps: connections at once
    on this listener and from one source address; past the listener cap the oldest connection
    still waiting for its request (or login) is dropped to make room, past the source cap the
    newcomer is refused (closed at once). ``fd_headroom``: accepting stops while fewer than this
    many file descriptors are left below the process's limit, so Graph and the state store always
    have some.
    """

    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    idle_timeout_seconds: float = Field(default=5.0, gt=0, le=86400)
    max_connections: int = Field(default=256, ge=1, le=100_000)
    max_connections_per_source: int = Field(default=32, ge=1, le=100_000)
    fd_headroom: int = Field(default=64, ge=0, le=10_000)


HTTP_DEFAULTS = ListenerLimits()
TCP_DEFAULTS = ListenerLimits(idle_timeout_seconds=900.0, max_connections=64, max_connections_per_source=8)
STATUS_DEFAULTS = ListenerLimits(max_connections=64, max_connections_per_source=16)
