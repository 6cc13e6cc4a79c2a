"""Who may read the status page, ``/status`` and ``/events`` (issue 14), over real HTTP on
127.0.0.1: with ``http.auth`` they refuse a request without the right token or password (401 and
a challenge a browser or script understands) and ``/healthz`` and ``/metrics`` stay open unless
``http.open`` closes them; a listener beyond loopback without ``http.auth`` refuses them (403)."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from bridge.config import HttpConfig
from bridge.config_model import HttpAuth
from bridge.demo import running_service
from bridge.runtime.http import build_app
from bridge.runtime.page_auth import hash_password
from tests.page.support import PAGE_TOKEN, PAGE_TOKEN_SHA256, assert_nothing_secret, served_bridge
from tests.runtime.rig import bridge_config, emulator, new_clock

PROTECTED = ("/", "/status", "/events")
PASSWORD = "correct horse battery staple"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def statuses(base_url: str, paths: tuple[str, ...], headers: dict[str, str]) -> dict[str, int]:
    """Status code per path (the stream's headers are enough: it is closed at once)."""
    found = {}
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10) as client:
        for path in paths:
            async with client.stream("GET", path, headers=headers) as response:
                found[path] = response.status_code
    return found


async def test_a_bearer_token_guards_the_page_the_status_and_the_stream(tmp_path: Path) -> None:
    token_file = tmp_path / "page-token.sha256"
    token_file.write_text(PAGE_TOKEN_SHA256 + "\n")
    http = f"http:\n  listen: 127.0.0.1:0\n  auth:\n    token_sha256_file: {token_file}\n"
    async with served_bridge(tmp_path, new_clock(), http) as (_, served):
        url = served.base_url
        refused = await statuses(url, PROTECTED, {})
        wrong = await statuses(url, PROTECTED, {"Authorization": "Bearer " + PAGE_TOKEN + "x"})
        hashed = await statuses(url, PROTECTED, {"Authorization": "Bearer " + PAGE_TOKEN_SHA256})
        allowed = await statuses(url, PROTECTED, {"Authorization": "Bearer " + PAGE_TOKEN})
        still_open = await statuses(url, ("/healthz", "/metrics"), {})
        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            challenge = await client.get("/status")
    assert refused == wrong == hashed == dict.fromkeys(PROTECTED, 401)
    assert allowed == dict.fromkeys(PROTECTED, 200)
    assert still_open == {"/healthz": 200, "/metrics": 200}
    assert challenge.headers["www-authenticate"].startswith("Bearer ")
    assert "people" not in challenge.text
    assert_nothing_secret(challenge.text)


async def test_basic_auth_guards_them_and_a_browser_is_asked_for_the_password(tmp_path: Path) -> None:
    hash_file = tmp_path / "page-password.hash"
    hash_file.write_text(hash_password(PASSWORD, iterations=100_000))
    http = (
        "http:\n  listen: 127.0.0.1:0\n  open: [/healthz]\n"
        f"  auth:\n    basic_user: noc\n    basic_password_hash_file: {hash_file}\n"
    )
    async with served_bridge(tmp_path, new_clock(), http) as (_, served):
        url = served.base_url
        refused = await statuses(url, PROTECTED, {})
        wrong_password = await statuses(url, PROTECTED, basic("noc", PASSWORD + "!"))
        wrong_user = await statuses(url, PROTECTED, basic("admin", PASSWORD))
        allowed = await statuses(url, PROTECTED, basic("noc", PASSWORD))
        metrics_closed = await statuses(url, ("/metrics", "/healthz"), {})
        async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
            challenge = await client.get("/")
    assert refused == wrong_password == wrong_user == dict.fromkeys(PROTECTED, 401)
    assert allowed == dict.fromkeys(PROTECTED, 200)
    assert metrics_closed == {"/metrics": 401, "/healthz": 200}
    assert challenge.headers["www-authenticate"].startswith('Basic realm="presence-bridge"')


async def test_beyond_loopback_without_auth_the_page_and_stream_are_refused(tmp_path: Path) -> None:
    clock = new_clock()
    exposed = HttpConfig(listen="0.0.0.0:9108")  # never bound: served in-process
    async with emulator(tmp_path, clock) as handle:
        async with running_service(bridge_config(handle, tmp_path), clock) as service:
            transport = httpx.ASGITransport(app=build_app(service, exposed))
            async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
                found = {path: await client.get(path) for path in ("/", "/status", "/healthz", "/metrics")}
    assert {path: r.status_code for path, r in found.items()} == {
        "/": 403,
        "/status": 403,
        "/healthz": 200,
        "/metrics": 200,
    }
    assert "http.auth" in found["/status"].text
    assert "Alice" not in found["/status"].text


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        ({}, "give token_sha256 or basic_user"),
        ({"token_sha256": "abc"}, "64 hex digits"),
        ({"basic_user": "noc"}, "go together"),
        ({"basic_user": "noc", "basic_password_hash": "sha256$xyz"}, "pbkdf2_sha256$"),
        ({"basic_user": "noc", "basic_password_hash": hash_password("x", iterations=1000)}, "iterations"),
    ],
    ids=["nothing", "short-token-hash", "user-without-hash", "unknown-hash", "too-few-iterations"],
)
def test_an_incomplete_auth_section_is_refused_with_the_fix(auth: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=r"auth|token_sha256|basic") as raised:
        HttpAuth.model_validate(auth)
    assert problem in str(raised.value)
