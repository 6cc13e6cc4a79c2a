"""The emulator's identity platform, in-process (ASGI): discovery, token endpoint, bearer checks."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from bridge.emulator.config import ROLE_READ, AppRegistration, EmulatorConfig
from bridge.emulator.identity import AuthProblem, Identity, Principal
from bridge.kit.clock import FakeClock
from tests.emulator.client_certs import make_app_certificate

TENANT = "11111111-2222-3333-4444-555555555555"
SECRET_APP = "aaaaaaaa-0000-0000-0000-000000000001"
CERT_APP = "aaaaaaaa-0000-0000-0000-000000000002"
READER_APP = "aaaaaaaa-0000-0000-0000-000000000003"
SECRET = "s3cr3t-value-never-shown"
BASE = "https://emulator.test"
TOKEN_URL = f"{BASE}/{TENANT}/oauth2/v2.0/token"
SCOPE = "https://graph.microsoft.com/.default"

CERT = make_app_certificate()
OTHER_CERT = make_app_certificate("someone-else")


def make_identity(clock: FakeClock) -> Identity:
    config = EmulatorConfig(
        tenant_id=TENANT,
        apps=(
            AppRegistration(SECRET_APP, secret=SECRET),
            AppRegistration(CERT_APP, cert_pem=CERT.cert_pem),
            AppRegistration(READER_APP, secret=SECRET, roles=frozenset({ROLE_READ})),
        ),
        token_lifetime_seconds=3599,
    )
    return Identity(config, clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def identity(clock: FakeClock) -> Identity:
    return make_identity(clock)


@pytest.fixture
async def client(identity: Identity):
    app = Starlette(routes=identity.routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


def secret_form(client_id: str = SECRET_APP, secret: str = SECRET, scope: str = SCOPE) -> dict[str, str]:
    return {
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope,
    }


def assertion(
    key_pem: bytes = CERT.key_pem,
    *,
    aud: str = TOKEN_URL,
    iss: str = CERT_APP,
    now: float | None = None,
    lifetime: int = 600,
    alg: str = "PS256",
) -> str:
    issued = FakeClock().now().timestamp() if now is None else now
    claims = {"aud": aud, "iss": iss, "sub": iss, "iat": int(issued), "nbf": int(issued),
              "exp": int(issued) + lifetime, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key_pem, algorithm=alg)


def assertion_form(token: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": CERT_APP,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
        "scope": SCOPE,
    }


async def test_discovery_document_points_at_this_host(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["token_endpoint"] == TOKEN_URL
    assert doc["authorization_endpoint"] == f"{BASE}/{TENANT}/oauth2/v2.0/authorize"
    assert doc["issuer"] == f"{BASE}/{TENANT}/v2.0"
    keys = (await client.get(doc["jwks_uri"].removeprefix(BASE))).json()
    assert keys["keys"][0]["kty"] == "RSA"


async def test_unknown_tenant_is_400_in_entra_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    body = response.json()
    assert body["error_codes"] == [90002]
    assert {"error", "error_description", "timestamp", "trace_id", "correlation_id"} <= body.keys()
    token = await client.post("/other-tenant/oauth2/v2.0/token", data=secret_form())
    assert token.status_code == 400


async def test_instance_discovery_answers_what_msal_reads(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/common/discovery/instance",
        params={"api-version": "1.1", "authorization_endpoint": f"{BASE}/{TENANT}/oauth2/v2.0/authorize"},
    )
    body = response.json()
    assert body["tenant_discovery_endpoint"] == f"{BASE}/{TENANT}/v2.0/.well-known/openid-configuration"
    assert body["metadata"][0]["aliases"] == ["emulator.test"]


async def test_secret_grant_issues_a_token_graph_accepts(
    client: httpx.AsyncClient, identity: Identity
) -> None:
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=secret_form())
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    principal = identity.principal(f"Bearer {body['access_token']}")
    assert principal == Principal(
        client_id=SECRET_APP,
        tenant_id=TENANT,
        roles=frozenset({"Presence.ReadWrite.All", "Presence.Read.All", "User.Read.All"}),
    )
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["tid"] == TENANT
    assert claims["appid"] == SECRET_APP
    assert claims["exp"] - claims["iat"] == 3599
    assert claims["iat"] == int(FakeClock().now().timestamp())  # from the injected clock
    assert identity.stats()["tokens_issued"] == 1


async def test_roles_come_from_the_app_registration(client: httpx.AsyncClient, identity: Identity) -> None:
    body = (await client.post(f"/{TENANT}/oauth2/v2.0/token", data=secret_form(READER_APP))).json()
    assert identity.principal("Bearer " + body["access_token"]).roles == frozenset({ROLE_READ})


async def test_token_expires_on_the_injected_clock(
    client: httpx.AsyncClient, identity: Identity, clock: FakeClock
) -> None:
    token = (await client.post(f"/{TENANT}/oauth2/v2.0/token", data=secret_form())).json()["access_token"]
    await clock.advance(3598)
    assert identity.principal(f"Bearer {token}").client_id == SECRET_APP
    await clock.advance(2)
    with pytest.raises(AuthProblem) as caught:
        identity.principal(f"Bearer {token}")
    assert caught.value.status == 401
    assert caught.value.code == "InvalidAuthenticationToken"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer " + jwt.encode({"a": 1}, "k" * 32)],
    ids=["missing", "empty", "no-token", "basic", "garbage", "foreign-hs256"],
)
def test_graph_rejects_missing_or_invalid_tokens(identity: Identity, header: str | None) -> None:
    with pytest.raises(AuthProblem) as caught:
        identity.principal(header)
    assert caught.value.status == 401
    body = caught.value.body(request_id="r-1", date=FakeClock().now())
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert body["error"]["innerError"]["request-id"] == "r-1"


async def test_token_from_another_emulator_is_rejected(client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = (await client.post(f"/{TENANT}/oauth2/v2.0/token", data=secret_form())).json()["access_token"]
    with pytest.raises(AuthProblem):
        make_identity(clock).principal(f"Bearer {token}")


async def test_wrong_secret_is_invalid_client_and_never_echoed(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    response = await client.post(
        f"/{TENANT}/oauth2/v2.0/token", data=secret_form(secret="wrong-" + SECRET),
        headers={"client-request-id": "corr-42"},
    )
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215:")
    assert body["correlation_id"] == "corr-42"
    assert SECRET not in response.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({**secret_form(), "grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({k: v for k, v in secret_form().items() if k != "grant_type"}, 400, "invalid_request", 900144),
        ({k: v for k, v in secret_form().items() if k != "scope"}, 400, "invalid_request", 900144),
        (secret_form(scope="Presence.ReadWrite.All"), 400, "invalid_scope", 1002012),
        (secret_form(scope="https://vault.azure.net/.default"), 400, "invalid_resource", 500011),
        (secret_form(client_id="bbbbbbbb-0000-0000-0000-000000000000"), 400, "unauthorized_client", 700016),
        ({k: v for k, v in secret_form().items() if k != "client_secret"}, 401, "invalid_client", 7000218),
    ],
    ids=["grant", "no-grant", "no-scope", "bad-scope", "other-resource", "unknown-app", "no-credential"],
)
async def test_token_errors_in_entra_shape(
    client: httpx.AsyncClient, form: dict[str, str], status: int, error: str, code: int
) -> None:
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")


@pytest.mark.parametrize("alg", ["PS256", "RS256"])
async def test_certificate_assertion_issues_a_token(
    client: httpx.AsyncClient, identity: Identity, alg: str
) -> None:
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=assertion_form(assertion(alg=alg)))
    assert response.status_code == 200, response.text
    principal = identity.principal("Bearer " + response.json()["access_token"])
    assert principal.client_id == CERT_APP


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (assertion(OTHER_CERT.key_pem), 700027),
        (assertion(aud=f"{BASE}/{TENANT}/oauth2/token"), 700212),
        (assertion(iss=SECRET_APP), 700021),
        (assertion(now=FakeClock().now().timestamp() - 3600), 700024),
        (assertion(now=FakeClock().now().timestamp() + 3600), 700024),
        ("b'" + assertion() + "'", 50027),  # what httpx sends for a bytes form value
    ],
    ids=["other-key", "wrong-audience", "wrong-issuer", "expired", "not-yet-valid", "bytes-repr"],
)
async def test_bad_assertions_are_invalid_client(client: httpx.AsyncClient, token: str, code: int) -> None:
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=assertion_form(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_codes"] == [code]


async def test_assertion_for_an_app_without_certificate_is_refused(client: httpx.AsyncClient) -> None:
    form = {**assertion_form(assertion(iss=SECRET_APP)), "client_id": SECRET_APP}
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=form)
    assert response.status_code == 401
    assert response.json()["error_codes"] == [700027]



@pytest.mark.parametrize("header", ["x5t", "x5t#S256"])
async def test_assertion_naming_another_certificate_is_refused(
    client: httpx.AsyncClient, header: str
) -> None:
    token = jwt.encode(
        jwt.decode(assertion(), options={"verify_signature": False}),
        CERT.key_pem,
        algorithm="PS256",
        headers={header: "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
    )
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=assertion_form(token))
    assert response.status_code == 401
    assert "key was not found" in response.json()["error_description"]
