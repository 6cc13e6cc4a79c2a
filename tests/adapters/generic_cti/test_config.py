"""The ``adapters.<name>`` section of a generic_cti adapter, as the config loader validates it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters.base import get_factory
from adapters.generic_cti.config import CtiConfig, parse_listen

TOKEN = "s3cret-token-value"


def test_registry_finds_the_factory_and_its_model() -> None:
    factory = get_factory("generic_cti")
    assert factory.kind == "generic_cti"
    assert factory.config_model is CtiConfig


def test_defaults_listen_on_loopback_http_only() -> None:
    cfg = CtiConfig(token=TOKEN)
    assert cfg.http_bind == ("127.0.0.1", 8089)
    assert cfg.tcp_bind is None
    assert cfg.max_body_bytes == 262144
    assert cfg.max_line_bytes == 16384


def test_token_never_shows_in_repr() -> None:
    cfg = CtiConfig(token=TOKEN)
    assert TOKEN not in repr(cfg)
    assert TOKEN not in str(cfg.model_dump())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8089", ("127.0.0.1", 8089)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[::1]:8090", ("::1", 8090)),
        ("pbx-gw.example.com:9000", ("pbx-gw.example.com", 9000)),
    ],
)
def test_listen_addresses_accepted(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    "text", ["8089", "127.0.0.1", ":8089", "127.0.0.1:http", "::1:8089", "h:70000", "[::1:8"]
)
def test_bad_listen_address_named_in_error(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        CtiConfig(token=TOKEN, tcp_listen=text)
    assert info.value.errors()[0]["loc"] == ("tcp_listen",)


def test_unknown_key_rejected_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        CtiConfig.model_validate({"token": TOKEN, "http_port": 8089})
    assert info.value.errors()[0]["loc"] == ("http_port",)


@pytest.mark.parametrize("token", ["changeme", "short"])
def test_placeholder_or_short_token_refused(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        CtiConfig(token=token)
    assert info.value.errors()[0]["loc"] == ("token",)


def test_token_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        CtiConfig.model_validate({})
    assert info.value.errors()[0]["loc"] == ("token",)


def test_at_least_one_listener() -> None:
    with pytest.raises(ValidationError, match="http_listen or tcp_listen"):
        CtiConfig(token=TOKEN, http_listen=None, tcp_listen=None)


@pytest.mark.parametrize("key", ["max_body_bytes", "max_line_bytes"])
def test_limits_must_be_positive(key: str) -> None:
    with pytest.raises(ValidationError):
        CtiConfig.model_validate({"token": TOKEN, key: 0})


def test_config_is_frozen() -> None:
    cfg = CtiConfig(token=TOKEN)
    with pytest.raises(ValidationError):
        cfg.http_listen = "0.0.0.0:1"  # type: ignore[misc]
