"""Configuration loading: every rule, every problem at once with file:line: key.path, secrets kept out."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bridge.config import BridgeConfig, load_config, load_config_text
from bridge.errors import ConfigError
from bridge.mapping import Directive
from bridge.model import EndpointKey, EndpointRole, LineState
from bridge.presence import AWAY

SECRET = "S3cr3t-Value-9f8e7d"
TENANT = "3f2b9c7e-1d4a-4e8b-9a61-5c0d2e7f8a10"
CLIENT = "6a1e0b52-8c3d-4f79-b2e4-0d9c7a5f1e38"
BOB = "9d3c0a1f-5b7e-4c2d-8f60-1a2b3c4d5e6f"


class FakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr = Field(min_length=12)
    port: int = 1


class FakeFactory:
    kind = "fake"
    config_model = FakeSettings

    def create(self, *args: Any) -> Any:
        raise NotImplementedError


FACTORIES = {"fake": FakeFactory()}
ENV = {"SECRET": SECRET}

BASE = f"""\
tenants:
  t1:
    tenant_id: {TENANT}
    client_id: {CLIENT}
    client_secret: ${{SECRET}}
adapters:
  pbx: {{kind: fake, token: "${{SECRET}}"}}
people:
  - upn: Alice@Contoso.com
    endpoints:
      - {{adapter: pbx, extension: "1001"}}
