"""SIP digest authentication for a client (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760). Pure.

``parse_challenge`` reads one ``WWW-Authenticate`` (401) or ``Proxy-Authenticate`` (407) value;
``DigestClient`` answers challenges for one account and remembers, per realm, the nonce and how
often it was used, so later requests (refreshes) carry ``nc=00000002``... without a new round trip
(RFC 7616 3.4 "nonce reuse"). Algorithms: MD5, SHA-256 and SHA-512-256, each also as ``-sess``
(``DIGEST_ALGORITHMS``); qop ``auth`` is preferred, ``auth-int`` is used when it is the only one
offered, and no qop at all is RFC 2069 compatibility (no cnonce, no nc).

``DigestClient.challenged`` tells the caller what a 401/407 means (``Verdict``):

* ``RETRY``: a new nonce (first challenge, or the server rotated it): retry with credentials;
* ``STALE``: ``stale=true``: the credentials were right, only the nonce aged: retry, and do not
  count it as a failure (RFC 7616 3.3);
* ``REJECTED``: we answered a fresh nonce and were challenged again without ``stale=true``: the
  credentials are wrong; the caller reports BAD_CREDENTIALS and backs off (never a hot loop). A
  challenge after a *reused* nonce (nc > 1) is only ``RETRY``: some servers refuse reuse silently;
* ``RETRY`` also covers a first challenge for another realm (a proxy on the path);
* ``UNSUPPORTED``: no challenge we can answer (an unknown algorithm or scheme).

The password never appears in a repr, an error or a log line; the cnonce source is injected so
tests are deterministic.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from adapters.sip_blf.message import SipParseError, parse_auth_params, quote


def _hasher(name: str) -> Callable[[bytes], str]:
    def digest(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    return digest


# RFC 7616 3.2 / RFC 8760 2: algorithm token (upper-cased) -> hash function.
DIGEST_ALGORITHMS: dict[str, Callable[[bytes], str]] = {
    "MD5": _hasher("md5"),
    "SHA-256": _hasher("sha256"),
    "SHA-512-256": _hasher("sha512_256"),
}
# Our preference when a server offers several challenges (RFC 7616 3.7: strongest first).
ALGORITHM_PREFERENCE: tuple[str, ...] = ("SHA-512-256", "SHA-256", "MD5")


class DigestError(SipParseError):
    """A challenge header is malformed (named); never carries a credential."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One digest challenge, as the server sent it."""

    realm: str
    nonce: str
    algorithm: str = "MD5"  # as the server wrote it (echoed back verbatim, RFC 7616 3.4)
    qop: tuple[str, ...] = ()  # offered qop values, lower-cased
    opaque: str | None = None
    stale: bool = False
    proxy: bool = False  # from Proxy-Authenticate (answer with Proxy-Authorization)
    userhash: bool = False

    @property
    def base_algorithm(self) -> str:
        return self.algorithm.upper().removesuffix("-SESS")

    @property
    def session(self) -> bool:
        return self.algorithm.upper().endswith("-SESS")

    @property
    def supported(self) -> bool:
        qop_ok = not self.qop or bool({"auth", "auth-int"} & set(self.qop))
        return self.base_algorithm in DIGEST_ALGORITHMS and qop_ok


def parse_challenge(value: str, *, proxy: bool = False) -> Challenge | None:
    """A digest challenge, or None for another scheme (Basic, Bearer...). Raises DigestError
    when a Digest challenge lacks realm or nonce."""
    scheme, params = parse_auth_params(value)
    if scheme != "digest":
        return None
    realm, nonce = params.get("realm"), params.get("nonce")
    if realm is None or not nonce:
        raise DigestError("digest challenge without realm or nonce")
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=params.get("algorithm", "MD5").strip(),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
        proxy=proxy,
        userhash=params.get("userhash", "").lower() == "true",
    )


