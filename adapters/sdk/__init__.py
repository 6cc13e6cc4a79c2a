"""The adapter SDK: write the protocol, inherit the plumbing (DESIGN 14, docs/writing-an-adapter.md).

* :class:`ConnectionAdapter`: the bridge connects to the PBX. Implement ``run_session(session)``:
  connect, log in, resync, then read and ``session.emit`` facts until the connection ends (return
  or raise). The base reconnects with jittered backoff, turns a login refusal
  (``AdapterAuthError``) into BAD_CREDENTIALS with a long pause, a silent peer into a
  TRANSIENT_DISCONNECT, and reports ``went_blind()`` facts whenever a session ends.
* :class:`ListenerAdapter`: the PBX connects to us. Implement ``serve(listener)``: ``listener.bind()``,
  start serving, ``listener.listening()``, serve until the server fails. The base retries a bind
  with jittered backoff, turns a listener that fails into TRANSIENT_DISCONNECT and a rebind on the
  same port, and is CONNECTED once every listener is listening.
* :class:`AdapterBase`: what both share: start/stop (idempotent), the one event stream, health
  (each transition logged once), counters, supervised helper tasks.
"""

from adapters.sdk.base import AdapterBase
from adapters.sdk.connection import ConnectionAdapter, Session
from adapters.sdk.listener import Listener, ListenerAdapter

__all__ = ["AdapterBase", "ConnectionAdapter", "Listener", "ListenerAdapter", "Session"]
