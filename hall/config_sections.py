"""The tables of the configuration (``[mqtt]``, ``[queue]``, ...), each validated on its own.

``hall/config.py`` puts them together into one tree and loads it; a value a table refuses fails
at start-up with its dotted key (``ConfigError``).
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.broker_address import BrokerAddress, InvalidBrokerUrl, with_tls_files
from devices.contract import DEVICE_ID_PATTERN, MAX_PAYLOAD_BYTES, is_valid_device_id
from devices.hardware.settings import HardwareSettings
from devices.kinds import DeviceKind
from edge.settings import command_key_from_hex
from hall_controller.access.rules import MAX_FACES_PER_PERSON
from hall_controller.access.service import MAX_PHOTO_BYTES
from hall_controller.fleet.presence import DEFAULT_INACTIVITY_TIMEOUT_S


class ConfigSection(BaseModel):
    """A table of the config: unknown keys are refused, and so are wrong values set later."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


class EmbeddedBrokerConfig(ConfigSection):
    host: str = "127.0.0.1"
    port: Port = Field(default=0, description="0 picks a free port; the chosen one is printed")
    tls: bool = Field(
        default=True, description="serve TLS only (mqtts://), with a CA and a certificate for "
                                  "127.0.0.1/localhost generated into data_dir/tls on first start")


def _existing_file(value: str) -> str:
    if value and not Path(value).is_file():
        raise ValueError(f"no such file: {value}")
    return value


def _cert_with_key(cert_file: str, key_file: str, section: str) -> None:
    if bool(cert_file) != bool(key_file):
        raise ValueError(f"{section}.tls_cert_file and {section}.tls_key_file go together: "
                         "a client certificate needs its private key")


class MqttConfig(ConfigSection):
    url: str = Field(default="", description="mqtt://user:pass@host:port or mqtts://... (TLS); "
                                             "empty starts the embedded amqtt broker")
    topic_prefix: str = "hall/v1"
    client_id: str = "hall-controller"
    shared_group: str = Field(
        default="", description="when set, subscribe as $share/<group>/... (Mosquitto, EMQX)")
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    tls_ca_file: str = Field(
        default="", description="mqtts://: the CA (PEM) the broker's certificate must chain to")
    tls_cert_file: str = Field(
        default="", description="mqtts://: a client certificate (PEM), for brokers that "
                                "require one (with tls_key_file)")
    tls_key_file: str = Field(default="", description="the client certificate's private key")
    tls_system_store: bool = Field(
        default=False, description="mqtts:// without tls_ca_file: trust the system's CA store "
                                   "(a broker with a publicly trusted certificate)")
    embedded: EmbeddedBrokerConfig = EmbeddedBrokerConfig()

    @field_validator("url")
    @classmethod
    def _url_is_mqtt(cls, value: str) -> str:
        if value:
            try:
                BrokerAddress.parse(value)
            except InvalidBrokerUrl as exc:
                raise ValueError(exc.problem) from None  # the error shows the URL already
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _file_exists(cls, value: str) -> str:
        return _existing_file(value)

    @model_validator(mode="after")
    def _tls_is_complete(self) -> MqttConfig:
        _cert_with_key(self.tls_cert_file, self.tls_key_file, "mqtt")
        files = self.tls_ca_file or self.tls_cert_file
        if not self.url:
            return self
        tls = BrokerAddress.parse(self.url).tls
        if tls is None and files:
            raise ValueError("mqtt.tls_* files are set but mqtt.url is plain mqtt://; use "
                             "mqtts:// (TLS files are never silently ignored)")
        if tls is not None and not (tls.ca_file or self.tls_ca_file or self.tls_system_store):
            raise ValueError("mqtt.url is mqtts:// but no CA is given: set mqtt.tls_ca_file "
                             "(or mqtt.tls_system_store = true for a publicly trusted broker)")
        return self

    @property
    def client_url(self) -> str:
        """``url`` with the tls_* files in it: what the controller and agents connect with."""
        return with_tls_files(self.url, ca_file=self.tls_ca_file, cert_file=self.tls_cert_file,
                              key_file=self.tls_key_file) if self.url else ""

    @field_validator("topic_prefix")
    @classmethod
    def _prefix_has_no_wildcards(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("expected a topic prefix like hall/v1 (no wildcards, no leading or trailing /)")
        return value


class DatabaseConfig(ConfigSection):
    url: str = Field(
        default="", description="a PostgreSQL DSN; empty starts an embedded PostgreSQL (pgserver)")
    pool_min: Annotated[int, Field(ge=1)] = 1
    pool_max: Annotated[int, Field(ge=1)] = 8
    telemetry_retention_days: Annotated[int, Field(ge=1)] = 90

    @field_validator("url")
    @classmethod
    def _url_is_postgres(cls, value: str) -> str:
        if value and not (value.startswith(("postgresql://", "postgres://")) or "=" in value):
            raise ValueError("expected postgresql://user@host:port/db or a key=value DSN")
        return value


MIB = 1024 * 1024


class HttpConfig(ConfigSection):
    """The HTTP API: where it listens, how large and how slow a request body may be, and
    whether its clients reach it over HTTPS."""

    host: str = "127.0.0.1"
    port: Port = 8000
    forwarded_allow_ips: str = Field(
        default="", description="addresses of reverse proxies whose X-Forwarded-For/-Proto "
                                "are believed (comma-separated, or *); empty → none: the "
                                "client address is the TCP peer's")
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=MIB, description="the largest request body (JSON, login form); larger is a 413")
    # The largest legitimate upload is face enrolment: MAX_FACES_PER_PERSON photos of
    # MAX_PHOTO_BYTES each, plus the multipart framing.
    max_upload_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=MAX_FACES_PER_PERSON * MAX_PHOTO_BYTES + MIB,
        description="the largest multipart/form-data body (photo uploads)")
    body_timeout_s: Seconds = Field(
        default=60.0, description="a body not fully arrived this long after its headers is a 408")
    hsts: bool = Field(
        default=False, description="send Strict-Transport-Security: set it when clients reach "
                                   "the API over HTTPS (uvicorn with a certificate, a TLS proxy)")

    @model_validator(mode="after")
    def _uploads_fit_the_body_limit(self) -> HttpConfig:
        if self.max_upload_bytes < self.max_body_bytes:
            raise ValueError("max_upload_bytes must be at least max_body_bytes")
        return self


