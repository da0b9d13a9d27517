"""Mosquitto's password and ACL files, written from the provisioned devices
(``hall devices mosquitto-files``; docs/deployment.md has the listener's configuration).

The password file holds each active device's hash as provisioning stored it (Mosquitto's
own ``$7$`` PBKDF2-SHA512 format) and the controller's account; a revoked device is simply
absent. The ACL gives the controller the whole topic tree and each device, by the ``%u``
pattern, its own topics only. With ``use_username_as_clientid true`` the client id is the
username, so no account can take over another's client id (the controller's included).
Mosquitto reads both files at start and on SIGHUP.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hall.config import HallConfig
from hall.settings import controller_broker_password
from hall_controller.fleet.provisioning import DeviceCredential, hash_mqtt_password

MOSQUITTO_CONF_SNIPPET = """\
# Every client logs in; the client id is the username, so none can take over another's.
per_listener_settings false
allow_anonymous false
use_username_as_clientid true
password_file {password_file}
acl_file {acl_file}
"""


def device_acl_lines(topic_prefix: str) -> list[str]:
    """What a device (username = device id) may publish and subscribe to: its own topics."""
    own = f"{topic_prefix}/dev/%u"
    return [f"pattern write {own}/{channel}"
            for channel in ("state", "telemetry", "event", "req", "cmd/ack")] + [
        f"pattern read {own}/cmd",
        f"pattern read {own}/res",
        f"pattern read {topic_prefix}/controller/state",
    ]


def mosquitto_acl(topic_prefix: str, controller_user: str) -> str:
    return "\n".join([
        "# Written by `hall devices mosquitto-files`; regenerate rather than edit.",
        "# The controller: reads everything under the prefix, writes commands, replies and",
        "# its own state.",
        f"user {controller_user}",
        f"topic read {topic_prefix}/#",
        f"topic write {topic_prefix}/dev/+/cmd",
        f"topic write {topic_prefix}/dev/+/res",
        f"topic write {topic_prefix}/controller/state",
        "",
        "# Every device, by its username (= device id): its own topics only.",
        *device_acl_lines(topic_prefix),
        "",
    ])


def mosquitto_passwords(credentials: Sequence[DeviceCredential], controller_user: str,
                        controller_hash: str) -> str:
    lines = [f"{controller_user}:{controller_hash}"]
    lines += [f"{c.device_id}:{c.password_hash}" for c in credentials
              if c.active and c.device_id != controller_user]
    return "\n".join(lines) + "\n"


def write_mosquitto_files(config: HallConfig, credentials: Sequence[DeviceCredential],
                                password_file: Path, acl_file: Path,
                                controller_password_file: Path | None = None) -> str:
    """Write both files (the password file readable by its owner only); returns what to put
    in mosquitto.conf and the controller's URL."""
    user = controller_username(config)
    if controller_password_file is not None:
        password = controller_password_file.read_text(encoding="utf-8").strip()
    else:
        password = controller_broker_password(config)
    _write(password_file, mosquitto_passwords(credentials, user, hash_mqtt_password(password)),
           0o600)
    _write(acl_file, mosquitto_acl(config.mqtt.topic_prefix, user), 0o644)
    active = sum(c.active for c in credentials)
    return (f"# {active} devices and the controller ({user}); in mosquitto.conf:\n"
            + MOSQUITTO_CONF_SNIPPET.format(password_file=password_file.resolve(),
                                            acl_file=acl_file.resolve())
            + f"# the controller connects as mqtt://{user}:<password>@host:port; its password "
              f"is in {controller_password_file or Path(config.data_dir) / 'mqtt-controller-password'}")


def controller_username(config: HallConfig) -> str:
    """The controller's broker account: the username in ``mqtt.url``, else its client id."""
    from devices.broker_address import BrokerAddress

    if config.mqtt.url:
        username = BrokerAddress.parse(config.mqtt.url).username
        if username:
            return username
    return config.mqtt.client_id


def _write(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)  # Mosquitto never reads half a file on SIGHUP
