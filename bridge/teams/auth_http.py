"""The HTTP client msal is given: httpx with our TLS trust, no environment, bytes-safe form posts.

Why not msal's default (a requests Session): requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``
override ``verify``, so a configured CA silently does not apply. Why a wrapper over httpx: msal
posts the certificate ``client_assertion`` as *bytes*, which httpx would form-encode as ``b'...'``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

DEFAULT_TIMEOUT_SECONDS = 30.0


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification always on: the given CA bundle only, or the system's trust store."""
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return ssl.create_default_context()


def _text(value: Any) -> Any:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else value


class MsalHttpClient:
    """The ``http_client`` interface msal expects (``post``/``get``/``close``) over ``httpx.Client``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @classmethod
    def create(
        cls, *, ca_file: str | None, proxy: str | None, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> MsalHttpClient:
        return cls(httpx.Client(verify=tls_context(ca_file), trust_env=False, proxy=proxy, timeout=timeout))

    @staticmethod
    def _headers(headers: Mapping[str, Any] | None) -> dict[str, str] | None:
        if headers is None:
            return None
        return {k: str(v) for k, v in headers.items() if v is not None}

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        extra: dict[str, Any] = {"timeout": kwargs["timeout"]} if "timeout" in kwargs else {}
        if isinstance(data, Mapping):
            form = {k: _text(v) for k, v in data.items() if v is not None}
            return self._client.post(url, params=params, data=form, headers=self._headers(headers), **extra)
        return self._client.post(
            url, params=params, content=_text(data), headers=self._headers(headers), **extra
        )

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        extra: dict[str, Any] = {"timeout": kwargs["timeout"]} if "timeout" in kwargs else {}
        return self._client.get(url, params=params, headers=self._headers(headers), **extra)

    def close(self) -> None:
        self._client.close()
