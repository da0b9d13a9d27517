"""The hall's own certificates: a CA and a broker certificate generated on first start.

``ensure_broker_certificates(data_dir)`` keeps them in ``data_dir/tls``: ``ca.crt``/``ca.key``
and ``broker.crt``/``broker.key`` for 127.0.0.1 and localhost. They are reused between runs (so
devices keep trusting the same CA) and generated again when missing, expired or about to
expire, or when the broker certificate no longer chains to the CA or no longer names the hosts.
Private keys are written 0600. ``issue_certificate`` signs other certificates with the CA (the
tests' client certificates, expired ones included).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

BROKER_HOSTS = ("127.0.0.1", "localhost")
CA_VALIDITY = dt.timedelta(days=3650)
BROKER_VALIDITY = dt.timedelta(days=825)  # what browsers and most TLS stacks still accept
RENEW_BEFORE = dt.timedelta(days=7)
"""A certificate expiring within this is replaced at start rather than left to lapse mid-run."""

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA certificate and its key, able to sign others."""

    certificate: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True, slots=True)
class BrokerCertificates:
    """Where the files are: what a broker serves and what its clients trust."""

    ca_file: Path
    ca_key_file: Path
    cert_file: Path
    key_file: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key() -> PrivateKey:
    """A P-256 key: fast to make and to handshake with, accepted by Mosquitto and amqtt."""
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(common_name: str = "Campus hall local CA", *, now: dt.datetime | None = None,
              validity: dt.timedelta = CA_VALIDITY) -> CertificateAuthority:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    now = now or _now()
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(certificate, key)


def issue_certificate(ca: CertificateAuthority, common_name: str, *, hosts: Sequence[str] = (),
                      server: bool = False, not_before: dt.datetime | None = None,
                      not_after: dt.datetime | None = None,
                      key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A leaf certificate signed by ``ca``: a server's (``hosts`` as its SANs, IPs or names)
    or a client's. ``not_before``/``not_after`` default to now .. now + BROKER_VALIDITY."""
    now = _now()
    not_before = not_before or now - dt.timedelta(minutes=5)
    not_after = not_after or now + BROKER_VALIDITY
    key = key or new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.key.public_key()), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(host) for host in hosts]), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def broker_hosts(bind_host: str) -> tuple[str, ...]:
    """The names the broker certificate carries: 127.0.0.1 and localhost, and the address the
    broker binds to when it is a specific one (not a wildcard such as 0.0.0.0)."""
    try:
        wildcard = ipaddress.ip_address(bind_host).is_unspecified
    except ValueError:
        wildcard = not bind_host
    if wildcard or bind_host in BROKER_HOSTS:
        return BROKER_HOSTS
    return (*BROKER_HOSTS, bind_host)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a PEM key readable by its owner only (0600), also when replacing an older file."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    path.unlink(missing_ok=True)  # O_CREAT's mode only applies to a new file
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def load_ca(certificates: BrokerCertificates) -> CertificateAuthority:
    """The CA kept in the data dir (to sign client certificates with it)."""
    certificate = x509.load_pem_x509_certificate(certificates.ca_file.read_bytes())
    key = serialization.load_pem_private_key(certificates.ca_key_file.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{certificates.ca_key_file}: expected an EC private key")
    return CertificateAuthority(certificate, key)


def broker_certificate_files(data_dir: Path) -> BrokerCertificates:
    tls_dir = data_dir / "tls"
    return BrokerCertificates(tls_dir / "ca.crt", tls_dir / "ca.key",
                              tls_dir / "broker.crt", tls_dir / "broker.key")


def ensure_broker_certificates(data_dir: Path, hosts: Sequence[str] = BROKER_HOSTS, *,
                               now: dt.datetime | None = None) -> BrokerCertificates:
    """The CA and broker certificate in ``data_dir/tls``: kept when still good, made anew when
    missing, expiring within RENEW_BEFORE, or not matching (another CA, other hosts)."""
    now = now or _now()
    files = broker_certificate_files(data_dir)
    files.ca_file.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(files.ca_file.parent, 0o700)
    ca = _usable_ca(files, now)
    if ca is None:
        logger.info("generating the hall's TLS CA in %s", files.ca_file.parent)
        ca = create_ca(now=now)
        write_private_key(files.ca_key_file, ca.key)
        write_certificate(files.ca_file, ca.certificate)
        files.cert_file.unlink(missing_ok=True)  # signed by the old CA: no longer trusted
    if not _broker_certificate_usable(files, ca, hosts, now):
        logger.info("generating the broker's TLS certificate for %s", ", ".join(hosts))
        certificate, key = issue_certificate(ca, hosts[0], hosts=hosts, server=True,
                                             not_before=now - dt.timedelta(minutes=5),
                                             not_after=now + BROKER_VALIDITY)
        write_private_key(files.key_file, key)
        write_certificate(files.cert_file, certificate)
    return files


def _fresh(certificate: x509.Certificate, now: dt.datetime) -> bool:
    return (certificate.not_valid_before_utc <= now
            and certificate.not_valid_after_utc - RENEW_BEFORE > now)


def _usable_ca(files: BrokerCertificates, now: dt.datetime) -> CertificateAuthority | None:
    if not (files.ca_file.is_file() and files.ca_key_file.is_file()):
        return None
    try:
        ca = load_ca(files)
    except ValueError:
        logger.warning("the TLS CA in %s is unreadable; making a new one", files.ca_file.parent)
        return None
    return ca if _fresh(ca.certificate, now) else None


def _broker_certificate_usable(files: BrokerCertificates, ca: CertificateAuthority,
                               hosts: Sequence[str], now: dt.datetime) -> bool:
    if not (files.cert_file.is_file() and files.key_file.is_file()):
        return False
    try:
        certificate = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        certificate.verify_directly_issued_by(ca.certificate)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return _fresh(certificate, now) and set(map(_san, hosts)) <= set(names)
