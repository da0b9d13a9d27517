"""One validated configuration tree, loaded once from config.toml and the environment.

Precedence: defaults < config.toml < environment.  A wrong value fails at start-up with the
dotted key and what was expected (``ConfigError``), never later at first use.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from devices.broker_address import with_tls_files
from hall.config_queue import (
    QueueCallingConfig,
    QueueConfig,
    QueueServiceConfig,
    QueueWindowConfig,
)
from hall.config_sections import (
    AccessConfig,
    AuthConfig,
    ConfigSection,
    ControllerConfig,
    DatabaseConfig,
    DemoConfig,
    DevicesConfig,
    EdgeConfig,
    EmbeddedBrokerConfig,
    HttpConfig,
    IntegrationConfig,
    LoginConfig,
    MqttConfig,
)
from hall.config_sign_on import SignOnConfig
from hall.notify_config import NotifyConfig


class ConfigError(Exception):
    """The configuration is wrong; the message names the key and what was expected."""


class HallConfig(ConfigSection):
    data_dir: Path = Path(".hall-data")
    mqtt: MqttConfig = MqttConfig()
    database: DatabaseConfig = DatabaseConfig()
    http: HttpConfig = HttpConfig()
    controller: ControllerConfig = ControllerConfig()
    auth: AuthConfig = AuthConfig()
    access: AccessConfig = AccessConfig()
    devices: DevicesConfig = DevicesConfig()
    integration: IntegrationConfig = IntegrationConfig()
    edge: EdgeConfig = EdgeConfig()
    demo: DemoConfig = DemoConfig()
    queue: QueueConfig = QueueConfig()
    notify: NotifyConfig = NotifyConfig()
    sign_on: SignOnConfig = SignOnConfig()

    @model_validator(mode="after")
    def _edge_certificate_needs_tls(self) -> HallConfig:
        if self.edge.tls_cert_file and not self.mqtt.url.startswith(("mqtts://", "ssl://")):
            raise ValueError("edge.tls_cert_file is set but mqtt.url is not mqtts://")
        return self

    @property
    def edge_broker_url(self) -> str:
        """The URL ``hall edge`` connects with: mqtt's, with the device's own certificate."""
        return with_tls_files(self.mqtt.url, ca_file=self.mqtt.tls_ca_file,
                              cert_file=self.edge.tls_cert_file or self.mqtt.tls_cert_file,
                              key_file=self.edge.tls_key_file or self.mqtt.tls_key_file)


# Environment variable → dotted key.  Only these are read; anything else HALL_* is ignored.
ENV_KEYS: dict[str, str] = {
    "HALL_MQTT_URL": "mqtt.url",
    "HALL_MQTT_TOPIC_PREFIX": "mqtt.topic_prefix",
    "HALL_MQTT_CLIENT_ID": "mqtt.client_id",
    "HALL_MQTT_SHARED_GROUP": "mqtt.shared_group",
    "HALL_MQTT_TLS_CA_FILE": "mqtt.tls_ca_file",
    "HALL_MQTT_TLS_CERT_FILE": "mqtt.tls_cert_file",
    "HALL_MQTT_TLS_KEY_FILE": "mqtt.tls_key_file",
    "HALL_MQTT_TLS_SYSTEM_STORE": "mqtt.tls_system_store",
    "HALL_MQTT_EMBEDDED_TLS": "mqtt.embedded.tls",
    "HALL_DATABASE_URL": "database.url",
    "HALL_HTTP_HOST": "http.host",
    "HALL_HTTP_PORT": "http.port",
    "HALL_DATA_DIR": "data_dir",
    "HALL_ADMIN_PASSWORD": "auth.admin_password",
    "HALL_AUTH_SECRET": "auth.secret",
    "HALL_COMMAND_SECRET": "access.command_secret",
    "HALL_DEVICES_AUTO_REGISTER": "devices.auto_register",
    "HALL_EDGE_DEVICE_ID": "edge.device_id",
    "HALL_EDGE_KIND": "edge.kind",
    "HALL_EDGE_CAMERA": "edge.camera",
    "HALL_EDGE_COMMAND_KEY": "edge.command_key",
    "HALL_EDGE_TLS_CERT_FILE": "edge.tls_cert_file",
    "HALL_EDGE_TLS_KEY_FILE": "edge.tls_key_file",
    "HALL_NOTIFY_EMAIL_PASSWORD": "notify.email.password",
    "HALL_NOTIFY_WECOM_SECRET": "notify.wecom.secret",
    "HALL_NOTIFY_DINGTALK_SECRET": "notify.dingtalk.secret",
    "HALL_NOTIFY_WEBHOOK_SECRET": "notify.webhook.secret",
    "HALL_SIGN_ON_LOCAL_LOGIN": "sign_on.local_login",
    "HALL_SIGN_ON_PUBLIC_URL": "sign_on.public_url",
    "HALL_SIGN_ON_COOKIE_SECURE": "sign_on.cookie_secure",
    "HALL_SIGN_ON_OIDC_ISSUER": "sign_on.oidc.issuer",
    "HALL_SIGN_ON_OIDC_CLIENT_ID": "sign_on.oidc.client_id",
    "HALL_SIGN_ON_OIDC_CLIENT_SECRET": "sign_on.oidc.client_secret",
    "HALL_SIGN_ON_CAS_SERVER_URL": "sign_on.cas.server_url",
}


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: cannot set, {part} is not a table in the config file")
        node = child
    node[leaf] = value


def _describe(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(root)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (typo?)"
    got = error.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict) else ""
    return f"{key}: {error['msg']}{shown}"


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> HallConfig:
    """Load config.toml (if given or present in the working directory) and apply the environment."""
    env = os.environ if environ is None else environ
    tree: dict[str, Any] = {}
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    if path is not None:
        try:
            tree = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for var, dotted in ENV_KEYS.items():
        if var in env:
            _set_dotted(tree, dotted, env[var])
    try:
        return HallConfig.model_validate(tree)
    except ValidationError as exc:
        source = f" in {path} or the environment" if path else " in the environment"
        details = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"invalid configuration{source}: {details}") from None


__all__ = [
    "ENV_KEYS", "AccessConfig", "AuthConfig", "ConfigError", "ControllerConfig", "DatabaseConfig",
    "DemoConfig", "DevicesConfig", "EdgeConfig", "EmbeddedBrokerConfig", "HallConfig", "HttpConfig",
    "IntegrationConfig", "LoginConfig", "MqttConfig",
    "QueueCallingConfig", "QueueConfig", "QueueServiceConfig", "QueueWindowConfig", "SignOnConfig",
    "load_config",
]
