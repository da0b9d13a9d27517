"""TLS without a broker: the hall's certificates (hall/tls.py), mqtts:// URLs and the TLS
settings of the config, each refused with a message that says what to fix."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from devices.broker_address import (
    DEFAULT_MQTTS_PORT,
    BrokerAddress,
    BrokerTlsError,
    InvalidBrokerUrl,
    with_tls_files,
)
from edge.settings import AgentSettings
from hall.config import ConfigError, load_config
from hall.tls import (
    RENEW_BEFORE,
    broker_hosts,
    create_ca,
    ensure_broker_certificates,
    issue_certificate,
    load_ca,
    write_certificate,
    write_private_key,
)


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# -- hall/tls.py -----------------------------------------------------------------------------------


def test_first_start_makes_a_ca_and_a_broker_certificate_a_tls_client_accepts(
        tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    broker = _certificate(files.cert_file)
    broker.verify_directly_issued_by(_certificate(files.ca_file))
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"127.0.0.1", "localhost"}
    # What clients and brokers load: a verifying client context, a server context.
    client = ssl.create_default_context(cafile=str(files.ca_file))
    assert client.verify_mode is ssl.CERT_REQUIRED
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.cert_file,
                                                                        files.key_file)


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    for key in (files.ca_key_file, files.key_file):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(files.ca_file.parent.stat().st_mode) == 0o700


def test_a_later_start_keeps_the_ca_and_the_certificate(tmp_path: Path) -> None:
    first = ensure_broker_certificates(tmp_path)
    ca, cert = first.ca_file.read_bytes(), first.cert_file.read_bytes()
    again = ensure_broker_certificates(tmp_path)
    assert again.ca_file.read_bytes() == ca and again.cert_file.read_bytes() == cert


def test_an_expiring_broker_certificate_is_renewed_under_the_same_ca(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    ca = files.ca_file.read_bytes()
    old = _certificate(files.cert_file)
    later = old.not_valid_after_utc - RENEW_BEFORE + dt.timedelta(hours=1)
    ensure_broker_certificates(tmp_path, now=later)
    renewed = _certificate(files.cert_file)
    assert renewed.serial_number != old.serial_number
    assert renewed.not_valid_after_utc > old.not_valid_after_utc
    assert files.ca_file.read_bytes() == ca  # devices keep trusting the same CA
    assert stat.S_IMODE(files.key_file.stat().st_mode) == 0o600


def test_an_expired_ca_is_replaced_and_the_broker_certificate_with_it(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    old_ca = _certificate(files.ca_file)
    ensure_broker_certificates(tmp_path, now=old_ca.not_valid_after_utc + dt.timedelta(days=1))
    new_ca = _certificate(files.ca_file)
    assert new_ca.serial_number != old_ca.serial_number
    _certificate(files.cert_file).verify_directly_issued_by(new_ca)


def test_a_broker_certificate_from_another_ca_or_for_other_hosts_is_replaced(
        tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    stranger = create_ca("someone else")
    certificate, key = issue_certificate(stranger, "127.0.0.1", hosts=["127.0.0.1"], server=True)
    write_certificate(files.cert_file, certificate)
    write_private_key(files.key_file, key)
    ensure_broker_certificates(tmp_path)
    _certificate(files.cert_file).verify_directly_issued_by(_certificate(files.ca_file))
    ensure_broker_certificates(tmp_path, hosts=broker_hosts("10.1.2.3"))
    names = _certificate(files.cert_file).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert "10.1.2.3" in {str(n.value) for n in names}


def test_the_broker_names_a_specific_bind_address_but_not_a_wildcard() -> None:
    assert broker_hosts("0.0.0.0") == ("127.0.0.1", "localhost")
    assert broker_hosts("localhost") == ("127.0.0.1", "localhost")
    assert broker_hosts("hall.example.edu") == ("127.0.0.1", "localhost", "hall.example.edu")


def test_client_certificates_are_signed_by_the_hall_ca(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    certificate, _ = issue_certificate(load_ca(files), "kiosk-01")
    certificate.verify_directly_issued_by(_certificate(files.ca_file))


# -- mqtts:// URLs ---------------------------------------------------------------------------------


def test_an_mqtts_url_is_tls_on_8883_never_the_plain_port() -> None:
    address = BrokerAddress.parse("mqtts://broker.campus")
    assert address.port == DEFAULT_MQTTS_PORT and address.tls is not None
    assert address.display == "mqtts://broker.campus:8883"
    assert BrokerAddress.parse("mqtt://broker.campus").tls is None


def test_tls_files_travel_in_the_url(tmp_path: Path) -> None:
    url = with_tls_files("mqtts://u:p@h:8884", ca_file="/etc/hall/ca.crt",
                         cert_file="/etc/hall/dev.crt", key_file="/etc/hall/dev.key")
    address = BrokerAddress.parse(url)
    assert (address.username, address.password, address.port) == ("u", "p", 8884)
    assert address.tls is not None
    assert (address.tls.ca_file, address.tls.cert_file, address.tls.key_file) == (
        "/etc/hall/ca.crt", "/etc/hall/dev.crt", "/etc/hall/dev.key")
    # A file the URL names already wins over the configured one.
    assert with_tls_files("mqtts://h?ca=/a.crt", ca_file="/b.crt") == "mqtts://h?ca=/a.crt"


@pytest.mark.parametrize(("url", "problem"), [
    ("mqtt://h:1883?ca=/ca.crt", "use mqtts://"),
    ("mqtts://h?cert=/c.crt", "needs its key"),
    ("mqtts://h?key=/c.key", "needs its key"),
    ("mqtts://h?cafile=/ca.crt", "unknown parameter(s) cafile"),
    ("mqtts://h?ca=", "non-empty"),
    ("https://h", "expected mqtt://"),
])
def test_a_wrong_tls_url_is_refused_naming_the_fault(url: str, problem: str) -> None:
    with pytest.raises(InvalidBrokerUrl) as refused:
        BrokerAddress.parse(url)
    assert problem in refused.value.problem


def test_an_agent_with_a_missing_ca_file_fails_at_once_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BrokerTlsError, match=r"missing-ca\.crt does not exist"):
        AgentSettings(device_id="kiosk-1", kind="kiosk",  # type: ignore[arg-type]
                      broker_url=f"mqtts://h?ca={tmp_path}/missing-ca.crt", durable=False)


def test_a_client_context_verifies_the_broker_and_its_name(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    context = BrokerAddress.parse(f"mqtts://localhost?ca={files.ca_file}").ssl_context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


# -- config ----------------------------------------------------------------------------------------


def test_tls_settings_come_from_the_environment_into_the_client_url(tmp_path: Path) -> None:
    files = ensure_broker_certificates(tmp_path)
    certificate, key = issue_certificate(load_ca(files), "kiosk-1")
    write_certificate(tmp_path / "kiosk.crt", certificate)
    write_private_key(tmp_path / "kiosk.key", key)
    config = load_config(None, {
        "HALL_MQTT_URL": "mqtts://broker.campus", "HALL_MQTT_TLS_CA_FILE": str(files.ca_file),
        "HALL_EDGE_TLS_CERT_FILE": str(tmp_path / "kiosk.crt"),
        "HALL_EDGE_TLS_KEY_FILE": str(tmp_path / "kiosk.key")})
    controller = BrokerAddress.parse(config.mqtt.client_url).tls
    assert controller is not None and controller.ca_file == str(files.ca_file)
    assert controller.cert_file is None  # the edge's certificate is the device's, not ours
    edge = BrokerAddress.parse(config.edge_broker_url).tls
    assert edge is not None and edge.cert_file == str(tmp_path / "kiosk.crt")
    assert load_config(None, {"HALL_MQTT_EMBEDDED_TLS": "false"}).mqtt.embedded.tls is False
    assert load_config(None, {}).mqtt.embedded.tls is True


@pytest.mark.parametrize(("env", "message"), [
    ({"HALL_MQTT_URL": "mqtts://b", "HALL_MQTT_TLS_CA_FILE": "/nowhere/ca.crt"},
     "mqtt.tls_ca_file: Value error, no such file: /nowhere/ca.crt"),
    ({"HALL_MQTT_URL": "mqtts://b"}, "no CA is given: set mqtt.tls_ca_file"),
    ({"HALL_MQTT_URL": "mqtt://b", "HALL_MQTT_TLS_CA_FILE": "{ca}"}, "use mqtts://"),
    ({"HALL_MQTT_URL": "mqtts://b", "HALL_MQTT_TLS_CA_FILE": "{ca}",
      "HALL_MQTT_TLS_CERT_FILE": "{ca}"}, "a client certificate needs its private key"),
    ({"HALL_MQTT_URL": "mqtts://b", "HALL_MQTT_TLS_CA_FILE": "{ca}",
      "HALL_EDGE_TLS_KEY_FILE": "{ca}"}, "edge.tls_cert_file and edge.tls_key_file go together"),
    ({"HALL_MQTT_URL": "mqtt://b", "HALL_EDGE_TLS_CERT_FILE": "{ca}",
      "HALL_EDGE_TLS_KEY_FILE": "{ca}"}, "edge.tls_cert_file is set but mqtt.url is not mqtts://"),
])
def test_wrong_tls_settings_are_refused_at_start_up(
        tmp_path: Path, env: dict[str, str], message: str) -> None:
    ca = str(ensure_broker_certificates(tmp_path).ca_file)
    with pytest.raises(ConfigError) as refused:
        load_config(None, {k: v.replace("{ca}", ca) for k, v in env.items()})
    assert message in str(refused.value)


def test_the_system_store_is_used_only_when_asked_for() -> None:
    config = load_config(None, {"HALL_MQTT_URL": "mqtts://broker.example.com",
                                "HALL_MQTT_TLS_SYSTEM_STORE": "true"})
    tls = BrokerAddress.parse(config.mqtt.client_url).tls
    assert tls is not None and tls.ca_file is None
