"""``[notify]``: channels from their tables, secrets from the environment, and wrong values
refused at start with the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hall.config import ConfigError, load_config
from hall.notify_assembly import ack_links, channel_senders, notify_settings
from hall_controller.fleet.model import AlarmSeverity
from hall_controller.notify.model import Channel

FULL = """
[notify]
public_url = "https://hall.example.edu/"
[notify.escalation]
critical = [60, 120]
[notify.email]
host = "smtp.example.edu"
sender = "hall@example.edu"
username = "hall"
[notify.wecom]
key = "ww-corp"
secret = "s"
agent_id = 1000002
[notify.dingtalk]
key = "ding-key"
agent_id = 7
[notify.sms]
url = "https://sms.example.edu/send"
fields = { mobile = "{phone}", content = "【大厅】{text}" }
success_field = "code"
success_value = "0"
[notify.webhook]
url = "https://platform.example.edu/msg"
"""


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env or {})


def test_each_table_is_a_channel_and_secrets_come_from_the_environment(tmp_path: Path) -> None:
    config = load(tmp_path, FULL, {"HALL_NOTIFY_EMAIL_PASSWORD": "pw",
                                   "HALL_NOTIFY_DINGTALK_SECRET": "ding-secret",
                                   "HALL_NOTIFY_WEBHOOK_SECRET": "w" * 32})
    assert config.notify.email is not None and config.notify.email.password == "pw"
    assert config.notify.public_url == "https://hall.example.edu"
    assert set(channel_senders(config.notify)) == set(Channel)
    settings = notify_settings(config.notify, "Asia/Shanghai")
    assert settings.escalation.after_s[AlarmSeverity.CRITICAL] == (60.0, 120.0)
    assert settings.escalation.after_s[AlarmSeverity.MAJOR] == (900.0, 3600.0)
    links = ack_links(config.notify, "x" * 40)
    assert links.verify(links.token(1, 2, 0), 1000) == (1, 2)
    assert channel_senders(load_config(None, {}).notify) == {}


@pytest.mark.parametrize(("toml", "message"), [
    ('[notify]\npublic_url = "hall.example.edu"', "notify.public_url"),
    ('[notify]\nack_secret = "short"', "notify.ack_secret"),
    ("[notify.escalation]\ncritical = [900, 300]", "each step comes after the one before"),
    ("[notify.escalation]\nmajor = [1, 2, 3]", "at most two steps"),
    ("[notify.escalation]\nminor = [-5]", "notify.escalation.minor"),
    ('[notify.email]\nhost = "smtp.x.cn"\nsender = "not-an-address"', "notify.email.sender"),
    ('[notify.email]\nhost = "smtp.x.cn"\nsender = "a@x.cn"\nsecurity = "none"\npassword = "p"',
     "unencrypted connection to smtp.x.cn"),
    ('[notify.email]\nhost = "smtp.x.cn"\nsender = "a@x.cn"\nsecurity = "ssl"', "notify.email.security"),
    ('[notify.sms]\nurl = "https://s.cn"\nfields = { to = "{phone}", body = "{txt}" }',
     "unknown placeholder {txt}"),
    ('[notify.sms]\nurl = "https://s.cn"\nfields = { body = "{text}" }', "no field holds {phone}"),
    ('[notify.sms]\nurl = "ftp://s.cn"\nfields = { to = "{phone}", body = "{text}" }',
     "notify.sms.url"),
    ('[notify.webhook]\nurl = "https://p.cn"\nsecret = "short"', "notify.webhook.secret"),
    ('[notify.wecom]\nkey = "k"\nsecret = "s"', "notify.wecom.agent_id"),
    ('[notify]\ntypo = 1', "notify.typo: unknown key"),
    ('[notify]\ndigest_severities = ["urgent"]', "notify.digest_severities"),
])
def test_wrong_values_are_refused_with_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, toml)
    assert message in str(refused.value)
