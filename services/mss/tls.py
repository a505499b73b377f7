"""The sandbox certificate of the SMTP and IMAP listeners (STARTTLS, RFC 3207 / RFC 2595).

Real MSSanté operators present certificates of the IGC Santé; the sandbox generates one
self-signed EC P-256 certificate for ``localhost`` / ``127.0.0.1`` once, with the seed, and
keeps it in the database (table ``tls_material``), so that a reset or a restart keeps the
same certificate and a client can pin it (``GET /api/tls/certificate``). A snapshot
brings its own certificate: :class:`ListenerTls` makes the listeners present it from
the next connection on, without a restart.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

COMMON_NAME = "mss.mes-sandbox.localhost"


def generate(now: dt.datetime | None = None) -> tuple[str, str]:
    """A new self-signed certificate and its key, both PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mes-sandbox (bac à sable, fictif)"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        ]
    )
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.DNSName(COMMON_NAME),
            x509.DNSName("mss"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


def server_context(cert_pem: str, key_pem: str) -> ssl.SSLContext:
    """A server-side TLS context (TLS 1.2 at least) for the given PEM pair."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl only loads a chain from files: write them to a private temporary directory.
    with tempfile.TemporaryDirectory(prefix="mes-mss-tls-") as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_text(cert_pem)
        key_file.touch(mode=0o600)
        key_file.write_text(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class ListenerTls:
    """The listeners' current TLS context: the SMTP listener reads it for each new
    connection, the IMAP one at each ``STARTTLS``. :meth:`reload` runs after a reset or a
    snapshot import (``runtime.reset_hooks``): a new context replaces the old one (a
    context is never changed in place, so a handshake under way keeps its own)."""

    def __init__(self, load: Callable[[], ssl.SSLContext]) -> None:
        self._load = load
        self.context = load()

    def reload(self) -> None:
        try:
            self.context = self._load()
        except (RuntimeError, ssl.SSLError, ValueError) as exc:
            log.warning("the listeners keep their certificate: the new one does not load (%s)", exc)
