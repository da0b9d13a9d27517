"""Every alarm type the controller raises, every severity and every command state has words in
both languages on the facilities pages (api/pages/static/words-facilities.js), so none reaches
a person as a code. The types are read from the code: a new alarm fails here until named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hall_controller.access.grant_check import SUSPICIOUS_GRANT
from hall_controller.access.policy_refusals import POLICY_REFUSED
from hall_controller.fleet.alarms import DEVICE_KIND_MISMATCH, DEVICE_OFFLINE
from hall_controller.fleet.device_alarms import HARDWARE_PARTS, RULES, Raise
from hall_controller.fleet.ingest import INTERNAL_ERROR_ALARM
from hall_controller.fleet.model import AlarmSeverity, CommandStatus
from hall_controller.users.lockout_alarms import LOCKOUT_ALARM

WORDS = Path(__file__).resolve().parents[2] / "api" / "pages" / "static" / "words-facilities.js"


def words(language: str) -> set[str]:
    text = WORDS.read_text()
    block = text[text.index(f"  {language}: {{"):]
    block = block[:block.index("\n  },")]
    return set(re.findall(r'"([^"]+)": "', block))


def alarm_types() -> set[str]:
    return ({rule.alarm for rule in RULES.values() if isinstance(rule, Raise)}
            | {f"hardware.{part}" for part in HARDWARE_PARTS}
            | {DEVICE_OFFLINE, DEVICE_KIND_MISMATCH, SUSPICIOUS_GRANT, POLICY_REFUSED,
               INTERNAL_ERROR_ALARM, LOCKOUT_ALARM})


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_alarm_severity_and_command_state_has_words(language: str) -> None:
    known = words(language)
    wanted = ({f"alarm.{t}" for t in alarm_types()} | {f"sev.{s.value}" for s in AlarmSeverity}
              | {f"cst.{s.value}" for s in CommandStatus})
    assert len(wanted) >= 29
    assert not wanted - known, sorted(wanted - known)


def test_both_languages_have_the_same_words() -> None:
    assert words("zh") == words("en")
