"""App-only tokens for Graph from msal (client secret or certificate), behind a small async API.

msal is synchronous and does network I/O (discovery in its constructor, the token request), so
every msal call runs in a worker thread. msal's in-memory cache reuses the app token until it
is within five minutes of expiry (or past the refresh time the identity platform gave). The
token msal last returned is also kept here with that same deadline, so the hot path (a token per
Graph request) is an attribute read: no worker thread, no msal cache search. Nothing above this
module sees msal or httpx exceptions: refusals become :class:`GraphAuthError`, transport
trouble :class:`GraphUnavailable`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal  # type: ignore[import-untyped]  # msal ships no type information
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bridge.errors import ConfigError, GraphAuthError, GraphError, GraphUnavailable
from bridge.teams.auth_http import MsalHttpClient

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

# Hosts Microsoft's instance discovery knows; any other authority (our emulator, a test host)
# cannot be validated by login.microsoftonline.com, so discovery is skipped for it.
_MICROSOFT_LOGIN_SUFFIXES = (
    ".microsoftonline.com",
    ".microsoftonline.us",
    ".microsoft.com",
    ".windows.net",
    ".chinacloudapi.cn",
)
# Entra error codes that mean "the service is struggling", not "your credential is wrong".
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
# msal refreshes an app token this long before it expires; the fast path stops reusing it then too.
_REFRESH_MARGIN_SECONDS = 300.0
_PRIVATE_KEY_PEM = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)


def _is_microsoft_host(authority_base: str) -> bool:
    host = (urlsplit(authority_base).hostname or "").lower()
    return host.endswith(_MICROSOFT_LOGIN_SUFFIXES)


def certificate_credential(certificate_pem: bytes) -> dict[str, str]:
    """msal's certificate credential from one PEM holding the private key and the certificate."""
    match = _PRIVATE_KEY_PEM.search(certificate_pem)
    if match is None:
        raise ConfigError(["certificate: no private key found in the PEM (expected key and certificate)"])
    try:
        load_pem_private_key(match.group(0), password=None)
        certs = x509.load_pem_x509_certificates(certificate_pem)
    except (ValueError, TypeError) as exc:
        raise ConfigError([f"certificate: unreadable PEM ({type(exc).__name__})"]) from None
    thumbprint = certs[0].fingerprint(hashes.SHA1()).hex().upper()  # Entra's certificate thumbprint
    return {"private_key": match.group(0).decode("ascii"), "thumbprint": thumbprint}


