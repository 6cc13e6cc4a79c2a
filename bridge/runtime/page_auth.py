"""Who may read the status page, ``/status`` and ``/events``: the listener's access rule.

On a loopback listener everything is open (only this host can connect). Anywhere else the
protected paths need ``http.auth``: a bearer token whose SHA-256 matches ``token_sha256`` or basic
auth matching ``basic_user`` / ``basic_password_hash`` (PBKDF2). Without ``http.auth`` such a
listener refuses them (403 naming the fix; ``check`` refuses the configuration outright). Paths in
``http.open`` (``/healthz``, ``/metrics`` by default) are always open.

Every comparison is ``hmac.compare_digest`` (constant time). A PBKDF2 check costs tens of
milliseconds, so the digest of a header that passed is remembered (a handful, for the page's
few requests and its stream); a wrong one is recomputed every time.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import TextIO

from bridge.config import HttpConfig
from bridge.config_model import PASSWORD_HASH
from bridge.kit.config_types import is_loopback

REALM = "presence-bridge"
DEFAULT_ITERATIONS = 200_000
_REMEMBERED = 16  # accepted Authorization headers whose digest is kept


class Verdict(Enum):
    OPEN = "open"  # no credentials needed here
    ALLOWED = "allowed"
    UNAUTHENTICATED = "unauthenticated"  # 401: credentials missing or wrong
    UNCONFIGURED = "unconfigured"  # 403: not loopback and no http.auth


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """The ``basic_password_hash`` value for ``password`` (a fresh random salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    found = PASSWORD_HASH.match(stored.strip())
    if found is None:
        return False
    iterations, salt, expected = int(found.group(1)), bytes.fromhex(found.group(2)), found.group(3)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations).hex()
    return hmac.compare_digest(digest, expected)


@dataclass(frozen=True)
class _Credentials:
    token_sha256: str | None
    user: str
    password_hash: str | None


class Access:
    """The rule for one listener, built from its ``HttpConfig``."""

    def __init__(self, config: HttpConfig) -> None:
        host, _ = config.bind
        self.loopback = is_loopback(host)
        self.open = frozenset(config.open)
        auth = config.auth
        self._credentials = (
            None
            if auth is None
            else _Credentials(
                auth.token_sha256.get_secret_value().strip().lower() if auth.token_sha256 else None,
                auth.basic_user,
                auth.basic_password_hash.get_secret_value() if auth.basic_password_hash else None,
            )
        )
        self._accepted: OrderedDict[bytes, None] = OrderedDict()

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a 401 (basic, when configured, lets a browser ask)."""
        if self._credentials is not None and self._credentials.password_hash is not None:
            return f'Basic realm="{REALM}", charset="UTF-8"'
        return f'Bearer realm="{REALM}"'

    def verdict(self, path: str, authorization: str | None) -> Verdict:
        if path in self.open:
            return Verdict.OPEN
        if self._credentials is None:
            return Verdict.OPEN if self.loopback else Verdict.UNCONFIGURED
        if authorization is None:
            return Verdict.UNAUTHENTICATED
        return Verdict.ALLOWED if self._accepts(authorization) else Verdict.UNAUTHENTICATED

    def _accepts(self, authorization: str) -> bool:
        key = hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).digest()
        if any(hmac.compare_digest(key, known) for known in self._accepted):
            return True
        if not self._check(authorization):
            return False
        self._accepted[key] = None
        while len(self._accepted) > _REMEMBERED:
            self._accepted.popitem(last=False)
        return True

    def _check(self, authorization: str) -> bool:
        creds = self._credentials
        assert creds is not None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and creds.token_sha256 is not None:
            digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
            return hmac.compare_digest(digest, creds.token_sha256)
        if scheme.lower() == "basic" and creds.password_hash is not None:
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, sep, password = decoded.partition(":")
            if not sep:
                return False
            user_ok = hmac.compare_digest(user.encode(), creds.user.encode())
            return password_matches(password, creds.password_hash) and user_ok
        return False


def hash_password_cli(stdin: TextIO, out: TextIO, err: TextIO) -> int:
    """``presence-bridge hash-password``: the hash of the password on stdin's first line (asked for
    without echo on a terminal), for ``http.auth.basic_password_hash_file``."""
    password = (
        getpass.getpass("password: ", stream=err) if stdin.isatty() else stdin.readline().rstrip("\r\n")
    )
    if not password:
        print("presence-bridge: empty password", file=err)
        return 2
    print(hash_password(password), file=out)
    return 0
