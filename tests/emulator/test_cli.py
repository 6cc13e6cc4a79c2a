"""``presence-bridge graph-emulator``: options, secrets, and a real run a bridge can use."""

from __future__ import annotations

import argparse
import asyncio
import io
import ssl
from pathlib import Path

import httpx
import pytest

from bridge.emulator.cli import ManualClock, add_parser, serve
from bridge.emulator.cli_config import EmulatorOptions, build_config, parse_rate_limit
from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_ROLES, ROLE_READ
from bridge.emulator.server import EmulatorHandle
from bridge.errors import ConfigError
from bridge.teams.auth import MsalTokenProvider
from tests.emulator.client_certs import make_app_certificate

APP = "cccccccc-0000-0000-0000-000000000001"
SECRET = "cli-secret-must-not-leak"
USER_ID = "dddddddd-0000-0000-0000-000000000001"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="presence-bridge")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["graph-emulator", *argv])


def test_defaults_register_the_demo_app() -> None:
    args = parse()
    assert (args.host, args.port, args.no_tls, args.manual_clock) == ("127.0.0.1", 8443, False, False)
    config = build_config(EmulatorOptions())
    assert [app.client_id for app in config.apps] == [DEFAULT_CLIENT_ID]


def test_secret_from_file_and_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    config = build_config(
        EmulatorOptions(
            apps=[f"{APP}:@{secret_file}"],
            environ={"PRESENCE_BRIDGE_EMULATOR_APPS": "eeeeeeee-0000-0000-0000-000000000001:env-secret, x:y"},
        )
    )
    secrets = {app.client_id: app.secret for app in config.apps}
    assert secrets == {APP: SECRET, "eeeeeeee-0000-0000-0000-000000000001": "env-secret", "x": "y"}
    assert SECRET not in repr(config)


def test_certificate_and_roles_per_app(tmp_path: Path) -> None:
    cert = tmp_path / "app.pem"
    cert.write_bytes(make_app_certificate().cert_pem)
    config = build_config(
        EmulatorOptions(
            apps=[f"{APP}:{SECRET}"],
            app_certs=[f"{APP}:{cert}", f"ffffffff-0000-0000-0000-000000000001:{cert}"],
            roles=[f"{APP}:{ROLE_READ}", "ffffffff-0000-0000-0000-000000000001:"],
        )
    )
    apps = {app.client_id: app for app in config.apps}
    assert apps[APP].secret == SECRET and apps[APP].cert_pem == cert.read_bytes()
    assert apps[APP].roles == frozenset({ROLE_READ})
    assert apps["ffffffff-0000-0000-0000-000000000001"].roles == frozenset()  # rehearse a missing permission
    assert DEFAULT_CLIENT_ID not in apps


def test_every_problem_is_reported_together_without_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(
            EmulatorOptions(
                apps=[f"{APP}:@{tmp_path / 'missing'}", SECRET],
                app_certs=[f"{APP}:{tmp_path / 'missing.pem'}"],
                roles=["unknown-app:Presence.Read.All"],
                rate_limit="lots",
            )
        )
    text = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 5
    assert "--rate-limit" in text and "--roles unknown-app" in text and "--app-cert" in text
    assert SECRET not in text


@pytest.mark.parametrize(
    ("text", "expected"), [("1500/30s", (1500, 30.0)), ("100/1m", (100, 60.0)), ("5/2", (5, 2.0))]
)
def test_rate_limit_option(text: str, expected: tuple[int, float]) -> None:
    assert parse_rate_limit(text) == expected


def test_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text(
        "users:\n"
        f"  - id: {USER_ID}\n    userPrincipalName: alice@contoso.test\n    displayName: Alice\n"
        "    businessPhones: ['+41 44 000 00 01']\n"
    )
    config = build_config(EmulatorOptions(users_file=users))
    assert config.users[0].user_principal_name == "alice@contoso.test"
    assert config.users[0].business_phones == ("+41 44 000 00 01",)
    users.write_text("- id: x\n  upn: y\n")
    with pytest.raises(ConfigError, match="unknown key"):
        build_config(EmulatorOptions(users_file=users))


async def test_run_serves_a_bridge_over_https_and_prints_no_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    users = tmp_path / "users.yaml"
    users.write_text(f"- id: {USER_ID}\n  userPrincipalName: alice@contoso.test\n")
    args = parse(
        "--port", "0", "--state-dir", str(tmp_path / "state"), "--app", f"{APP}:@{secret_file}",
        "--users-file", str(users), "--manual-clock",
    )
    out = io.StringIO()
    stop = asyncio.Event()
    seen: list[tuple[int, dict[str, object]]] = []

    async def use(handle: EmulatorHandle) -> None:
        tokens = MsalTokenProvider(
            tenant_id=handle.emulator.config.tenant_id, client_id=APP,
            authority_base=handle.base_url, secret=SECRET, ca_file=str(handle.ca_file),
        )
        try:
            token = await tokens.token()
        finally:
            tokens.close()
        trust = ssl.create_default_context(cafile=str(handle.ca_file))
        async with httpx.AsyncClient(verify=trust, trust_env=False, timeout=5) as client:
            response = await client.get(
                f"{handle.graph_url}/users/{USER_ID}/presence", headers={"Authorization": f"Bearer {token}"}
            )
        seen.append((response.status_code, response.json()))
        stop.set()

    tasks: list[asyncio.Task[None]] = []
    code = await serve(
        args, environ={}, stop=stop, out=out, on_ready=lambda h: tasks.append(asyncio.create_task(use(h)))
    )
    await asyncio.gather(*tasks)
    assert code == 0
    assert seen == [(200, seen[0][1])] and seen[0][1]["availability"] == "Offline"
    lines = out.getvalue().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["authority", "graph", "ca-file"]
    assert lines[1].endswith("/v1.0")
    assert (tmp_path / "state").is_dir() and lines[2].endswith(".pem")
    assert SECRET not in out.getvalue()


async def test_manual_clock_and_no_tls(tmp_path: Path) -> None:
    args = parse("--port", "0", "--no-tls", "--manual-clock", "--state-dir", str(tmp_path))
    out = io.StringIO()
    stop = asyncio.Event()
    handles: list[EmulatorHandle] = []

    def ready(handle: EmulatorHandle) -> None:
        handles.append(handle)
        stop.set()

    assert await serve(args, environ={}, stop=stop, out=out, on_ready=ready) == 0
    assert isinstance(handles[0].emulator.clock, ManualClock)
    assert handles[0].ca_file is None
    assert out.getvalue().splitlines()[0].startswith("authority: http://127.0.0.1:")
    assert handles[0].emulator.config.apps[0].roles == DEFAULT_ROLES


async def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--port", "0", "--rate-limit", "fast", "--state-dir", str(tmp_path))
    assert await serve(args, environ={}, stop=asyncio.Event(), out=io.StringIO()) == 2
    assert "--rate-limit" in capsys.readouterr().err
