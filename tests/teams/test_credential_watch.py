"""The credential file watch on its own (issue 11): which file changes are seen, what is handed to
the token provider, and that a file that cannot be used keeps the credential in use (logged once,
never the secret)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bridge.kit.clock import FakeClock
from bridge.teams.credentials import MAX_CREDENTIAL_BYTES, CredentialFile, CredentialWatch


def watch(
    path: Path, taken: list[tuple[str | None, bytes | None]], *, certificate: bool = False
) -> CredentialWatch:
    async def probe() -> None:
        return None

    return CredentialWatch(
        "t",
        CredentialFile(path, is_certificate=certificate),
        FakeClock(),
        replace=lambda secret, pem: taken.append((secret, pem)),
        retry=lambda: True,
        probe=probe,
    )


def test_rewrite_in_place_and_atomic_rename_are_both_seen(tmp_path: Path) -> None:
    taken: list[tuple[str | None, bytes | None]] = []
    secret = tmp_path / "secret"
    secret.write_text("first-secret-value")
    w = watch(secret, taken)
    assert not w.check()  # nothing changed since start
    secret.write_text("second-secret-value-longer\n")
    assert w.check()
    new = tmp_path / "secret.new"
    new.write_text("third-secret-value-xx")
    os.replace(new, secret)  # the usual rotation: write aside, rename over
    assert w.check()
    assert taken == [("second-secret-value-longer", None), ("third-secret-value-xx", None)]


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "empty"), (b"\xff\xfe\x00binary", "not UTF-8"), (b"x" * (MAX_CREDENTIAL_BYTES + 1), "oversized")],
)
def test_an_unusable_file_keeps_the_credential_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, why: str
) -> None:
    taken: list[tuple[str | None, bytes | None]] = []
    secret = tmp_path / "secret"
    secret.write_text("good-secret-value")
    w = watch(secret, taken)
    secret.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert not w.check()
        assert not w.check(force=True)
    assert taken == []
    assert len(caplog.records) == 1, why
    assert "good-secret-value" not in caplog.text


def test_a_removed_file_keeps_the_credential(tmp_path: Path) -> None:
    taken: list[tuple[str | None, bytes | None]] = []
    secret = tmp_path / "secret"
    secret.write_text("good-secret-value")
    w = watch(secret, taken)
    secret.unlink()
    assert not w.check()
    secret.write_text("back-again-value")
    assert w.check()
    assert taken == [("back-again-value", None)]
