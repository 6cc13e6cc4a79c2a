"""The emulator's identity platform: OIDC discovery, the client-credentials token endpoint, and
bearer-token checks for the Graph routes.

Enough of Entra ID for the real msal library: ``GET /{tenant}/v2.0/.well-known/openid-configuration``,
``POST /{tenant}/oauth2/v2.0/token`` (client secret or certificate assertion, scope
``https://graph.microsoft.com/.default``), ``GET /{tenant}/discovery/v2.0/keys`` and
``GET /common/discovery/instance``. Errors come in Entra's shape. Secrets and assertions are
never logged nor echoed.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.emulator.config import AppRegistration, EmulatorConfig
from bridge.emulator.identity_errors import AuthProblem, TokenRequestRejected, entra_error_body
from bridge.emulator.identity_tokens import (
    ASSERTION_TYPE_JWT,
    GRAPH_DEFAULT_SCOPE,
    ClientCertificate,
    TokenSigner,
    verify_client_assertion,
)
from bridge.kit.clock import Clock

__all__ = ["AuthProblem", "Identity", "Principal"]

log = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_VERIFIED_CACHE_SIZE = 256  # tokens whose signature was checked (lifetime is checked on every call)


@dataclass(frozen=True)
class Principal:
    """The app behind a valid bearer token."""

    client_id: str
    tenant_id: str
    roles: frozenset[str]


def _missing(parameter: str) -> TokenRequestRejected:
    return TokenRequestRejected(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


class Identity:
    """Issues app tokens for the registered apps and checks them on Graph calls."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._apps: dict[str, AppRegistration] = {app.client_id: app for app in config.apps}
        self._certs: dict[str, ClientCertificate] = {
            app.client_id: ClientCertificate.from_pem(app.cert_pem) for app in config.apps if app.cert_pem
        }
        self._signer = TokenSigner(config.tenant_id)
        self._verified: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, float] = {
            "discovery_requests": 0,
            "token_requests": 0,
            "tokens_issued": 0,
            "token_errors": 0,
            "graph_auth_failures": 0,
        }
        self.routes: list[BaseRoute] = [
            Route("/common/discovery/instance", self._instance_discovery, methods=["GET"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._openid_configuration),
            Route("/{tenant}/discovery/v2.0/keys", self._keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
        ]

    def stats(self) -> dict[str, float]:
        return dict(self.counters)

    # ----- Graph side -------------------------------------------------------------------------

    def principal(self, authorization: str | None) -> Principal:
        """The app a Graph request's ``Authorization`` header proves; :class:`AuthProblem` (401) if none."""
        try:
            return self._principal(authorization)
        except AuthProblem:
            self.counters["graph_auth_failures"] += 1
            raise

    def _principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.strip():
            raise AuthProblem(401, "InvalidAuthenticationToken", "Access token is empty.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthProblem(401, "InvalidAuthenticationToken", "Access token is empty.")
        try:
            claims = self._verified.get(token) or self._verify(token)
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError):
            raise AuthProblem(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
            ) from None
        except jwt.PyJWTError:
            raise AuthProblem(
                401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217"
            ) from None
        if claims.get("tid") != self._config.tenant_id:
            raise AuthProblem(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid issuer or signature.",
            )
        now = self._clock.now().timestamp()
        if now >= float(claims["exp"]) or now < float(claims.get("nbf", 0)):
            raise AuthProblem(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
        roles = claims.get("roles") or []
        return Principal(
            client_id=str(claims["appid"]),
            tenant_id=str(claims["tid"]),
            roles=frozenset(str(r) for r in roles),
        )

    def _verify(self, token: str) -> dict[str, Any]:
        claims = self._signer.decode(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = claims
        return claims

    # ----- HTTP routes ------------------------------------------------------------------------

    @staticmethod
    def _base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _unknown_tenant(self, request: Request, tenant: str) -> JSONResponse:
        problem = TokenRequestRejected(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
        )
        return self._error_response(request, problem)

    def _error_response(self, request: Request, problem: TokenRequestRejected) -> JSONResponse:
        body = entra_error_body(
            problem, now=self._clock.now(), correlation_id=request.headers.get("client-request-id")
        )
        headers = dict(_NO_STORE)
        if problem.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_client"'
        return JSONResponse(body, status_code=problem.status, headers=headers)

    async def _openid_configuration(self, request: Request) -> Response:
        self.counters["discovery_requests"] += 1
        tenant = request.path_params["tenant"]
        if tenant != self._config.tenant_id:
            return self._unknown_tenant(request, tenant)
        base = f"{self._base_url(request)}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    async def _keys(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant != self._config.tenant_id:
            return self._unknown_tenant(request, tenant)
        return JSONResponse(self._signer.jwks())

    async def _instance_discovery(self, request: Request) -> Response:
        """What msal reads: ``tenant_discovery_endpoint`` (validation) and ``metadata`` (aliases)."""
        base = self._base_url(request)
        host = urlsplit(base).netloc
        authorize = request.query_params.get("authorization_endpoint", "")
        tenant = self._config.tenant_id
        parts = [p for p in urlsplit(authorize).path.split("/") if p]
        if parts and parts[0] not in ("common", "organizations"):
            tenant = parts[0]
        return JSONResponse(
            {
                "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": request.query_params.get("api-version", "1.1"),
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            }
        )

    async def _token(self, request: Request) -> Response:
        self.counters["token_requests"] += 1
        tenant = request.path_params["tenant"]
        if tenant != self._config.tenant_id:
            self.counters["token_errors"] += 1
            return self._unknown_tenant(request, tenant)
        raw = await request.body()
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            form = {}
        token_endpoint = f"{self._base_url(request)}/{tenant}/oauth2/v2.0/token"
        try:
            app, acr = self._authenticate(form, token_endpoint)
        except TokenRequestRejected as problem:
            self.counters["token_errors"] += 1
            log.info(
                "token request refused: client_id=%s error=%s AADSTS%s",
                form.get("client_id", "-"),
                problem.error,
                problem.aadsts,
            )
            return self._error_response(request, problem)
        lifetime = int(self._config.token_lifetime_seconds)
        token = self._signer.issue(
            client_id=app.client_id, roles=app.roles, now=self._clock.now(), lifetime=lifetime, acr=acr
        )
        self.counters["tokens_issued"] += 1
        credential = "certificate" if acr == "2" else "secret"
        log.info("token issued: client_id=%s credential=%s", app.client_id, credential)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
        return JSONResponse(body, headers=_NO_STORE)

    def _authenticate(self, form: dict[str, str], token_endpoint: str) -> tuple[AppRegistration, str]:
        """The app a token request proves, and its ``appidacr`` ("1" secret, "2" certificate)."""
        grant = form.get("grant_type")
        if not grant:
            raise _missing("grant_type")
        if grant != "client_credentials":
            raise TokenRequestRejected(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'. The emulator supports only "
                "'client_credentials'.",
            )
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        app = self._apps.get(client_id)
        if app is None:
            raise TokenRequestRejected(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self._config.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant.",
            )
        self._check_scope(form.get("scope"))
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret is not None and assertion is not None:
            raise TokenRequestRejected(
                400, "invalid_request", 700025, "Send only one of 'client_assertion' or 'client_secret'."
            )
        if assertion is not None:
            self._check_assertion(app, form, assertion, token_endpoint)
            return app, "2"
        if secret is not None:
            expected = app.secret
            if expected is None or not hmac.compare_digest(secret.encode("utf-8"), expected.encode("utf-8")):
                raise TokenRequestRejected(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    "client secret value, not the client secret ID, for a secret added to app "
                    f"'{client_id}'.",
                )
            return app, "1"
        raise TokenRequestRejected(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    @staticmethod
    def _check_scope(scope: str | None) -> None:
        if not scope:
            raise _missing("scope")
        scopes = scope.split()
        if scopes == [GRAPH_DEFAULT_SCOPE]:
            return
        if len(scopes) == 1 and scopes[0].endswith("/.default"):
            resource = scopes[0].removesuffix("/.default")
            raise TokenRequestRejected(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant. The emulator "
                f"serves only '{GRAPH_DEFAULT_SCOPE}'.",
            )
        raise TokenRequestRejected(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
        )

    def _check_assertion(
        self, app: AppRegistration, form: dict[str, str], assertion: str, token_endpoint: str
    ) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE_JWT:
            raise TokenRequestRejected(
                400,
                "invalid_request",
                700023,
                f"Client assertion type must be '{ASSERTION_TYPE_JWT}'.",
            )
        cert = self._certs.get(app.client_id)
        if cert is None:
            raise TokenRequestRejected(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation. (Reason - The key was not found.) "
                f"No certificate is registered for app '{app.client_id}'.",
            )
        verify_client_assertion(
            assertion, cert, client_id=app.client_id, audience=token_endpoint, now=self._clock.now()
        )