"""


def load(text: str, **kw: Any) -> BridgeConfig:
    kw.setdefault("environ", ENV)
    kw.setdefault("factories", FACTORIES)
    return load_config_text(textwrap.dedent(text), "bridge.yaml", **kw)


def problems(text: str, **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, **kw)
    assert info.value.problems, "a ConfigError must list its problems"
    return info.value.problems


def one_problem(text: str, **kw: Any) -> str:
    found = problems(text, **kw)
    assert len(found) == 1, found
    return found[0]


# --- a good file and its defaults ------------------------------------------------------------


def test_minimal_file_gets_the_documented_defaults() -> None:
    cfg = load(BASE)
    tenant = cfg.tenants["t1"]
    assert tenant.authority == "https://login.microsoftonline.com"
    assert tenant.graph_url == "https://graph.microsoft.com/v1.0"
    assert (tenant.budget.requests, tenant.budget.window_seconds, tenant.budget.refresh_share) == (
        1200,
        30,
        0.25,
    )
    assert tenant.session_expiry == timedelta(minutes=15) and tenant.refresh_interval == 240
    assert tenant.client_secret is not None and tenant.client_secret.get_secret_value() == SECRET
    person = cfg.people[0]
    assert (person.tenant, person.publish, person.pbx_dnd_from_teams) == ("t1", True, False)
    assert person.endpoints[0].role is EndpointRole.PERSONAL
    assert cfg.adapters["pbx"].ignore_contexts == ("paging", "intercom")
    assert isinstance(cfg.adapters["pbx"].settings, FakeSettings)
    assert str(cfg.state.path) == "presence-bridge.db" and cfg.http.listen == "127.0.0.1:9108"


def test_secrets_are_not_in_reprs() -> None:
    cfg = load(BASE)
    assert SECRET not in repr(cfg) and SECRET not in str(cfg)


# --- all problems at once, with lines --------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_line() -> None:
    text = f"""\
    tenants:
      t1:
        tenant_id: changeme
        client_id: {CLIENT}
        client_secret: ${{SECRET}}
        session_expiry: PT4M
    people:
      - upn: not-an-email
        endpoints: [{{adapter: pbx, extension: 0123}}]
      - id: {BOB}
        tenant: t2
        endpoints:
          - {{adapter: nope, extension: "1"}}
          - {{adapter: pbx, extension: "0123", colour: red}}
    adapters:
      pbx: {{kind: fake, token: "${{SHORT}}", port: x}}
      other: {{kind: martian}}
    mapping:
      line: {{in_call: Busy/Busy}}
      adapters: {{ghost: {{}}}}
    extra: 1
    """
    found = problems(text, environ={**ENV, "SHORT": "short"})
    expected = [
        "bridge.yaml:3: tenants.t1.tenant_id: placeholder value",
        "bridge.yaml:6: tenants.t1.session_expiry: Input should be greater than or equal to 5 minutes",
        "bridge.yaml:8: people.0.upn: must look like an e-mail address",
        "bridge.yaml:11: people.1.tenant: unknown tenant 't2'; known: t1",
        "bridge.yaml:13: people.1.endpoints.0.adapter: unknown adapter 'nope'; configured: pbx, other",
        "bridge.yaml:14: people.1.endpoints.1.colour: unknown key; allowed: adapter, extension, context",
        "bridge.yaml:14: people.1.endpoints.1: endpoint pbx/0123 is already mapped to people.0",
        "bridge.yaml:16: adapters.pbx.port: Input should be a valid integer",
        "bridge.yaml:16: adapters.pbx.token: Value should have at least 12",
        "bridge.yaml:17: adapters.other.kind: unknown adapter kind 'martian'; known: fake",
        "bridge.yaml:19: mapping.line.in_call: 'Busy/Busy' is not allowed here; expected one of",
        "bridge.yaml:20: mapping.adapters.ghost: unknown adapter; configured: pbx, other",
        "bridge.yaml:21: extra: unknown section; allowed: tenants, people, adapters, mapping, state, http",
    ]
    assert len(found) == len(expected), "\n".join(found)
    for got, want in zip(found, expected, strict=True):
        assert got.startswith(want), f"{got!r} does not start with {want!r}"


def test_yaml_syntax_error_has_a_line() -> None:
    assert one_problem("tenants:\n  t1: {tenant_id: x\npeople: []\n").startswith("bridge.yaml:3: (yaml):")


def test_duplicate_yaml_keys_are_refused() -> None:
    text = BASE + "mapping:\n  idle_hold: 1\n  idle_hold: 2\n"
    assert one_problem(text) == (
        "bridge.yaml:14: mapping.idle_hold: duplicate key (the later value would silently win)"
    )


def test_unquoted_extension_keeps_its_text() -> None:
    cfg = load(BASE.replace('extension: "1001"', "extension: 0123"))
    assert cfg.people[0].endpoints[0].extension == "0123"


# --- secrets: environment and files ----------------------------------------------------------


def test_env_substitution_inside_a_string() -> None:
    cfg = load(BASE + "http:\n  listen: ${HOST}:9108\n", environ={**ENV, "HOST": "0.0.0.0"})
    assert cfg.http.listen == "0.0.0.0:9108"


def test_missing_env_var_names_key_and_variable() -> None:
    found = problems(BASE, environ={})
    assert found == [
        "bridge.yaml:5: tenants.t1.client_secret: environment variable SECRET is not set",
        "bridge.yaml:7: adapters.pbx.token: environment variable SECRET is not set",
    ]


def test_secret_file_is_read_stripped_and_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text(f"  {SECRET}\n")
    yaml_file = tmp_path / "bridge.yaml"
    yaml_file.write_text(BASE.replace("client_secret: ${SECRET}", "client_secret_file: secret.txt"))
    cfg = load_config(yaml_file, environ=ENV, factories=FACTORIES)
    assert cfg.tenants["t1"].client_secret.get_secret_value() == SECRET  # type: ignore[union-attr]


def test_missing_secret_file_is_one_clear_problem(tmp_path: Path) -> None:
    text = BASE.replace("client_secret: ${SECRET}", "client_secret_file: nowhere.txt")
    found = one_problem(text, base_dir=tmp_path)
    missing = tmp_path / "nowhere.txt"
    assert found == f"bridge.yaml:5: tenants.t1.client_secret: client_secret_file: file not found: {missing}"


def test_secret_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "s").write_text(SECRET)
    text = BASE.replace("client_secret: ${SECRET}", "client_secret: ${SECRET}\n    client_secret_file: s")
    found = one_problem(text, base_dir=tmp_path)
    assert "give either client_secret or client_secret_file, not both" in found
    assert SECRET not in found


def test_secrets_never_appear_in_problems(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("x")
    text = BASE.replace(
        "client_secret: ${SECRET}", "client_secret: ${SECRET}\n    certificate_file: cert.pem"
    )
    text = text.replace('token: "${SECRET}"', 'token: "${SECRET}", port: "${SECRET}"')
    text += "http:\n  listen: ${SECRET}\n"
    found = problems(text, base_dir=tmp_path)
    assert any("give exactly one of client_secret" in p for p in found)
    assert len(found) == 3, found
    assert all(SECRET not in p for p in found)


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        (
            f"tenant_id: {TENANT}",
            "tenant_id: changeme",
            "tenants.t1.tenant_id: placeholder value: set the directory",
        ),
        (
            f"tenant_id: {TENANT}",
            'tenant_id: ""',
            "tenants.t1.tenant_id: required: set the directory (tenant) id",
        ),
        (
            f"tenant_id: {TENANT}",
            "tenant_id: 00000000-0000-0000-0000-000000000000",
            "tenants.t1.tenant_id: placeholder value",
        ),
        (
            f"client_id: {CLIENT}",
            'client_id: "<your client id>"',
            "client_id: placeholder value: set the app",
        ),
        (f"client_id: {CLIENT}", "client_id: xxx", "tenants.t1.client_id: placeholder value"),
        (
            "client_secret: ${SECRET}",
            "client_secret: CHANGEME",
            "client_secret: placeholder value: set the real",
        ),
        ('token: "${SECRET}"', "token: TODO", "adapters.pbx.token: placeholder value: set the real value as"),
        ("upn: Alice@Contoso.com", "id: <Entra object id>", "people.0.id: placeholder value: set the user's"),
    ],
    ids=["changeme", "empty", "zero-guid", "angle", "xxx", "secret", "token", "person-id"],
)
def test_placeholders_are_refused_with_the_fix(old: str, new: str, needle: str) -> None:
    text = BASE.replace(old, new)
    assert text != BASE
    assert needle in one_problem(text)


# --- tenants ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ("session_expiry: PT5H", "session_expiry: Input should be less than or equal to 4 hours"),
        ("refresh_interval: 300", "refresh_interval: Input should be less than 300"),
        ("graph_url: http://graph.example.com/v1.0", "graph_url must use https://"),
        ("budget: {requests: 0}", "tenants.t1.budget.requests: Input should be greater than or equal to 1"),
        ("budget: {refresh_share: 0.95}", "refresh_share: Input should be less than or equal to 0.9"),
        ("proxy: proxy.example.com", "proxy must look like http://"),
        # a removed key (it was never used): the normal unknown-key problem, naming the key
        ("dnd_probe_person: carol@contoso.com", "t1.dnd_probe_person: unknown key; allowed: tenant_id"),
        ("ca_file: /nonexistent/ca.pem", "tenants.t1.ca_file: file not found: /nonexistent/ca.pem"),
        ("colour: red", "tenants.t1.colour: unknown key; allowed: tenant_id, client_id, client_secret"),
    ],
    ids=["expiry-max", "refresh-max", "http", "budget", "share", "proxy", "probe", "ca", "unknown"],
)
def test_tenant_rules(extra: str, needle: str) -> None:
    text = BASE.replace("client_secret: ${SECRET}", f"client_secret: ${{SECRET}}\n    {extra}")
    assert needle in one_problem(text)


def test_tenant_loopback_http_emulator_and_several_tenants(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text("pem")
    t2 = f"""\
        t2:
          tenant_id: fabrikam.onmicrosoft.com
          client_id: {CLIENT}
          certificate_file: app.pem
          authority: http://127.0.0.1:8443/
          graph_url: https://127.0.0.1:8443/v1.0
          budget: {{requests: 600}}
        """
    text = BASE.replace("adapters:", textwrap.indent(textwrap.dedent(t2), "  ") + "adapters:")
    text = text.replace("    endpoints:", "    tenant: t2\n    endpoints:")
    cfg = load(text, base_dir=tmp_path)
    tenant = cfg.tenants["t2"]
    assert tenant.authority == "http://127.0.0.1:8443" and tenant.budget.requests == 600
    assert tenant.certificate_file == tmp_path / "app.pem" and tenant.client_secret is None
    assert cfg.people[0].tenant == "t2" and cfg.tenants["t1"].budget.requests == 1200


def test_several_tenants_need_each_person_to_name_one() -> None:
    text = BASE.replace(
        "adapters:",
        f'  t2: {{tenant_id: {TENANT}, client_id: {CLIENT}, client_secret: "${{SECRET}}"}}\nadapters:',
    )
    assert one_problem(text).startswith(
        "bridge.yaml:10: people.0.tenant: required when there is not exactly one"
    )


# --- people ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("upn: Alice@Contoso.com", "id: alice", "people.0.id: must be the user's Entra object id"),
        ("upn: Alice@Contoso.com", f"upn: a@b.com\n    id: {BOB}", "people.0: give exactly one of id"),
        ("upn: Alice@Contoso.com", "name: Alice", "people.0: give exactly one of id"),
        (
            "upn: Alice@Contoso.com",
            "upn: a@b.com\n    tenant: nope",
            "people.0.tenant: unknown tenant 'nope'",
        ),
        (
            'extension: "1001"}',
            'extension: "1001", role: boss}',
            "people.0.endpoints.0.role: Input should be",
        ),
        ('extension: "1001"}', 'extension: "1001", context: paging}', "is in adapters.pbx.ignore_contexts"),
        ("      - {adapter: pbx", "      - {adapter: ghost", "unknown adapter 'ghost'; configured: pbx"),
    ],
    ids=["bad-id", "both", "neither", "tenant", "role", "ignored-context", "adapter"],
)
def test_person_rules(old: str, new: str, needle: str) -> None:
    text = BASE.replace(old, new)
    assert text != BASE
    assert needle in one_problem(text)


def test_person_without_endpoints_is_refused() -> None:
    text = BASE.replace('    endpoints:\n      - {adapter: pbx, extension: "1001"}\n', "    endpoints: []\n")
    assert "people.0.endpoints: Tuple should have at least 1 item" in one_problem(text)


def test_same_person_twice_and_same_endpoint_twice() -> None:
    text = BASE + '  - upn: alice@contoso.com\n    endpoints: [{adapter: pbx, extension: "1001"}]\n'
    found = problems(text)
    assert found == [
        "bridge.yaml:12: people.1: alice@contoso.com is listed twice (first as people.0)",
        "bridge.yaml:13: people.1.endpoints.0: endpoint pbx/1001 is already mapped to people.0",
    ]


def test_same_extension_on_two_devices_is_fine_and_routes_by_device() -> None:
    bob = f"""\
        - id: {BOB}
          name: Bob
          publish: false
          endpoints:
            - {{adapter: pbx, extension: "1001", device: softphone}}
            - {{adapter: pbx, extension: "1000", role: shared}}
            - {{adapter: pbx, extension: "2000", context: sales}}
        """
    text = BASE + textwrap.indent(textwrap.dedent(bob), "  ")
    cfg = load(text)
    alice, bob = cfg.people
    assert not bob.publish and bob.key == BOB and alice.key == "alice@contoso.com"
    assert cfg.route(EndpointKey("pbx", "1001")) == (alice, EndpointRole.PERSONAL)
    assert cfg.route(EndpointKey("pbx", "1001", device="desk")) == (alice, EndpointRole.PERSONAL)
    assert cfg.route(EndpointKey("pbx", "1001", context="x", device="softphone")) == (
        bob,
        EndpointRole.PERSONAL,
    )
    assert cfg.route(EndpointKey("pbx", "1000")) == (bob, EndpointRole.SHARED)
    assert cfg.route(EndpointKey("pbx", "2000", context="sales")) == (bob, EndpointRole.PERSONAL)
    assert cfg.route(EndpointKey("pbx", "2000", context="support")) is None
    assert cfg.route(EndpointKey("pbx", "1001", context="paging")) is None
    assert cfg.route(EndpointKey("other", "1001")) is None
    assert ("pbx", "1000", "", "") in cfg.endpoint_index()


# --- CSV import -------------------------------------------------------------------------------------


def test_csv_people_with_header_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(
        "person,extension,context,role,device\n"
        "bob@contoso.com,2001,,,\n"
        "bob@contoso.com,2001,,,softphone\n"
        f"{BOB},2002,,shared,\n"
    )
    (tmp_path / "bridge.yaml").write_text(BASE + "  - {csv: people.csv, adapter: pbx}\n")
    cfg = load_config(tmp_path / "bridge.yaml", environ=ENV, factories=FACTORIES)
    _alice, bob_upn, bob_id = cfg.people
    assert bob_upn.upn == "bob@contoso.com" and bob_upn.tenant == "t1"
    assert [e.device for e in bob_upn.endpoints] == ["", "softphone"]
    assert bob_id.id == BOB and bob_id.endpoints[0].role is EndpointRole.SHARED


def test_csv_without_header(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("# person, extension, context\ncarol@contoso.com,3001,sales\n")
    cfg = load(BASE + "  - {csv: p.csv, adapter: pbx, tenant: t1}\n", base_dir=tmp_path)
    assert cfg.people[1].endpoints[0].context == "sales"


def test_csv_errors_name_the_csv_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(
        "carol@contoso.com,3001\n"  # row 1 fine
        "not-an-email,3002\n"  # row 2: bad upn
        ",3003\n"  # row 3: no person
        "dave@contoso.com,3004,,boss\n"  # row 4: bad role
        "alice@contoso.com,1001\n"  # row 5: duplicate person (and endpoint) of the inline alice
    )
    found = problems(BASE + "  - {csv: p.csv, adapter: pbx}\n", base_dir=tmp_path)
    csv_file = str(tmp_path / "p.csv")
    assert found == [
        f"{csv_file}:2: people.1.upn: must look like an e-mail address (user@example.com)",
        f"{csv_file}:3: people.1.csv: every row needs a person and an extension",
        f"{csv_file}:4: people.1.endpoints.0.role: Input should be 'personal', 'shared' or 'ignore'",
        f"{csv_file}:5: people.1.endpoints.0: endpoint pbx/1001 is already mapped to people.0",
        f"{csv_file}:5: people.1: alice@contoso.com is listed twice (first as people.0)",
    ]


def test_csv_item_problems_point_at_the_yaml(tmp_path: Path) -> None:
    found = problems(BASE + "  - {csv: missing.csv}\n", base_dir=tmp_path)
    assert (
        found[0]
        == "bridge.yaml:12: people.1.adapter: required with csv: the adapter these extensions belong to"
    )
    assert found[1].startswith("bridge.yaml:12: people.1.csv: cannot read")


# --- adapters -------------------------------------------------------------------------------------


def test_unknown_kind_names_the_known_kinds() -> None:
    text = BASE.replace("kind: fake", "kind: avaya")
    assert one_problem(text) == "bridge.yaml:7: adapters.pbx.kind: unknown adapter kind 'avaya'; known: fake"


def test_unknown_kind_in_the_real_registry_names_the_builtins() -> None:
    text = BASE.replace("kind: fake", "kind: avaya")
    found = one_problem(text, factories=None)
    assert "unknown adapter kind 'avaya'" in found and "generic_cti" in found


def test_adapter_settings_errors_are_prefixed_and_ignore_contexts_is_ours() -> None:
    text = BASE.replace('token: "${SECRET}"}', 'token: "${SECRET}", ignore_contexts: [paging], colour: 1}')
    assert one_problem(text) == "bridge.yaml:7: adapters.pbx.colour: unknown key; allowed: token, port"
    cfg = load(BASE.replace('token: "${SECRET}"}', 'token: "${SECRET}", ignore_contexts: [paging]}'))
    assert cfg.adapters["pbx"].ignore_contexts == ("paging",)


def test_adapter_without_kind() -> None:
    assert "adapters.pbx.kind: required" in one_problem(BASE.replace("kind: fake, ", ""))


# --- mapping ---------------------------------------------------------------------------------------


def test_mapping_overrides_reach_the_policy_tables() -> None:
    text = BASE.replace(
        "    endpoints:", "    mapping: {away: Away/Away, line: {idle: none}}\n    endpoints:"
    )
    text += "mapping:\n  idle_hold: 5\n  adapters:\n    pbx: {idle_hold: 7}\n"
    cfg = load(text)
    table = cfg.table_for(cfg.people[0])("pbx")
    assert table.idle_hold == 7 and table.away == AWAY and table.line[LineState.IDLE] is Directive.NONE
    assert cfg.tables.get("other").idle_hold == 5


def test_dnd_preferred_without_expiry_is_refused_where_it_is_set() -> None:
    text = BASE.replace("    endpoints:", "    mapping: {dnd_preferred: true}\n    endpoints:")
    assert one_problem(text).startswith("bridge.yaml:10: people.0.mapping.dnd_preferred: dnd_preferred needs")
    assert load(text + "mapping: {dnd_preferred_expiry: PT8H}\n").people[0].mapping is not None
    found = one_problem(BASE + "mapping: {dnd_preferred: true}\n")
    assert found.startswith("bridge.yaml:12: mapping.dnd_preferred: dnd_preferred needs dnd_preferred_expiry")


# --- samples ---------------------------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_ENV = {"GRAPH_CLIENT_SECRET": SECRET, "CTI_TOKEN": "a-long-random-cti-token"}


@pytest.mark.parametrize("name", ["generic_cti.yaml", "minimal.yaml"])
def test_samples_load_with_the_real_adapter_registry(name: str) -> None:
    cfg = load_config(SAMPLES / name, environ=SAMPLE_ENV)
    assert cfg.people and cfg.adapters["pbx"].kind == "generic_cti"
    assert cfg.route(EndpointKey("pbx", "1001")) is not None
    assert SECRET not in repr(cfg)


def test_sample_without_its_environment_names_the_variables() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(SAMPLES / "generic_cti.yaml", environ={})
    assert [p.split(": ", 1)[1] for p in info.value.problems] == [
        "tenants.contoso.client_secret: environment variable GRAPH_CLIENT_SECRET is not set",
        "adapters.pbx.token: environment variable CTI_TOKEN is not set",
    ]


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_empty_secret_is_refused() -> None:
    assert problems(BASE, environ={"SECRET": ""}) == [
        "bridge.yaml:5: tenants.t1.client_secret: empty: set the real value as ${ENV_VAR} or with "
        "client_secret_file: PATH",
        "bridge.yaml:7: adapters.pbx.token: empty: set the real value as ${ENV_VAR} or with token_file: PATH",
    ]


def test_a_secret_reused_in_a_non_secret_value_is_redacted_from_problems() -> None:
    text = BASE + "mapping:\n  away: ${SECRET}\n"
    found = one_problem(text)
    assert found.startswith("bridge.yaml:13: mapping.away: '***' is not allowed here")
    assert SECRET not in found


class BrokenFactories(dict[str, Any]):
    """A registry whose only adapter package fails to import (as a half-installed plugin would)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        raise ImportError("No module named 'mypbx_adapter'")