class ControllerConfig(ConfigSection):
    queue_size: Annotated[int, Field(ge=10)] = 10_000
    batch_max: Annotated[int, Field(ge=1)] = 1_000
    max_payload_bytes: Annotated[int, Field(ge=1024)] = MAX_PAYLOAD_BYTES
    command_timeout_s: Seconds = 10.0
    command_ttl_s: Seconds = 30.0
    presence_check_interval_s: Seconds = 2.0
    inactivity_timeout_s: dict[DeviceKind, Seconds] = Field(
        default_factory=lambda: dict(DEFAULT_INACTIVITY_TIMEOUT_S))


class LoginConfig(ConfigSection):
    """Login throttling and the password-hashing cap (docs/deployment.md, "Logins")."""

    max_failures_per_user: Annotated[int, Field(ge=1)] = Field(
        default=5, description="failed logins for one username, within the window, that lock it")
    max_failures_per_address: Annotated[int, Field(ge=1)] = Field(
        default=20, description="failed logins from one client address, any usernames, that "
                                "lock it (higher: a NAT or proxy puts many people behind one)")
    failure_window_s: Seconds = 900
    lockout_base_s: Seconds = Field(default=60, description="the first lockout; each next "
                                                            "one of the same key doubles")
    lockout_max_s: Seconds = 3600
    tracked_keys: Annotated[int, Field(ge=1)] = Field(
        default=10_000, description="usernames (and as many addresses) remembered; the least "
                                    "recently failed are forgotten first")
    hash_concurrency: Annotated[int, Field(ge=1)] = Field(
        default=2, description="argon2 hashes at once (each ≈0.2 s of a core and 64 MiB)")
    hash_wait_s: Seconds = Field(default=2.0, description="a login waiting longer for a "
                                                          "hashing slot gets 503")

    @model_validator(mode="after")
    def _base_within_max(self) -> LoginConfig:
        if self.lockout_base_s > self.lockout_max_s:
            raise ValueError("lockout_base_s must not exceed lockout_max_s")
        return self


class AuthConfig(ConfigSection):
    token_ttl_s: Annotated[int, Field(ge=60)] = 8 * 3600
    admin_password: str = Field(default="", description=(
        "the first admin's password, used only while no enabled admin exists (it never resets "
        "one); empty in the demo → generated and printed"))
    secret: str = Field(default="", description="token signing key; empty → generated once into the data dir")
    login: LoginConfig = LoginConfig()

    @field_validator("secret")
    @classmethod
    def _secret_is_long_enough(cls, value: str) -> str:
        return _optional_secret(value)


def _optional_secret(value: str) -> str:
    """A configured signing secret is long; empty means "generate one into the data dir"."""
    if value and len(value) < 32:
        raise ValueError("expected at least 32 characters (or empty to generate one)")
    return value


class AccessConfig(ConfigSection):
    """Access control: command signing and face check-in."""

    command_secret: str = Field(
        default="", description="master secret door keys are derived from; empty → generated "
                                "once into the data dir (provision each lock with its derived key)")
    checkin_gates: list[str] = Field(
        default_factory=lambda: ["gate-hall-*"],
        description="entrance gates (ids or patterns) whose face grants check visitors in")

    @field_validator("command_secret")
    @classmethod
    def _secret_is_long_enough(cls, value: str) -> str:
        return _optional_secret(value)


