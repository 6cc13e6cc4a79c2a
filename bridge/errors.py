"""One exception tree for the whole bridge.

::

    BridgeError
    ├── ConfigError            bad or incomplete configuration (carries every problem found)
    ├── AdapterError           a PBX adapter could not do what was asked
    │   └── AdapterAuthError   the PBX refused our credentials
    ├── GraphError             a Microsoft Graph call failed (status, code, request_id)
    │   ├── GraphAuthError     token refused / permission missing: BAD_CREDENTIALS
    │   ├── GraphThrottled     429/503/504 after retries were exhausted
    │   └── GraphUnavailable   transport failure (connection dropped, timeout)
    └── StoreError             the state store is unusable (locked by another instance, corrupt)

Third-party exceptions (httpx, msal, sqlite3, panoramisk) are translated where they enter,
with ``raise ... from exc``; nothing above an edge catches them.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Configuration problems; ``problems`` lists each as 'file:line: key.path: message'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) if self.problems else "invalid configuration")


class AdapterError(BridgeError):
    """A PBX adapter failed."""


class AdapterAuthError(AdapterError):
    """The PBX refused our credentials."""


class GraphError(BridgeError):
    """A Graph call failed. Never carries a token or secret."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.request_id = request_id
        detail = ", ".join(
            f"{k}={v}" for k, v in (("status", status), ("code", code), ("request-id", request_id)) if v
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class GraphAuthError(GraphError):
    """Token refused or permission missing: the tenant is BAD_CREDENTIALS."""


class GraphThrottled(GraphError):
    """Throttled or unavailable after retries."""


class GraphUnavailable(GraphError):
    """Transport failure talking to Graph or the identity platform."""


class StoreError(BridgeError):
    """The state store cannot be used."""
