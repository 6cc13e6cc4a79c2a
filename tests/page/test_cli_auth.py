"""The command line with ``http.auth`` (issue 14): ``hash-password`` prints a hash the
configuration accepts and the listener honours, and ``status`` against a guarded listener says
what to set instead of failing on the refusal."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.cli import STATUS_TOKEN_ENV, main
from bridge.config import HttpConfig, load_config_text
from bridge.demo import running_service
from bridge.runtime.http import serve_status
from bridge.runtime.page_auth import Access, Verdict
from tests.page.browser import LoopThread
from tests.page.support import PAGE_TOKEN, PAGE_TOKEN_SHA256
from tests.page.test_access import basic
from tests.runtime.rig import bridge_yaml, emulator, new_clock

GUARDED = f"http:\n  listen: 127.0.0.1:{{port}}\n  auth:\n    token_sha256: {PAGE_TOKEN_SHA256}\n"


def test_hash_password_prints_a_hash_the_listener_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-Passphrase\n"))
    assert main(["hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert "s3cret-Passphrase" not in printed
    (tmp_path / "hash").write_text(printed + "\n")
    auth = {"basic_user": "noc", "basic_password_hash_file": str(tmp_path / "hash")}
    access = Access(HttpConfig.model_validate({"auth": auth}))
    assert access.verdict("/", basic("noc", "s3cret-Passphrase")["Authorization"]) is Verdict.ALLOWED
    assert access.verdict("/", basic("noc", "s3cret-passphrase")["Authorization"]) is Verdict.UNAUTHENTICATED


def test_status_names_the_token_setting_when_refused_and_works_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    @contextlib.asynccontextmanager
    async def guarded() -> AsyncIterator[Path]:
        clock = new_clock()
        async with emulator(tmp_path, clock) as handle:
            base = bridge_yaml(handle, tmp_path)
            config = load_config_text(base + GUARDED.format(port=0), "<guarded>", environ={})
            async with (
                running_service(config, clock) as service,
                serve_status(service, config.http) as served,
            ):
                path = tmp_path / "bridge.yaml"
                path.write_text(base + GUARDED.format(port=served.port))
                yield path

    loop = LoopThread()
    with loop.enter(guarded) as path:
        monkeypatch.delenv(STATUS_TOKEN_ENV, raising=False)
        refused = main(["status", "-c", str(path)])
        refused_err = capsys.readouterr().err
        monkeypatch.setenv(STATUS_TOKEN_ENV, PAGE_TOKEN)
        allowed = main(["status", "-c", str(path)])
        table = capsys.readouterr().out
    assert refused == 1 and STATUS_TOKEN_ENV in refused_err and "refused /status" in refused_err
    assert allowed == 0 and "Alice" in table


def test_an_accepted_header_is_remembered_and_a_wrong_one_still_refused() -> None:
    access = Access(HttpConfig.model_validate({"auth": {"token_sha256": PAGE_TOKEN_SHA256}}))
    good = f"Bearer {PAGE_TOKEN}"
    assert access.verdict("/status", good) is Verdict.ALLOWED
    assert access.verdict("/status", good) is Verdict.ALLOWED  # from the remembered digests
    assert access.verdict("/status", good + "x") is Verdict.UNAUTHENTICATED
