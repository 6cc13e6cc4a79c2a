"""Digest authentication (adapters/sip_blf/digest.py).

Expected values come from the RFCs' worked examples and from what Kamailio accepted in the lab
(password ``labpass``). A user would notice a break as a watcher stuck at 401/407 on a PBX with
authentication, or, worse, one hammering the PBX with wrong credentials.
"""

from __future__ import annotations

import hashlib
import re

import pytest

from adapters.sip_blf.digest import (
    Challenge,
    DigestClient,
    DigestError,
    Verdict,
    compute_response,
    parse_challenge,
)
from adapters.sip_blf.message import SipRequest, SipResponse, auth_challenges, parse_message
from tests.adapters.sip_blf.captures import load

# RFC 7616 3.9.1 (Mufasa, "Circle of Life").
RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_examples(algorithm: str, expected: str) -> None:
    challenge = parse_challenge(
        f'Digest realm="{RFC7616["realm"]}", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616["nonce"]}", opaque="{RFC7616["opaque"]}"'
    )
    assert challenge is not None and challenge.qop == ("auth", "auth-int")
    response = compute_response(
        challenge,
        username="Mufasa",
        password="Circle of Life",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc=1,
        cnonce=RFC7616["cnonce"],
    )
    assert response == expected


def test_rfc_2617_example() -> None:
    challenge = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert challenge is not None and challenge.algorithm == "MD5"
    response = compute_response(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        qop="auth",
        nc=1,
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def _params(header: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


KAMAILIO_EXCHANGES = [
    ("dialog_auth_watcher_1001_sip.txt", "", "watcher"),
    ("presence_auth_publish_sip.txt", "1001", "1001"),
]


@pytest.mark.parametrize(("capture", "party", "username"), KAMAILIO_EXCHANGES)
def test_answers_kamailio_accepted_are_recomputed(capture: str, party: str, username: str) -> None:
    """Feed the captured 407 to a client whose cnonce source replays the lab's cnonce: the
    Proxy-Authorization we would send equals the one Kamailio answered with 200."""
    datagrams = [d for d in load(capture) if d.party == party]
    challenge_at = next(i for i, d in enumerate(datagrams) if d.data.startswith(b"SIP/2.0 407"))
    response = parse_message(datagrams[challenge_at].data)
    retry = parse_message(datagrams[challenge_at + 1].data)
    accepted = parse_message(datagrams[challenge_at + 2].data)
    assert isinstance(response, SipResponse) and isinstance(retry, SipRequest)
    assert isinstance(accepted, SipResponse) and accepted.status in (200, 202)
    sent = _params(retry.require("Proxy-Authorization"))

    client = DigestClient(username, "labpass", cnonce_source=lambda: sent["cnonce"])
    challenges = [parse_challenge(v, proxy=n == "Proxy-Authenticate") for n, v in auth_challenges(response)]
    assert client.challenged([c for c in challenges if c is not None]) is Verdict.RETRY
    [(name, value)] = client.authorization(retry.method, retry.uri, retry.body)
    assert name == "Proxy-Authorization"
    ours = _params(value)
    assert ours["response"] == sent["response"]
    for key in ("username", "realm", "nonce", "uri", "qop", "nc", "cnonce", "algorithm"):
        assert ours[key] == sent[key], key


def test_nonce_reuse_counts_nc_and_stale_is_not_a_failure() -> None:
    client = DigestClient("watcher", "labpass", cnonce_source=lambda: "c0ffee")
    first = parse_challenge('Digest realm="pbx", nonce="n1", qop="auth"', proxy=True)
    assert first is not None
    assert client.authorization("SUBSCRIBE", "sip:1001@pbx") == []
    assert client.challenged([first]) is Verdict.RETRY
    ncs = [_params(client.authorization("SUBSCRIBE", "sip:1001@pbx")[0][1])["nc"] for _ in range(3)]
    assert ncs == ["00000001", "00000002", "00000003"]

    stale = parse_challenge('Digest realm="pbx", nonce="n2", qop="auth", stale=true', proxy=True)
    assert stale is not None and client.challenged([stale]) is Verdict.STALE
    header = _params(client.authorization("SUBSCRIBE", "sip:1001@pbx")[0][1])
    assert (header["nonce"], header["nc"]) == ("n2", "00000001")


def test_a_second_challenge_after_a_fresh_answer_means_wrong_credentials() -> None:
    """auth_wrong_password_watcher_sip.txt: Kamailio answers our answer with another 407 (a new
    nonce, no stale): the client must say REJECTED, not retry for ever."""
    datagrams = load("auth_wrong_password_watcher_sip.txt")
    challenges = [parse_message(d.data) for d in datagrams if d.data.startswith(b"SIP/2.0 407")]
    assert len(challenges) >= 2  # the lab watcher tried more than once
    client = DigestClient("watcher", "wrong-password")
    verdicts = []
    for response in challenges[:2]:
        assert isinstance(response, SipResponse)
        parsed = [parse_challenge(v, proxy=True) for _, v in auth_challenges(response)]
        verdicts.append(client.challenged([c for c in parsed if c is not None]))
        client.authorization("SUBSCRIBE", "sip:1001@127.0.0.1")
    assert verdicts == [Verdict.RETRY, Verdict.REJECTED]


def test_a_challenge_after_a_reused_nonce_is_retried_once() -> None:
    client = DigestClient("u", "p")
    one = parse_challenge('Digest realm="r", nonce="n1", qop="auth"')
    two = parse_challenge('Digest realm="r", nonce="n2", qop="auth"')
    assert one is not None and two is not None
    client.challenged([one])
    client.authorization("SUBSCRIBE", "sip:a")
    client.authorization("SUBSCRIBE", "sip:a")  # nc=2: some servers refuse reuse without stale
    assert client.challenged([two]) is Verdict.RETRY
    client.authorization("SUBSCRIBE", "sip:a")
    assert client.challenged([two]) is Verdict.REJECTED


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        ('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"', Verdict.RETRY),
        ('Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"', Verdict.RETRY),
        ('Digest realm="r", nonce="n"', Verdict.RETRY),
        ('Digest realm="r", nonce="n", algorithm=SHA-1024', Verdict.UNSUPPORTED),
        ('Digest realm="r", nonce="n", qop="auth-conf"', Verdict.UNSUPPORTED),
    ],
    ids=["sha256", "md5-sess", "rfc2069", "unknown algorithm", "unknown qop"],
)
def test_what_we_can_answer(header: str, verdict: Verdict) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert DigestClient("u", "p").challenged([challenge]) is verdict


