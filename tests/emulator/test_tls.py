"""TLS material for the emulator: generated once into the state dir, reused afterwards."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from bridge.emulator.tls import ensure_tls_files


def test_first_start_generates_a_ca_and_a_loopback_server_certificate(tmp_path: Path) -> None:
    files = ensure_tls_files(tmp_path / "state")
    assert files.ca_file.exists() and files.cert_file.exists() and files.key_file.exists()
    assert files.key_file.stat().st_mode & 0o077 == 0  # the key is private to its owner
    server = x509.load_pem_x509_certificates(files.cert_file.read_bytes())[0]
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    # a client trusting only the CA file accepts the server certificate chain
    context = ssl.create_default_context(cafile=str(files.ca_file))
    context.load_cert_chain(files.cert_file, files.key_file)


def test_next_start_reuses_the_same_ca(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path)
    ca_pem = first.ca_file.read_bytes()
    second = ensure_tls_files(tmp_path)
    assert second.ca_file.read_bytes() == ca_pem


def test_broken_material_is_regenerated(tmp_path: Path) -> None:
    first = ensure_tls_files(tmp_path)
    first.ca_file.write_text("not a certificate")
    second = ensure_tls_files(tmp_path)
    x509.load_pem_x509_certificate(second.ca_file.read_bytes())