def test_an_adapter_that_cannot_be_imported_is_a_clear_problem() -> None:
    found = problems(BASE, factories=BrokenFactories())
    assert found == [
        "bridge.yaml:7: adapters.pbx.kind: adapter kind 'fake' cannot be loaded: "
        "ImportError: No module named 'mypbx_adapter'"
    ]


# --- rules owned by the models (issue 9) ------------------------------------------------------------


def test_http_listen_takes_ipv6_only_in_brackets() -> None:
    cfg = load(BASE + 'http:\n  listen: "[::1]:9108"\n')
    assert cfg.http.listen == "[::1]:9108" and cfg.http.bind == ("::1", 9108)
    assert one_problem(BASE + "http:\n  listen: ::1:9108\n") == (
        "bridge.yaml:13: http.listen: IPv6 addresses need brackets, e.g. [::1]:9108"
    )


def test_one_credential_is_reported_together_with_the_tenants_other_problems() -> None:
    text = BASE.replace("client_secret: ${SECRET}", "authority: ftp://x")
    assert problems(text) == [
        "bridge.yaml:2: tenants.t1: "
        + "give exactly one of client_secret (or client_secret_file) and certificate_file",
        "bridge.yaml:5: tenants.t1.authority: authority must be a URL like https://host[:port][/path]",
    ]


