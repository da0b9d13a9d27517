"""A wrong configuration fails at start-up naming the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from hall.config import ConfigError, load_config
from hall.settings import hash_slots, throttle_policy


def test_defaults_need_no_file(tmp_path: Path) -> None:
    config = load_config(None, {})
    assert config.http.port == 8000 and config.mqtt.url == "" and config.database.url == ""


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[http]\nport = 9000\n[mqtt]\nurl = "mqtt://a:1883"\n')
    config = load_config(path, {"HALL_HTTP_PORT": "9100", "HALL_DATA_DIR": str(tmp_path),
                                "HALL_MQTT_URL": "mqtt://u:p@127.0.0.1:1884",
                                "HALL_DATABASE_URL": "postgresql://postgres@127.0.0.1/x",
                                "HALL_ADMIN_PASSWORD": "s3cret-pass"})
    assert config.http.port == 9100
    assert config.mqtt.url == "mqtt://u:p@127.0.0.1:1884"
    assert config.data_dir == tmp_path
    assert config.auth.admin_password == "s3cret-pass"


@pytest.mark.parametrize(("toml", "env", "message"), [
    ("", {"HALL_HTTP_PORT": "eighty"}, "http.port"),
    ("", {"HALL_HTTP_PORT": "70000"}, "http.port"),
    ("", {"HALL_MQTT_URL": "http://broker"}, "mqtt.url: Value error, expected mqtt://"),
    ("", {"HALL_DATABASE_URL": "mysql://x"}, "database.url"),
    ("[mqtt]\ntopic_prefix = \"hall/#\"\n", {}, "mqtt.topic_prefix"),
    ("[controller.inactivity_timeout_s]\nkiosk = -1\n", {}, "controller.inactivity_timeout_s.kiosk"),
    ("[controller.inactivity_timeout_s]\ntoaster = 5\n", {}, "toaster"),
    ("[edge]\ndevice_id = \"Kiosk 1\"\n", {}, "edge.device_id"),
    ("[htp]\nport = 1\n", {}, "htp: unknown key"),
    ("this is = = not toml", {}, "not valid TOML"),
    ("", {"HALL_AUTH_SECRET": "short"}, "auth.secret"),
    ("", {"HALL_COMMAND_SECRET": "short"}, "access.command_secret"),
    ("", {"HALL_EDGE_COMMAND_KEY": "not-hex"}, "edge.command_key"),
    ("", {"HALL_EDGE_COMMAND_KEY": "abcd"}, "edge.command_key"),
    ("[edge.hardware.printer]\nport = \"/dev/ttyUSB0\"\nbaudrate = -9600\n", {},
     "edge.hardware.printer.baudrate"),
    ("[edge.hardware.scanner]\nport = \"/dev/ttyUSB0\"\n", {}, "edge.hardware.scanner"),
    ("[integration]\nwebhook_allow = [\"intranet.example\"]\n", {},
     "integration.webhook_allow: Value error, 'intranet.example' is not a network"),
    ("[integration]\nwebhook_allow = [\"10.0.0.1/8\"]\n", {}, "integration.webhook_allow"),
    ("[auth.login]\nhash_concurrency = 0\n", {}, "auth.login.hash_concurrency"),
    ("[auth.login]\nlockout_base_s = 7200\n", {}, "auth.login: Value error, lockout_base_s"),
    ("[auth.login]\nmax_failures = 3\n", {}, "auth.login.max_failures: unknown key"),


    ("[http]\nmax_body_bytes = 10\n", {}, "http.max_body_bytes"),
    ("[http]\nbody_timeout_s = 0\n", {}, "http.body_timeout_s"),
    ("[http]\nmax_upload_bytes = 2048\n", {}, "max_upload_bytes must be at least max_body_bytes"),
])
def test_wrong_values_name_the_key(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(path, env)


def test_edge_hardware_and_keys_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[edge]\nkind = \"kiosk\"\n[edge.hardware.printer]\nport = \"/dev/ttyUSB0\"\n"
                    "[access]\ncheckin_gates = [\"gate-east\"]\n")
    config = load_config(path, {"HALL_EDGE_COMMAND_KEY": "ab" * 32})
    assert config.edge.hardware.printer is not None
    assert str(config.edge.hardware.printer.port) == "/dev/ttyUSB0"
    assert config.edge.hardware.lock_board is None
    assert config.access.checkin_gates == ["gate-east"]
    assert bytes.fromhex(config.edge.command_key) == b"\xab" * 32


def test_the_webhook_allow_list_is_empty_unless_configured(tmp_path: Path) -> None:
    assert load_config(None, {}).integration.webhook_allow == []
    path = tmp_path / "config.toml"
    path.write_text('[integration]\nwebhook_allow = ["127.0.0.1/32", "10.2.0.0/16", "::1"]\n')
    assert load_config(path, {}).integration.webhook_allow == ["127.0.0.1/32", "10.2.0.0/16",
                                                               "::1"]


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", {})


def test_shipped_config_file_is_valid() -> None:
    config = load_config(Path(__file__).parents[2] / "config.toml", {})
    assert config.controller.inactivity_timeout_s["door_lock"] == 300


def test_login_limits_reach_the_throttle_and_the_hash_cap(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[auth.login]\nmax_failures_per_user = 3\nmax_failures_per_address = 9\n"
                    "lockout_base_s = 30\nlockout_max_s = 600\nhash_concurrency = 1\n"
                    "hash_wait_s = 0.5\n")
    login = load_config(path, {}).auth.login
    policy = throttle_policy(login)
    assert (policy.max_failures_per_user, policy.max_failures_per_address) == (3, 9)
    assert [policy.lockout_s(n) for n in (1, 2, 6)] == [30, 60, 600]
    slots = hash_slots(login)
    assert (slots.size, slots.wait_s) == (1, 0.5)


def test_the_http_limits_default_to_the_apps_and_fit_a_full_face_enrolment() -> None:
    from api.limits import BodyLimits
    from hall_controller.access.rules import MAX_FACES_PER_PERSON
    from hall_controller.access.service import MAX_PHOTO_BYTES

    http = load_config(None, {}).http
    app_defaults = BodyLimits()
    assert (http.max_body_bytes, http.max_upload_bytes, http.body_timeout_s, http.hsts) == (
        app_defaults.max_body_bytes, app_defaults.max_upload_bytes, app_defaults.body_timeout_s,
        False)
    assert http.max_upload_bytes > MAX_FACES_PER_PERSON * MAX_PHOTO_BYTES
    # The shipped file states the defaults.
    shipped = load_config(Path(__file__).parents[2] / "config.toml", {}).http
    assert shipped == http