def _claims(access_token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (we only read what we were given, for `check`)."""
    try:
        payload = access_token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _refusal(result: dict[str, Any]) -> GraphError:
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").split(" Trace ID:")[0].strip()
    request_id = result.get("correlation_id") or result.get("trace_id")
    message = f"token request refused: {description}" if description else "token request refused"
    kind = GraphUnavailable if error in _TRANSIENT_ERRORS else GraphAuthError
    return kind(message, code=error, request_id=str(request_id) if request_id else None)


class MsalTokenProvider:
    """App-only Graph tokens for one (tenant, app) through msal's ``ConfidentialClientApplication``."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        authority_base: str,
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        ca_file: str | None = None,
        proxy: str | None = None,
        instance_discovery: bool = True,
    ) -> None:
        if (secret is None) == (certificate_pem is None):
            raise ConfigError(["credential: give exactly one of a client secret or a certificate"])
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority = f"{authority_base.rstrip('/')}/{tenant_id}"
        self._credential: str | dict[str, str] = (
            secret if secret is not None else certificate_credential(certificate_pem or b"")
        )
        self._instance_discovery = instance_discovery and _is_microsoft_host(authority_base)
        self._http = MsalHttpClient.create(ca_file=ca_file, proxy=proxy)
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._drop_cached = False
        self._claims: dict[str, Any] = {}
        self._fast: tuple[str, float] | None = None  # (token, monotonic time msal stops reusing it)
        self._generation = 0  # bumped by invalidate(): a token fetched before it is not kept
        self.counters: dict[str, float] = {"token_requests": 0, "cache_hits": 0, "failures": 0}

    def __repr__(self) -> str:
        return f"MsalTokenProvider(authority={self.authority!r}, client_id={self.client_id!r})"

    async def token(self) -> str:
        """A valid app token for Graph (cached by msal until five minutes before expiry)."""
        fast = self._fast
        if fast is not None and time.monotonic() < fast[1]:
            self.counters["cache_hits"] += 1
            return fast[0]
        return await asyncio.to_thread(self._acquire)

    def invalidate(self) -> None:
        """Forget the cached app token (after a 401): the next :meth:`token` asks the identity platform."""
        self._fast = None
        self._generation += 1
        self._drop_cached = True

    def replace_credential(self, *, secret: str | None = None, certificate_pem: bytes | None = None) -> None:
        """Use a new client secret or certificate from now on (its file changed): msal's app is
        rebuilt with it on the next token request; a token already held stays valid until then."""
        if (secret is None) == (certificate_pem is None):
            raise ConfigError(["credential: give exactly one of a client secret or a certificate"])
        credential = secret if secret is not None else certificate_credential(certificate_pem or b"")
        with self._lock:
            self._credential = credential
            self._app = None
        self.invalidate()

    def roles(self) -> frozenset[str]:
        """The app roles (``roles`` claim) of the last token obtained."""
        return frozenset(str(r) for r in self._claims.get("roles") or ())

    def expires_at(self) -> datetime | None:
        """When the last token obtained expires (its ``exp`` claim)."""
        exp = self._claims.get("exp")
        return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None

    def stats(self) -> dict[str, float]:
        return dict(self.counters)

    def close(self) -> None:
        self._http.close()

    # ----- worker thread ----------------------------------------------------------------------

    def _acquire(self) -> str:
        began, generation = time.monotonic(), self._generation
        with self._lock:
            try:
                result = self._acquire_locked()
            except GraphError:
                self.counters["failures"] += 1
                raise
            except httpx.HTTPStatusError as exc:
                self.counters["failures"] += 1
                status = exc.response.status_code
                raise GraphUnavailable("identity platform answered with an error", status=status) from exc
            except httpx.TransportError as exc:
                self.counters["failures"] += 1
                raise GraphUnavailable(f"identity platform unreachable: {exc}") from exc
            except ValueError as exc:  # msal: discovery refused (unknown tenant), authority rejected
                self.counters["failures"] += 1
                raise GraphAuthError(f"authority {self.authority} refused: {_first_line(exc)}") from exc
            except Exception as exc:  # anything else msal or httpx raises stays here
                self.counters["failures"] += 1
                raise GraphUnavailable(f"token request failed: {type(exc).__name__}") from exc
        token = result["access_token"]
        self._claims = _claims(token)
        if generation == self._generation:
            self._fast = _reusable_until(str(token), result, began)
        if result.get("token_source") == "cache":
            self.counters["cache_hits"] += 1
        else:
            self.counters["token_requests"] += 1
            log.info("obtained Graph token for app %s (tenant %s)", self.client_id, self.tenant_id)
        return str(token)

    def _acquire_locked(self) -> dict[str, Any]:
        app = self._msal_app()
        if self._drop_cached:
            app.remove_tokens_for_client()
            self._drop_cached = False
        result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        if not isinstance(result, dict) or "access_token" not in result:
            refusal = _refusal(result if isinstance(result, dict) else {})
            log.warning("token request for app %s refused: %s", self.client_id, refusal)
            raise refusal
        return result

    def _msal_app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:  # discovery happens here, hence in the worker thread
            self._app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._credential,
                authority=self.authority,
                http_client=self._http,
                azure_region=False,  # ignore MSAL_FORCE_REGION: our authority is explicit
                instance_discovery=self._instance_discovery,
            )
        return self._app


def _reusable_until(token: str, result: dict[str, Any], began: float) -> tuple[str, float] | None:
    """The token and the monotonic time until which msal itself would hand it out from its cache."""
    left = result.get("expires_in")
    if not isinstance(left, int | float):
        return None
    until = float(left) - _REFRESH_MARGIN_SECONDS
    refresh_in = result.get("refresh_in")
    if isinstance(refresh_in, int | float):
        until = min(until, float(refresh_in))
    refresh_on = result.get("refresh_on")  # msal's cache hits carry the epoch instead
    if isinstance(refresh_on, int | float):
        until = min(until, float(refresh_on) - time.time())
    return (token, began + until) if until > 0 else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
