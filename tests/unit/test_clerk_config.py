"""``[[queue.windows]]`` and ``[queue.calling]``: defaults, validation, and the clerk settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hall.config import ConfigError, HallConfig, load_config
from hall.settings import clerk_settings

SERVICES = """
[[queue.services]]
code = "student-id"
name = "学生证办理"
prefix = "A"

[[queue.services]]
code = "dorm"
name = "宿舍事务"
prefix = "C"
"""


def load(tmp_path: Path, text: str) -> HallConfig:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {})


def test_the_demo_has_four_windows_in_the_main_hall() -> None:
    queue = HallConfig().queue
    assert [(w.window_id, w.number, w.area) for w in queue.windows] == [
        ("w1", 1, "main-hall"), ("w2", 2, "main-hall"), ("w3", 3, "main-hall"),
        ("w4", 4, "main-hall")]
    served = {code for w in queue.windows for code in w.services}
    assert served == {s.code for s in queue.services}
    assert queue.calling.max_recalls == 2


def test_the_shipped_config_toml_is_the_default() -> None:
    shipped = load_config(Path(__file__).parents[2] / "config.toml", {})
    assert shipped.queue.windows == HallConfig().queue.windows
    assert shipped.queue.calling == HallConfig().queue.calling


def test_windows_and_calling_from_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, SERVICES + """
[queue.calling]
max_recalls = 1
priority_calls = 3
normal_calls = 2
appointment_early_min = 10

[[queue.windows]]
window_id = "w7"
number = 7
services = { dorm = 3, student-id = 1 }
area = "dorm-office"
""")
    settings = clerk_settings(config.queue)
    [window] = settings.windows
    assert (window.window_id, window.number, window.area) == ("w7", 7, "dorm-office")
    assert window.services == {"dorm": 3, "student-id": 1}
    assert settings.max_recalls == 1
    assert (settings.policy.priority_calls, settings.policy.normal_calls) == (3, 2)
    assert settings.policy.appointment_early_ms == 600_000
    assert [s.code for s in settings.services] == ["student-id", "dorm"]


def test_own_services_without_windows_get_one_window_each(tmp_path: Path) -> None:
    config = load(tmp_path, SERVICES)
    assert [(w.number, w.services) for w in config.queue.windows] == [
        (1, {"student-id": 1}), (2, {"dorm": 1})]


@pytest.mark.parametrize(("windows", "message"), [
    ('{ window_id = "w1", number = 1, services = { parking = 1 } }',
     r"window w1 serves unknown service\(s\) parking; known: dorm, student-id"),
    ('{ window_id = "w1", number = 1, services = { dorm = 1 } },'
     '{ window_id = "w1", number = 2, services = { dorm = 1 } }',
     "two windows share the window_id 'w1'"),
    ('{ window_id = "w1", number = 1, services = { dorm = 1 } },'
     '{ window_id = "w2", number = 1, services = { dorm = 1 } }',
     "two windows share the number 1"),
    ('{ window_id = "w1", number = 1, services = {} }', "queue.windows.0.services"),
    ('{ window_id = "w1", number = 1, services = { dorm = 0 } }', "queue.windows.0.services.dorm"),
    ('{ window_id = "W 1", number = 1, services = { dorm = 1 } }', "queue.windows.0.window_id"),
])
def test_wrong_windows_are_refused_with_the_reason(tmp_path: Path, windows: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, f"[queue]\nwindows = [{windows}]\n" + SERVICES)