def test_the_strongest_offered_algorithm_is_used() -> None:
    offered = [
        parse_challenge('Digest realm="r", nonce="n", algorithm=MD5, qop="auth"'),
        parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"'),
    ]
    client = DigestClient("u", "p", cnonce_source=lambda: "c")
    client.challenged([c for c in offered if c is not None])
    [(name, value)] = client.authorization("SUBSCRIBE", "sip:a")
    assert name == "Authorization" and "algorithm=SHA-256" in value
    assert len(_params(value)["response"]) == 64


def test_sess_and_rfc2069_shapes() -> None:
    sess = parse_challenge('Digest realm="r", nonce="n", algorithm=SHA-256-sess, qop="auth", opaque="o"')
    old = parse_challenge('Digest realm="r", nonce="n"')
    assert sess is not None and old is not None
    client = DigestClient("u", "p", cnonce_source=lambda: "abc")
    client.challenged([sess])
    params = _params(client.authorization("SUBSCRIBE", "sip:a")[0][1])
    assert params["algorithm"] == "SHA-256-sess" and params["opaque"] == "o"
    # H(A1) for -sess is H(H(u:r:p):nonce:cnonce): recomputed by hand here
    ha1 = hashlib.sha256((hashlib.sha256(b"u:r:p").hexdigest() + ":n:abc").encode()).hexdigest()
    ha2 = hashlib.sha256(b"SUBSCRIBE:sip:a").hexdigest()
    assert params["response"] == hashlib.sha256(f"{ha1}:n:00000001:abc:auth:{ha2}".encode()).hexdigest()

    plain = DigestClient("u", "p")
    plain.challenged([old])
    value = plain.authorization("SUBSCRIBE", "sip:a")[0][1]
    assert "qop=" not in value and "nc=" not in value and "cnonce=" not in value
    expected = hashlib.md5(
        (hashlib.md5(b"u:r:p").hexdigest() + ":n:" + hashlib.md5(b"SUBSCRIBE:sip:a").hexdigest()).encode()
    ).hexdigest()
    assert _params(value)["response"] == expected


def test_malformed_and_foreign_challenges() -> None:
    assert parse_challenge('Basic realm="r"') is None
    with pytest.raises(DigestError, match="realm or nonce"):
        parse_challenge('Digest realm="r"')


def test_the_password_is_never_shown() -> None:
    client = DigestClient("u", "s3cret-pass")
    client.challenged([Challenge("r", "n", qop=("auth",))])
    assert "s3cret-pass" not in repr(client)
    assert "s3cret-pass" not in str(client.authorization("SUBSCRIBE", "sip:a"))
