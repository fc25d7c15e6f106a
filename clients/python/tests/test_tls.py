"""An HTTPS server whose certificate comes from a private CA: trusted with ``ca_cert`` or
``GAVEL_CA_CERT``, refused (so nothing is allowed) without it."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import gavel_client
from gavel_client import Client, GavelUnavailable

from .conftest import Gavel, start, stop


def private_ca(dir: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it issued for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gavel test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    paths = dir / "ca.pem", dir / "cert.pem", dir / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gavel, Path]]:
    from .conftest import POLICY

    dir = tmp_path_factory.mktemp("tls")
    ca, cert, key = private_ca(dir)
    g = start(dir, POLICY, tls=(cert, key))
    yield g, ca
    stop(g)


def test_a_private_ca_is_trusted_when_given(https: tuple[Gavel, Path], session_id: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    g, ca = https
    assert g.url.startswith("https://")
    with Client(g.url, token=g.token, ca_cert=str(ca)) as c:
        assert c.guard("orders.get", session=session_id).rule == "reads"
    monkeypatch.setenv("GAVEL_SERVER", g.url)
    monkeypatch.setenv("GAVEL_AGENT_TOKEN", g.token)
    monkeypatch.setenv("GAVEL_CA_CERT", str(ca))
    assert gavel_client.guard("orders.get", session=session_id).verdict == "allow"


def test_an_untrusted_certificate_allows_nothing(https: tuple[Gavel, Path],
                                                 session_id: str) -> None:
    g, _ = https
    with Client(g.url, token=g.token) as c, pytest.raises(GavelUnavailable) as e:
        c.guard("orders.get", session=session_id)
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "certificate" in str(e.value)
