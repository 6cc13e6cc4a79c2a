"""Watching the tenant's credential files, so a fixed secret or certificate is used at once.

A client secret from ``client_secret_file`` or a ``certificate_file`` is checked every
``POLL_SECONDS`` on the injected clock with one ``stat`` per file (inode, size, mtime: a rewrite in
place and an atomic rename both show). When a file changed, it is read again and handed to the
token provider, a BAD_CREDENTIALS pause ends, and a token is fetched with it at once (``probe``):
a fixed credential shows CONNECTED within seconds, a wrong new one BAD_CREDENTIALS now rather than
at the old token's expiry. ``request`` does the same on demand (SIGHUP), changed or not. A file
that cannot be read (mid-rotation, gone) keeps the credential in use and is logged once per
distinct problem.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import BridgeError
from bridge.kit.clock import Clock, sleep_or_wake

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
MAX_CREDENTIAL_BYTES = 1 << 20  # a secret or a PEM is a few KiB; more is not a credential file

Signature = tuple[int, int, int] | None  # (inode, size, mtime ns); None when it cannot be read


@dataclass(frozen=True, slots=True)
class CredentialFile:
    """Where the credential comes from: a secret (text, stripped) or a PEM (bytes)."""

    path: Path
    is_certificate: bool


def _signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class CredentialWatch:
    def __init__(
        self,
        tenant: str,
        source: CredentialFile,
        clock: Clock,
        *,
        replace: Callable[[str | None, bytes | None], None],
        retry: Callable[[], bool],
        probe: Callable[[], Awaitable[None]],
    ) -> None:
        self.tenant = tenant
        self.source = source
        self._clock = clock
        self._replace = replace
        self._retry = retry
        self._probe = probe
        self._wake = asyncio.Event()
        self._seen = _signature(source.path)
        self._problem: str | None = None
        self.counters: dict[str, int] = {"credential_reloads": 0}

    def check(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed (or ``force``); True when a new credential was taken."""
        now = _signature(self.source.path)
        if now == self._seen and not force:
            return False
        self._seen = now
        try:
            raw = self._read()
            if self.source.is_certificate:
                self._replace(None, raw)
            else:
                self._replace(raw.decode("utf-8").strip(), None)
        except (OSError, UnicodeDecodeError, BridgeError, ValueError) as exc:
            problem = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or 'unusable content'}"
            if problem != self._problem:
                message = "tenant %s: credential file %s not taken: %s"
                log.warning(message, self.tenant, self.source.path, problem)
            self._problem = problem
            return False
        self._problem = None
        self.counters["credential_reloads"] += 1
        log.info("tenant %s: credential file %s read again; using it", self.tenant, self.source.path)
        return True

    def _read(self) -> bytes:
        if not self.source.path.is_file():
            raise ValueError("not a regular file")
        with open(self.source.path, "rb") as handle:
            raw = handle.read(MAX_CREDENTIAL_BYTES + 1)
        if len(raw) > MAX_CREDENTIAL_BYTES or not raw.strip():
            raise ValueError("empty or oversized")
        return raw

    def request(self) -> None:
        """Re-read and retry now (SIGHUP)."""
        self._wake.set()

    async def run(self) -> None:
        """Poll until cancelled; after a change (or a request) end any pause and fetch a token."""
        while True:
            await sleep_or_wake(self._clock, POLL_SECONDS, self._wake)
            requested = self._wake.is_set()
            self._wake.clear()
            if self.check(force=requested) or requested:
                self._retry()
                await self._probe()