def test_an_adapters_secret_may_come_from_a_file_and_is_redacted(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(f"{SECRET}\n")
    cfg = load(BASE.replace('token: "${SECRET}"', "token_file: token"), base_dir=tmp_path)
    settings = cfg.adapters["pbx"].settings
    assert isinstance(settings, FakeSettings) and settings.token.get_secret_value() == SECRET
    text = BASE.replace('token: "${SECRET}"', "token_file: token, port: x")
    found = problems(
        text + f"mapping:\n  away: {SECRET}\n", base_dir=tmp_path, environ={"SECRET": "a-graph-secret"}
    )
    assert found[0].startswith("bridge.yaml:7: adapters.pbx.port: Input should be a valid integer")
    assert found[1].startswith("bridge.yaml:13: mapping.away: '***' is not allowed here")
    assert len(found) == 2 and SECRET not in "".join(found)


def test_a_csv_person_with_a_placeholder_id_is_refused_at_its_row(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("<object id>,3001\n")
    found = one_problem(BASE + "  - {csv: p.csv, adapter: pbx}\n", base_dir=tmp_path)
    assert found.startswith(
        f"{tmp_path / 'p.csv'}:1: people.1.upn: placeholder value: set the user's sign-in name"
    )


def test_an_adapter_block_that_is_no_mapping_says_what_it_needs() -> None:
    assert one_problem(BASE.replace('{kind: fake, token: "${SECRET}"}', "fake")) == (
        "bridge.yaml:7: adapters.pbx: must be a mapping with at least `kind:`"
    )
