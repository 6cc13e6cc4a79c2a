"""JWT work of the emulated identity platform: app tokens it signs, client assertions it checks.

Pure: no I/O and no clock reads; the current time is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bridge.emulator.identity_errors import TokenRequestRejected

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_DEFAULT_SCOPE = GRAPH_RESOURCE + "/.default"
ASSERTION_TYPE_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ("RS256", "PS256")
CLOCK_SKEW_SECONDS = 300  # Entra tolerates five minutes of clock skew on assertions


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class ClientCertificate:
    """A registered app certificate: the key that verifies its assertions and its thumbprints."""

    public_key: Any
    x5t: str  # base64url SHA-1 thumbprint
    x5t_s256: str  # base64url SHA-256 thumbprint

    @classmethod
    def from_pem(cls, pem: bytes) -> ClientCertificate:
        cert = x509.load_pem_x509_certificate(pem)
        return cls(
            public_key=cert.public_key(),
            x5t=_b64url(cert.fingerprint(hashes.SHA1())),  # x5t is SHA-1 by definition
            x5t_s256=_b64url(cert.fingerprint(hashes.SHA256())),
        )


def _reject_assertion(aadsts: int, description: str) -> TokenRequestRejected:
    return TokenRequestRejected(401, "invalid_client", aadsts, description)


def verify_client_assertion(
    assertion: str, cert: ClientCertificate, *, client_id: str, audience: str, now: datetime
) -> None:
    """Raise :class:`TokenRequestRejected` unless ``assertion`` is a valid client assertion.

    Checks: RS256/PS256 signature by the registered certificate (and its thumbprint when the
    header names one), ``aud`` = the token endpoint, ``iss`` = ``sub`` = client id, ``exp``/``nbf``
    against ``now`` with five minutes of skew.
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise _reject_assertion(50027, "JWT token is invalid or malformed.") from None
    if header.get("alg") not in ASSERTION_ALGORITHMS:
        raise _reject_assertion(
            5002738, f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm."
        )
    named = header.get("x5t#S256") or header.get("x5t")
    if named is not None and str(named).rstrip("=") not in (cert.x5t, cert.x5t_s256):
        raise _reject_assertion(
            700027, "Client assertion failed signature validation. (Reason - The key was not found.)"
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key,
            algorithms=list(ASSERTION_ALGORITHMS),
            audience=audience,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["aud", "iss", "sub", "exp"],
            },
        )
    except jwt.InvalidSignatureError:
        raise _reject_assertion(700027, "Client assertion failed signature validation.") from None
    except jwt.InvalidAudienceError:
        raise _reject_assertion(
            700212,
            f"The audience claim in the client assertion does not match the token endpoint '{audience}'.",
        ) from None
    except jwt.PyJWTError:
        raise _reject_assertion(50027, "JWT token is invalid or malformed.") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise _reject_assertion(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    stamp = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if (
        not isinstance(exp, int | float)
        or exp + CLOCK_SKEW_SECONDS < stamp
        or (isinstance(nbf, int | float) and nbf - CLOCK_SKEW_SECONDS > stamp)
    ):
        raise _reject_assertion(700024, "Client assertion is not within its valid time range.")


class TokenSigner:
    """Signs and checks the emulator's app-only access tokens (RS256, one key per emulator)."""

    def __init__(self, tenant_id: str, key: rsa.RSAPrivateKey | None = None) -> None:
        self.tenant_id = tenant_id
        self._key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = _b64url(hashlib.sha256(public_der).digest()[:16])
        self.issuer = f"https://sts.windows.net/{tenant_id}/"

    def issue(self, *, client_id: str, roles: frozenset[str], now: datetime, lifetime: int, acr: str) -> str:
        iat = int(now.timestamp())
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"emulator-sp:{self.tenant_id}:{client_id}"))
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": self.issuer,
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime,
            "appid": client_id,
            "appidacr": acr,
            "idtyp": "app",
            "oid": object_id,
            "sub": object_id,
            "roles": sorted(roles),
            "tid": self.tenant_id,
            "uti": _b64url(uuid.uuid4().bytes),
            "ver": "1.0",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    def decode(self, token: str) -> dict[str, Any]:
        """Signature and audience checked; lifetime is the caller's business (injected clock)."""
        return jwt.decode(
            token,
            self._key.public_key(),
            algorithms=["RS256"],
            audience=GRAPH_RESOURCE,
            issuer=self.issuer,
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "tid", "appid"],
            },
        )

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}
