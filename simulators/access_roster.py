"""The people and rules behind the simulated gates' and locks' grants, for ``hall demo``.

A simulated gate recognises made-up students and a simulated lock knows its residents' cards;
the controller checks every grant against its own policy (``hall_controller.access.
grant_check``), so the demo enrols exactly these people with rules for exactly those devices.
Pure: the demo hands the result to ``AccessService.ensure_roster``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.access_rules import ALWAYS
from devices.kinds import DeviceKind
from hall_controller.access.rules import Person, Role
from simulators.door_lock import resident_cards
from simulators.face_gate import POPULATION
from simulators.fleet import DeviceSpec

STUDENTS_GROUP = "sim-students"


@dataclass(frozen=True, slots=True)
class Roster:
    people: list[Person]
    rules: list[tuple[str, str, str]]  # (group, target, schedule)


def simulated_roster(fleet: Iterable[DeviceSpec]) -> Roster:
    """The students at every simulated gate, each lock's residents at that lock, always."""
    specs = list(fleet)
    people = [Person(pid, f"模拟学生 {pid}", Role.STUDENT, (STUDENTS_GROUP,)) for pid in POPULATION]
    rules = [(STUDENTS_GROUP, s.device_id, ALWAYS) for s in specs
             if s.kind is DeviceKind.FACE_GATE]
    for spec in specs:
        if spec.kind is not DeviceKind.DOOR_LOCK:
            continue
        group = f"sim-residents-{spec.device_id}"
        people.extend(Person(pid, f"模拟住户 {pid}", Role.STUDENT, (group,), (card,))
                      for card, pid in resident_cards(spec.device_id).items())
        rules.append((group, spec.device_id, ALWAYS))
    return Roster(people, rules)