class DevicesConfig(ConfigSection):
    """Device identity: who may speak on the device network."""

    auto_register: bool = Field(
        default=False, description="hear devices nobody provisioned (``hall devices "
                                   "provision``) and register them by their first birth; "
                                   "for a demo or a lab, never in production")
    broker_url: str = Field(
        default="", description="the broker address device hosts use, written into their "
                                "provisioning bundles; empty → the controller's (mqtt.url, or "
                                "the embedded broker's)")

    @field_validator("broker_url")
    @classmethod
    def _url_is_mqtt(cls, value: str) -> str:
        if value:
            try:
                BrokerAddress.parse(value)
            except InvalidBrokerUrl as exc:
                raise ValueError(exc.problem) from None
        return value


class IntegrationConfig(ConfigSection):
    """The online platform's integration: where webhooks may be delivered."""

    webhook_allow: list[str] = Field(
        default_factory=list,
        description="networks or addresses (\"10.2.0.0/16\", \"127.0.0.1\") webhooks may reach "
                    "although they are loopback, private, link-local, ...; empty → public "
                    "addresses only")

    @field_validator("webhook_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry.strip())
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not a network or an address: {exc}") from None
        return value


class EdgeConfig(ConfigSection):
    """The one agent ``hall edge`` runs."""

    device_id: str = "kiosk-1"
    kind: DeviceKind = DeviceKind.KIOSK
    model: str = "sim"
    fw: str = "1.0.0"
    site: str = "main-hall"
    telemetry_interval_s: Seconds = 5.0
    camera: str = Field(
        default="", description="face_gate only: a camera index, an rtsp:// URL, a video file or "
                                "a folder of images; set, the agent recognises faces for real "
                                "(empty: a simulated gate)")
    command_key: str = Field(
        default="", description="hex key for signed door commands and access policies, as "
                                "derived for this device from the controller's "
                                "access.command_secret (empty: unsigned policies are applied, "
                                "demo/development only)", repr=False)
    hardware: HardwareSettings = Field(
        default_factory=HardwareSettings,
        description="serial printer / card_reader / lock_board / led_display of this host "
                    "(docs/hardware.md); absent parts are not driven")
    card_service: str = Field(default="student-id",
                              description="kiosk: the service a campus-card swipe takes a ticket for")
    tls_cert_file: str = Field(
        default="", description="mqtts://: this device's client certificate (PEM), instead of "
                                "mqtt.tls_cert_file; the CA is mqtt.tls_ca_file")
    tls_key_file: str = Field(default="", description="this device's client key (PEM, 0600)")

    @field_validator("tls_cert_file", "tls_key_file")
    @classmethod
    def _file_exists(cls, value: str) -> str:
        return _existing_file(value)

    @model_validator(mode="after")
    def _cert_with_key(self) -> EdgeConfig:
        _cert_with_key(self.tls_cert_file, self.tls_key_file, "edge")
        return self

    @field_validator("command_key")
    @classmethod
    def _hex_key(cls, value: str) -> str:
        if value:
            command_key_from_hex(value)  # what the agent will parse; raises naming the fault
        return value

    @field_validator("device_id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not is_valid_device_id(value):
            raise ValueError(f"expected a device id matching {DEVICE_ID_PATTERN}")
        return value


Share = Annotated[float, Field(ge=0.0, le=1.0)]


class DemoConfig(ConfigSection):
    devices_per_kind: Annotated[int, Field(ge=0, le=1000)] = 3
    telemetry_interval_s: Seconds = 5.0
    live_queue: bool = Field(
        default=True, description="visitors take tickets at the kiosks and clerks serve them")
    # An ordinary hour's visitors; the day's profile (simulators.visitors.HALL_DAY_WEIGHTS)
    # makes 1.6x that at the 9-10 o'clock peak and 0.4x over lunch. 40 at 4 windows with
    # 4-minute services: the queue builds up in the morning peak and clears over lunch.
    visitors_per_hour: Annotated[float, Field(ge=0.0, le=100_000.0)] = Field(
        default=40.0, description="visitors of all services together in an ordinary hour, "
                                  "split evenly (the day's profile adds a morning peak)")
    speed: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        default=1.0, description="the live hall's time runs this many times faster than the "
                                 "clock; recorded waits and service times shrink by the same "
                                 "factor (1: real minutes, as the statistics should show)")
    replay_day: bool = Field(
        default=True, description="before the live hall starts, replay the day from "
                                  "queue.opens until now through the real services (with a "
                                  "simulated clock), if that day has no tickets yet")
    online_share: Share = Field(
        default=0.4, description="visitors who come for a case filed on the simulated online "
                                 "platform (they identify at the kiosk; the case is linked)")
    service_mean_min: Annotated[float, Field(gt=0.0, le=240.0)] = Field(
        default=4.0, description="mean (exponential) service time at a window, simulated")
    identity_share: Share = Field(default=0.3,
                                  description="other visitors who show a person id")
    priority_share: Share = Field(default=0.1, description="visitors by the green channel")
    no_show_share: Share = Field(default=0.05, description="called visitors who never come")
    pending_share: Share = Field(default=0.15,
                                 description="services completed as pending materials")
    free_windows_per_area: Annotated[int, Field(ge=0, le=100)] = Field(
        default=1, description="windows of each area (the highest-numbered) left without a "
                               "simulated clerk, for a real clerk to open on the window page")
