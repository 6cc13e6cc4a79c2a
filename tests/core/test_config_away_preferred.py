"""``mapping.away_preferred`` / ``away_preferred_expiry`` in the YAML (issue 16).

As the issue states it: opt-in, globally, per adapter and per person; the expiry is required and at
most 12 hours, like ``dnd_preferred_expiry``; a missing expiry is reported at the key that switched
it on (file, line and key path, as every config problem).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from bridge.config_mapping import MappingConfig, MappingOverrides, resolve_table
from bridge.mapping import MappingResolutionError
from tests.core.test_config import BASE, load, one_problem


def test_off_unless_switched_on() -> None:
    table = resolve_table(MappingConfig(), "pbx", None)
    assert not table.away_preferred and table.away_preferred_expiry is None


@pytest.mark.parametrize(
    ("doc", "person", "adapter", "expected"),
    [
        ({"away_preferred": True, "away_preferred_expiry": "PT8H"}, None, "pbx", timedelta(hours=8)),
        (
            {"adapters": {"pbx": {"away_preferred": True, "away_preferred_expiry": "PT2H"}}},
            None,
            "pbx",
            timedelta(hours=2),
        ),
        (
            {"adapters": {"pbx": {"away_preferred": True, "away_preferred_expiry": "PT2H"}}},
            None,
            "dect",
            None,
        ),
        ({"away_preferred_expiry": "PT12H"}, {"away_preferred": True}, "pbx", timedelta(hours=12)),
        ({"away_preferred": True, "away_preferred_expiry": "PT8H"}, {"away_preferred": False}, "pbx", None),
    ],
    ids=["global", "per-adapter", "other-adapter", "per-person", "person-opts-out"],
)
def test_globally_per_adapter_and_per_person(
    doc: dict, person: dict | None, adapter: str, expected: timedelta | None
) -> None:
    overrides = MappingOverrides.model_validate(person) if person else None
    table = resolve_table(MappingConfig.model_validate(doc), adapter, overrides)
    assert table.away_preferred is (expected is not None)
    if expected is not None:
        assert table.away_preferred_expiry == expected


def test_an_expiry_over_twelve_hours_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        MappingConfig.model_validate({"away_preferred_expiry": "PT13H"})
    assert any(e["loc"] == ("away_preferred_expiry",) and "12 hours" in e["msg"] for e in info.value.errors())


def test_switched_on_without_an_expiry_is_refused() -> None:
    with pytest.raises(MappingResolutionError, match="away_preferred needs away_preferred_expiry"):
        resolve_table(MappingConfig(away_preferred=True), None, None)


def test_the_config_check_names_the_key_that_switched_it_on() -> None:
    found = one_problem(BASE + "mapping: {away_preferred: true}\n")
    assert found.startswith(
        "bridge.yaml:12: mapping.away_preferred: away_preferred needs away_preferred_expiry"
    )
    per_person = BASE.replace("    endpoints:", "    mapping: {away_preferred: true}\n    endpoints:")
    assert one_problem(per_person).startswith(
        "bridge.yaml:10: people.0.mapping.away_preferred: away_preferred"
    )
    adapter = BASE + "mapping: {adapters: {pbx: {away_preferred: true}}}\n"
    assert "mapping.adapters.pbx.away_preferred: away_preferred needs" in one_problem(adapter)
    assert load(per_person + "mapping: {away_preferred_expiry: PT8H}\n").people[0].mapping is not None
