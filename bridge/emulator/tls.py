"""TLS material for the emulator: a private CA and a server certificate for 127.0.0.1/localhost.

Generated on first start into a state directory and reused afterwards, so a client configured
once with the CA file keeps working across restarts. msal only talks HTTPS, hence the default.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509

log = logging.getLogger(__name__)

CA_FILE = "emulator-ca.pem"
CERT_FILE = "emulator-server.pem"
KEY_FILE = "emulator-server-key.pem"
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Paths to the CA a client must trust, and the server's certificate chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _reusable(files: TlsFiles) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
        x509.load_pem_x509_certificates(files.cert_file.read_bytes())
        key = files.key_file.read_bytes()
    except (OSError, ValueError):
        return False
    return bool(ca) and b"PRIVATE KEY" in key


def ensure_tls_files(state_dir: Path) -> TlsFiles:
    """The emulator's CA, server certificate and key in ``state_dir``; generated if absent or broken."""
    state_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(state_dir / CA_FILE, state_dir / CERT_FILE, state_dir / KEY_FILE)
    if _reusable(files):
        log.debug("reusing emulator TLS material in %s", state_dir)
        return files
    ca = trustme.CA(organization_name="presence-bridge Graph emulator")
    server = ca.issue_cert(*SERVER_NAMES, organization_name="presence-bridge Graph emulator")
    ca.cert_pem.write_to_path(str(files.ca_file))
    files.cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(server.private_key_pem.bytes())
    log.info("generated emulator TLS material in %s", state_dir)
    return files
