"""Why the watcher does not use pyVoIP 1.6.8's parser or digest (adapters/sip_blf/__init__.py).

Kept as executable evidence: if a pyVoIP release fixes these, this file fails and the decision
can be revisited. pyVoIP is a test-lab dependency (the SIP phones); where it is not installed the
evaluation is skipped, and our own parser's handling of the same inputs is asserted regardless.
"""

from __future__ import annotations

import hashlib

import pytest

from adapters.sip_blf.message import SipResponse, parse_message
from tests.adapters.sip_blf.captures import FIXTURES, load

DATAGRAMS = [d.data for name in sorted(p.name for p in FIXTURES.glob("*_sip.txt")) for d in load(name)]
FOLDED = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: a\r\n b\r\nContent-Length: 0\r\n\r\n"
)
CHALLENGE_407 = next(d for d in DATAGRAMS if d.startswith(b"SIP/2.0 407"))


def _pyvoip_sip() -> object:
    pytest.importorskip("pyVoIP", minversion="1.6.8")
    import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP alone hits a circular import in 1.6.8)
    from pyVoIP import SIP

    return SIP


def test_our_parser_reads_every_capture_and_the_cases_pyvoip_fails() -> None:
    assert all(parse_message(d) for d in DATAGRAMS)
    assert parse_message(FOLDED).get("Subject") == "a b"
    response = parse_message(CHALLENGE_407)
    assert isinstance(response, SipResponse) and response.get("Proxy-Authenticate")


def test_pyvoip_refuses_notify_subscribe_and_publish() -> None:
    sip = _pyvoip_sip()
    refused = 0
    for data in DATAGRAMS:
        try:
            sip.SIPMessage(data)  # type: ignore[attr-defined]
        except sip.SIPParseError:  # type: ignore[attr-defined]
            assert data.split(b" ", 1)[0] in (b"NOTIFY", b"SUBSCRIBE", b"PUBLISH")
            refused += 1
    assert refused == 86 and len(DATAGRAMS) == 172


def test_pyvoip_breaks_on_folding_and_ignores_proxy_authenticate() -> None:
    sip = _pyvoip_sip()
    with pytest.raises(IndexError):  # not even its own SIPParseError
        sip.SIPMessage(FOLDED)  # type: ignore[attr-defined]
    assert sip.SIPMessage(CHALLENGE_407).authentication == {}  # type: ignore[attr-defined]


def test_pyvoip_digest_is_rfc_2069_md5_with_a_fixed_uri() -> None:
    """gen_authorization ignores qop, cnonce and nc, and hashes ``sip:<server>;transport=UDP``
    whatever the request URI: not the answer Kamailio's qop="auth" challenge wants."""
    sip = _pyvoip_sip()
    client = sip.SIPClient.__new__(sip.SIPClient)  # type: ignore[attr-defined]
    client.username, client.password, client.server = "watcher", "labpass", "127.0.0.1"
    www = CHALLENGE_407.replace(b"Proxy-Authenticate", b"WWW-Authenticate")
    response = client.gen_authorization(sip.SIPMessage(www))  # type: ignore[attr-defined]
    nonce = sip.SIPMessage(www).authentication["nonce"]  # type: ignore[attr-defined]
    md5 = hashlib.md5
    ha1 = md5(b"watcher:127.0.0.1:labpass").hexdigest()
    ha2 = md5(b"SUBSCRIBE:sip:127.0.0.1;transport=UDP").hexdigest()
    assert response == md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest().encode()
