"""The [queue] config section: demo defaults, validation with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hall.config import ConfigError, HallConfig, load_config
from hall.settings import queue_settings


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={})


def test_demo_defaults_offer_four_services_at_any_hour() -> None:
    shipped = Path(__file__).parents[2] / "config.toml"
    for config in (HallConfig(), load_config(shipped, environ={})):
        settings = queue_settings(config.queue)
        assert [s.prefix for s in settings.services] == ["A", "B", "C", "D"]
        assert "student-id" in settings.service_codes
        assert settings.opening_hours is None and settings.timezone == "Asia/Shanghai"


def test_opening_hours_and_services_from_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, """
[queue]
always_open = false
opens = "09:00"
closes = "12:00"
open_days = [1, 3]

[[queue.services]]
code = "visa"
name = "签证"
prefix = "V"
first_number = 100
last_number = 500
daily_cap = 50
target_wait_min = 10
""")
    settings = queue_settings(config.queue)  # type: ignore[attr-defined]
    [visa] = settings.services
    assert (visa.code, visa.first_number, visa.daily_cap, visa.target_wait_s) == ("visa", 100, 50, 600)
    assert settings.opening_hours is not None
    assert settings.opening_hours.weekdays == frozenset({1, 3})


@pytest.mark.parametrize(("text", "message"), [
    ('[queue]\ntimezone = "Mars/Olympus"', "IANA time zone"),
    ('[queue]\nalways_open = false\nopens = "18:00"\ncloses = "09:00"', "must be before closes"),
    ('[[queue.services]]\ncode = "A B"\nname = "x"\nprefix = "A"', "queue.services.0.code"),
    ('[[queue.services]]\ncode = "a"\nname = "x"\nprefix = "a1"', "capital letters"),
    ('[[queue.services]]\ncode = "a"\nname = "x"\nprefix = "A"\nfirst_number = 9\nlast_number = 3',
     "last_number (3) is below first_number (9)"),
    ('[[queue.services]]\ncode = "a"\nname = "x"\nprefix = "A"\n'
     '[[queue.services]]\ncode = "b"\nname = "y"\nprefix = "A"', "share the prefix 'A'"),
    ('[[queue.services]]\ncode = "a"\nname = "x"\nprefix = "A"\ndaily_cap = 0', "queue.services.0.daily_cap"),
    ('[[queue.services]]\ncode = "a"\nname = "x"\nprefix = "A"\ncolour = "red"', "unknown key"),
])
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, text)
