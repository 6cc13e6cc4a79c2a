"""SIP presence / BLF watcher (issue 12): the sans-IO protocol core.

Pure modules, no sockets, no clock, no asyncio (the ``pure-edges`` import-linter contract):

* ``message``: SIP requests and responses, bytes <-> values, stream framing, header helpers;
* ``digest``: digest authentication (MD5, SHA-256, SHA-512-256, -sess; qop auth; nonce reuse);
* ``xmlbody``: defusedxml parsing shared by the body readers;
* ``dialoginfo``: RFC 4235 dialog-info -> line state, per-subscription version tracking;
* ``pidf``: RFC 3863/4480 PIDF -> presence words -> line / DND / away;
* ``reginfo``: RFC 3680 registration state -> unavailable;
* ``pidf_publish``: PIDF bodies for write-back PUBLISH of the routable Teams state;
* ``notify``: one NOTIFY checked and read for a subscription's event, with the status to answer.

The subscription layer, also pure: ``transaction`` (RFC 3261 Timer E/F), ``dialog`` (one SUBSCRIBE
dialog's ids and requests), ``outcomes`` (what a final answer means, in an admin's words),
``facts`` (bodies -> line/DND/away), ``lifecycle`` (phases, timings, one move's output),
``credentials`` (401/407 answers and when a password counts as wrong) and ``subscription``
(RFC 6665: messages and ``now`` in, messages, timers and ``StateChange`` values out). The edges:
``transport`` (one UDP/TCP/TLS socket), ``watcher`` (many subscriptions on it: routing, pacing,
a timer heap, health), ``config`` and
``adapter`` (the SDK ``ConnectionAdapter``, entry point ``sip_blf``).

Why not pyVoIP 1.6.8's parser and digest (evaluated against the Kamailio captures in
tests/fixtures/kamailio and the fuzz, tests/adapters/sip_blf/test_pyvoip_evaluation.py):

* ``SIPMessage`` refuses every NOTIFY, SUBSCRIBE and PUBLISH (``SIPCompatibleMethods`` is
  INVITE/ACK/BYE/CANCEL): 86 of the 172 captured datagrams raise ``SIPParseError``;
* it splits on ``\\r\\n\\r\\n`` and ``": "``, so a folded header raises ``IndexError`` and a compact
  header (``v:``, ``i:``) is not recognised; duplicate headers other than Via are dropped; there is
  no Content-Length framing for TCP and no cap on any size; bodies are parsed as SDP;
* a 407's ``Proxy-Authenticate`` is never parsed (only ``WWW-Authenticate``), and
  ``gen_authorization`` is RFC 2069 MD5 with no qop, cnonce or nc, a hard-coded
  ``sip:<server>;transport=UDP`` URI and no SHA-256: Kamailio's ``qop="auth"`` challenges in the
  captures cannot be answered with it.

pyVoIP stays what the issue asks of it: the real phones in the SIP lab tests.
"""