def compute_response(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: int = 1,
    cnonce: str = "",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 3.4.1, RFC 2617 3.2.2.1, RFC 2069 when qop is None)."""
    hash_ = DIGEST_ALGORITHMS[challenge.base_algorithm]
    ha1 = hash_(f"{username}:{challenge.realm}:{password}".encode())
    if challenge.session:
        ha1 = hash_(f"{ha1}:{challenge.nonce}:{cnonce}".encode())
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hash_(body)
    ha2 = hash_(a2.encode())
    if qop is None:
        return hash_(f"{ha1}:{challenge.nonce}:{ha2}".encode())
    return hash_(f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}".encode())


class Verdict(StrEnum):
    RETRY = "retry"
    STALE = "stale"
    REJECTED = "rejected"
    UNSUPPORTED = "unsupported"


@dataclass(slots=True)
class _NonceUse:
    challenge: Challenge
    nc: int = 0  # requests sent with this nonce so far
    answered: bool = False  # at least one request carried it


def _default_cnonce() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True)
class DigestClient:
    """Credentials for one SIP account plus the nonces the servers gave it (per realm)."""

    username: str
    password: str = field(repr=False)
    cnonce_source: Callable[[], str] = _default_cnonce
    _nonces: dict[tuple[bool, str], _NonceUse] = field(default_factory=dict, repr=False)

    def challenged(self, challenges: Sequence[Challenge]) -> Verdict:
        """Learn the challenges of one 401/407 and say what it means (module docstring)."""
        usable = [c for c in challenges if c.supported]
        if not usable:
            return Verdict.UNSUPPORTED
        verdict = Verdict.RETRY
        for kind in {c.proxy for c in usable}:
            best = min(
                (c for c in usable if c.proxy == kind),
                key=lambda c: ALGORITHM_PREFERENCE.index(c.base_algorithm),
            )
            previous = self._nonces.get((kind, best.realm))
            if best.stale:
                verdict = Verdict.STALE if verdict is Verdict.RETRY else verdict
            elif previous is not None and previous.answered and previous.nc == 1:
                # we answered a fresh nonce and were challenged again without stale=true: the
                # server checked our response and it was wrong (RFC 7616 3.3), whatever the new nonce
                verdict = Verdict.REJECTED
            self._nonces[(kind, best.realm)] = _NonceUse(best)
        return verdict

    def forget(self) -> None:
        """Drop every remembered nonce (a new registration or transport)."""
        self._nonces.clear()

    def authorization(self, method: str, uri: str, body: bytes = b"") -> list[tuple[str, str]]:
        """The Authorization / Proxy-Authorization headers for a request, one per remembered
        realm, each with the next ``nc`` for its nonce. Empty before the first challenge."""
        headers: list[tuple[str, str]] = []
        for (proxy, _realm), use in self._nonces.items():
            use.nc += 1
            use.answered = True
            name = "Proxy-Authorization" if proxy else "Authorization"
            headers.append((name, self._credentials(use.challenge, method, uri, use.nc, body)))
        return headers

    def _credentials(self, challenge: Challenge, method: str, uri: str, nc: int, body: bytes) -> str:
        qop: str | None = None
        if challenge.qop:
            qop = "auth" if "auth" in challenge.qop else "auth-int"
        cnonce = self.cnonce_source() if qop is not None or challenge.session else ""
        hash_ = DIGEST_ALGORITHMS[challenge.base_algorithm]
        username = (
            hash_(f"{self.username}:{challenge.realm}".encode()) if challenge.userhash else self.username
        )
        response = compute_response(
            challenge,
            username=self.username,
            password=self.password,
            method=method,
            uri=uri,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        parts = [
            f"username={quote(username)}",
            f"realm={quote(challenge.realm)}",
            f"nonce={quote(challenge.nonce)}",
            f"uri={quote(uri)}",
            f"response={quote(response)}",
            f"algorithm={challenge.algorithm}",
        ]
        if qop is not None:
            parts += [f"qop={qop}", f"nc={nc:08x}", f"cnonce={quote(cnonce)}"]
        elif challenge.session:
            parts.append(f"cnonce={quote(cnonce)}")
        if challenge.opaque is not None:
            parts.append(f"opaque={quote(challenge.opaque)}")
        if challenge.userhash:
            parts.append("userhash=true")
        return "Digest " + ", ".join(parts)
