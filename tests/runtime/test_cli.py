"""The command line against a real Graph emulator (the CLI runs as a subprocess, as an admin runs it)."""

from __future__ import annotations

from pathlib import Path

from bridge.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ROLE_READ, AppRegistration
from tests.runtime.rig import bridge_yaml, emulator, new_clock
from tests.runtime.support import cli


async def test_check_gets_a_token_and_names_the_roles(tmp_path: Path) -> None:
    async with emulator(tmp_path, new_clock()) as handle:
        (tmp_path / "bridge.yaml").write_text(bridge_yaml(handle, tmp_path))
        code, out, err = await cli("check", "-c", str(tmp_path / "bridge.yaml"))
    assert code == 0, out + err
    assert "ok   token obtained" in out
    assert "ok   Presence.ReadWrite.All" in out
    assert "ok   adapter pbx: connected" in out  # the CTI listener could bind
    assert DEFAULT_CLIENT_SECRET not in out + err


async def test_check_names_a_missing_permission_and_fails(tmp_path: Path) -> None:
    read_only = (
        AppRegistration(DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET, roles=frozenset({ROLE_READ})),
    )
    async with emulator(tmp_path, new_clock(), apps=read_only) as handle:
        (tmp_path / "bridge.yaml").write_text(bridge_yaml(handle, tmp_path))
        code, out, _ = await cli("check", "-c", str(tmp_path / "bridge.yaml"))
    assert code == 1
    assert "FAIL missing application permission Presence.ReadWrite.All" in out


async def test_check_reports_a_wrong_secret_without_printing_it(tmp_path: Path) -> None:
    async with emulator(tmp_path, new_clock()) as handle:
        text = bridge_yaml(handle, tmp_path).replace(DEFAULT_CLIENT_SECRET, "${GRAPH_SECRET}")
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli(
            "check", "-c", str(tmp_path / "bridge.yaml"), env={"GRAPH_SECRET": "wrong-secret-42"}
        )
    assert code == 1
    assert "FAIL token" in out
    assert "wrong-secret-42" not in out + err


async def test_check_reports_every_config_problem_with_line_numbers(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tenants:\n  t:\n    tenant_id: changeme\n    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38\n"
        "    client_secret: ${MISSING_SECRET}\npeople: []\nadapters: {}\nbogus: 1\n"
    )
    code, _, err = await cli("check", "-c", str(bad))
    assert code == 2
    assert f"{bad}:3:" in err and "tenant_id" in err
    assert "MISSING_SECRET" in err
    assert "bogus" in err


async def test_mapping_report_lists_failing_unmapped_duplicate_and_ok_people(tmp_path: Path) -> None:
    people = (
        "people:\n"
        '  - {upn: alice@demo.example, tenant: demo, endpoints: [{adapter: pbx, extension: "2001"}]}\n'
        '  - {upn: nobody@demo.example, tenant: demo, endpoints: [{adapter: pbx, extension: "2002"}]}\n'
        "  - {upn: bob@demo.example, tenant: demo,\n"
        '     endpoints: [{adapter: pbx, extension: "2003", role: shared}]}\n'
        '  - {upn: carol@demo.example, tenant: demo, endpoints: [{adapter: pbx, extension: "2004"}]}\n'
        "  - {id: c3c3c3c3-0000-4000-8000-000000001003, tenant: demo, name: Carol-by-id,\n"
        '     endpoints: [{adapter: pbx, extension: "2005"}]}\n'
    )
    async with emulator(tmp_path, new_clock()) as handle:
        text = bridge_yaml(handle, tmp_path)
        text = text[: text.index("people:\n")] + people + text[text.index("adapters:") :]
        (tmp_path / "bridge.yaml").write_text(text)
        code, out, err = await cli("mapping", "report", "-c", str(tmp_path / "bridge.yaml"))
    assert code == 1, err
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["alice@demo.example"].rstrip().endswith("ok")
    assert "a1a1a1a1-0000-4000-8000-000000001001" in lines["alice@demo.example"]
    assert "FAILING" in lines["nobody@demo.example"]
    assert "UNMAPPED" in lines["bob@demo.example"]
    assert "DUPLICATE" in lines["carol@demo.example"] and "DUPLICATE" in lines["Carol-by-id"]
    assert "4 problem(s)" in out


async def test_demo_command_runs_and_exits_cleanly() -> None:
    code, out, err = await cli("demo", "--duration", "4")
    assert code == 0, err
    assert "we ask Teams for" in out and "Teams shows" in out
    assert "Alice" in out and "Erin" in out
    assert "Busy/InACall" in out  # Alice answered at t=2 s


async def test_freepbx_hints_prints_a_pasteable_teams_blf_context() -> None:
    code, out, err = await cli("freepbx-hints", "1001", "1002")
    assert code == 0, err
    assert "[teams-blf]" in out
    assert "Custom:TEAMS1001" in out and "Custom:TEAMS1002" in out
    code, _, err = await cli("freepbx-hints", "10;01")
    assert code == 2 and "10;01" in err and "Traceback" not in err


async def test_check_reports_an_adapter_that_cannot_listen(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with emulator(tmp_path, new_clock()) as handle:
            text = bridge_yaml(handle, tmp_path).replace(
                "http_listen: 127.0.0.1:0", f"http_listen: 127.0.0.1:{port}"
            )
            (tmp_path / "bridge.yaml").write_text(text)
            code, out, _ = await cli("check", "-c", str(tmp_path / "bridge.yaml"))
    assert code == 1
    assert "ok   token obtained" in out
    assert "FAIL adapter pbx: TRANSIENT_DISCONNECT" in out


async def test_demo_with_a_config_dry_runs_it_against_local_emulators(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(
        "tenants:\n  contoso:\n    tenant_id: 3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10\n"
        "    client_id: 6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38\n    client_secret: ${GRAPH_SECRET}\n"
        "people:\n  - upn: alice@contoso.com\n    tenant: contoso\n"
        '    endpoints: [{adapter: pbx, extension: "1001"}]\n'
        'adapters:\n  pbx: {kind: generic_cti, token: "${CTI_TOKEN}", http_listen: 127.0.0.1:0}\n'
        f"state:\n  path: {tmp_path / 'production.db'}\n"
    )
    env = {"GRAPH_SECRET": "never-sent-anywhere", "CTI_TOKEN": "a-long-enough-token"}
    code, out, err = await cli("demo", "-c", str(config), "--duration", "3", env=env)
    assert code == 0, err
    assert "dry run: 1 people, Graph replaced by local emulators" in out
    assert "alice@contoso.com" in out and "no PBX event yet" in out
    assert not (tmp_path / "production.db").exists()  # a dry run never touches the real state store
    assert "never-sent-anywhere" not in out + err
