"""The rules every configuration model shares (``bridge.kit.config_types``), one table per rule.

Expected values come from the documented rules (STYLE.md "Config", docs/cti.md "Listen
addresses are host:port, IPv6 as [::1]:8089"), not from the code under test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, ValidationInfo

from bridge.kit.config_types import ConfigModel, Fix, ListenAddress, Problem, parse_listen, with_config_rules

SECRET = "a-real-secret-9f8e7d"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]:9108", ("::", 9108)),
        ("pbx-gw.example.com:65535", ("pbx-gw.example.com", 65535)),
        ("  localhost:80 ", ("localhost", 80)),
    ],
    ids=["v4", "any-port", "v6-loopback", "v6-any", "name-max-port", "spaces"],
)
def test_listen_addresses_accepted(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("::1:8080", "IPv6 addresses need brackets, e.g. [::1]:"),
        ("fe80::1:80", "IPv6 addresses need brackets"),
        ("8080", "expected host:port"),
        (":8080", "expected host:port"),
        ("127.0.0.1:", "expected host:port"),
        ("127.0.0.1:http", "expected host:port"),
        ("[::1:8", "expected host:port"),
        ("[]:80", "expected host:port"),
        ("h:\uff18\uff10", "expected host:port"),  # full-width digits are not a port
        ("h:65536", "port must be 0..65535"),
    ],
    ids=[
        "v6-bare",
        "v6-link-local",
        "port-only",
        "no-host",
        "no-port",
        "named-port",
        "open-bracket",
        "empty-v6",
        "wide",
        "big",
    ],
)
def test_bad_listen_addresses_name_the_shape(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=re.escape(needle)):
        parse_listen(text)


class Listener(ConfigModel):
    listen: ListenAddress = "127.0.0.1:9108"


def test_a_listen_address_field_keeps_the_text_and_names_the_key() -> None:
    assert Listener(listen=" [::1]:9108 ").listen == "[::1]:9108"
    with pytest.raises(ValidationError) as info:
        Listener(listen="::1:9108")
    assert info.value.errors()[0]["loc"] == ("listen",)


class Settings(ConfigModel):
    tenant_id: Annotated[str, Fix("set the tenant id", required=True)] = "t"
    host: str = "pbx"
    password: SecretStr | None = None
    token: Annotated[SecretStr, Fix("set a random token")] = SecretStr("a-default-token")


def _error(data: dict[str, Any], context: dict[str, Any] | None = None) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate(data, context=context)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return tuple(errors[0]["loc"]), errors[0]["msg"].removeprefix("Value error, ")


# STYLE.md: placeholders (changeme, empty tenant) refused with the fix named.
@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"host": "changeme"}, ("host",), "placeholder value: replace it with the real value"),
        ({"host": "Change-Me"}, ("host",), "placeholder value: replace it with the real value"),
        ({"host": "xxxx"}, ("host",), "placeholder value: replace it with the real value"),
        ({"host": "TODO"}, ("host",), "placeholder value: replace it with the real value"),
        ({"host": "<your pbx>"}, ("host",), "placeholder value: replace it with the real value"),
        (
            {"tenant_id": "00000000-0000-0000-0000-000000000000"},
            ("tenant_id",),
            "placeholder value: set the tenant id",
        ),
        ({"tenant_id": ""}, ("tenant_id",), "required: set the tenant id"),
        ({"tenant_id": None}, ("tenant_id",), "required: set the tenant id"),
        (
            {"password": ""},
            ("password",),
            "empty: set the real value as ${ENV_VAR} or with password_file: PATH",
        ),
        (
            {"password": "changeme"},
            ("password",),
            "placeholder value: set the real value as ${ENV_VAR} or with password_file: PATH",
        ),
        (
            {"password": "Password"},
            ("password",),
            "placeholder value: set the real value as ${ENV_VAR} or with password_file: PATH",
        ),
        ({"token": "token"}, ("token",), "placeholder value: set a random token"),
    ],
    ids=[
        "changeme",
        "change-me",
        "xxxx",
        "todo",
        "angle",
        "zero-guid",
        "empty-id",
        "null-id",
        "empty-secret",
        "secret-changeme",
        "secret-word",
        "secret-fix",
    ],
)
def test_placeholders_are_refused_with_the_fix(data: dict[str, Any], loc: tuple[str], message: str) -> None:
    assert _error(data) == (loc, message)


@pytest.mark.parametrize("value", ["pbx.example.com", "todo-list", "xx", "change me later", "<"])
def test_real_values_that_look_a_little_like_placeholders_pass(value: str) -> None:
    assert Settings(host=value).host == value


def test_a_secret_file_is_read_stripped_relative_to_base_dir_and_collected(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(f"  {SECRET}\n")
    secrets: set[str] = set()
    settings = Settings.model_validate(
        {"password_file": "pw"}, context={"base_dir": tmp_path, "secrets": secrets}
    )
    assert settings.password is not None and settings.password.get_secret_value() == SECRET
    assert secrets == {SECRET}  # given values only: a default is not input
    assert SECRET not in repr(settings)


def test_secret_file_problems_are_reported_at_the_secret(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SECRET)
    context = {"base_dir": tmp_path}
    assert _error({"password_file": "absent"}, context) == (
        ("password",),
        f"password_file: file not found: {tmp_path / 'absent'}",
    )
    assert _error({"password": SECRET, "password_file": "pw"}, context) == (
        ("password",),
        "give either password or password_file, not both",
    )
    assert _error({"password_file": ""}, context) == (("password",), "password_file: must be a file path")


def test_an_unknown_key_names_the_allowed_keys_in_its_context() -> None:
    with pytest.raises(ValidationError) as info:
        Settings.model_validate({"colour": "red"})
    (error,) = info.value.errors()
    assert error["loc"] == ("colour",) and error["type"] == "extra_forbidden"
    assert error["ctx"] == {"unknown": "unknown key", "allowed": "tenant_id, host, password, token"}


class Pair(ConfigModel):
    left: int = 0
    right: int = 0

    @classmethod
    def check_raw(cls, data: dict[Any, Any], info: ValidationInfo) -> tuple[dict[Any, Any], list[Problem]]:
        return data, [] if ("left" in data) != ("right" in data) else [
            ((), "give exactly one of left and right")
        ]


def test_raw_problems_are_reported_beside_field_errors() -> None:
    with pytest.raises(ValidationError) as info:
        Pair.model_validate({"left": "x", "right": 1})
    assert {(tuple(e["loc"]), e["type"]) for e in info.value.errors()} == {
        (("left",), "int_parsing"),
        ((), "config"),
    }
    assert Pair(left=1).left == 1


class ThirdParty(BaseModel):
    """A plug-in's settings, written without our base class."""

    model_config = ConfigDict(extra="allow")

    token: SecretStr
    host: str = "pbx"


def test_a_third_party_model_gets_the_rules_and_keeps_its_own_config(tmp_path: Path) -> None:
    ruled = with_config_rules(ThirdParty)
    assert ruled.__name__ == "ThirdParty" and issubclass(ruled, ThirdParty)
    assert with_config_rules(ruled) is ruled and with_config_rules(Settings) is Settings
    (tmp_path / "t").write_text(SECRET)
    settings = ruled.model_validate({"token_file": "t", "colour": 1}, context={"base_dir": tmp_path})
    assert isinstance(settings, ThirdParty) and settings.token.get_secret_value() == SECRET
    with pytest.raises(ValidationError, match="placeholder value"):
        ruled.model_validate({"token": SECRET, "host": "changeme"})
