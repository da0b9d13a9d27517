"""The import rules of docs/architecture.md, checked on the source (parsed, never imported).

(a) pure rules (``rules.py``, ``model.py`` and the others in PURE_MODULES) import no I/O library
    and no asyncio, directly or through any module of ours; ports, the bus port and the live
    hub import no I/O library;
(b) adapters (``postgres_*.py``, ``memory_*.py``, ``mqtt_bus.py``) are imported only by the
    composition root (``hall/``), tests, benchmarks and adapters
    of their own room: services import ports;
(c) the kernel imports no room (nor api, hall, simulators);
(d) ``devices/`` and ``edge/`` never import the controller, the composition root, the API or the
    simulators, and ``devices/`` imports nothing of ours but itself;
(e) only ``hall/``, tests and benchmarks import ``simulators``.

Every import counts, wherever it sits (inside a function, under ``TYPE_CHECKING``): a lazy import
is still a dependency. A failure names the file, the line and the import, and says which rule.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hall_controller", "hall", "api", "simulators", "devices", "edge", "tests",
            "benchmarks")

# Libraries that talk to the outside world (database, broker, HTTP, serial, camera, sockets).
IO_LIBRARIES = frozenset({
    "psycopg", "psycopg_pool", "aiomqtt", "paho", "amqtt", "fastapi", "starlette", "httpx",
    "uvicorn", "sqlite3", "socket", "serial", "pymodbus", "escpos", "cv2", "face_recognition",
    "pgserver",
})
# Pure rules: no I/O library and no event loop either.
PURE_MODULES = (
    "hall_controller/*/rules.py",
    "hall_controller/*/model.py",
    "hall_controller/fleet/presence.py",
    "hall_controller/alarm_rules/drafts.py",
    "hall_controller/fleet/batch.py",
    "hall_controller/queue/wait_estimate.py",
    "hall_controller/queue/service_day.py",
    "devices/contract.py",
    "devices/access_rules.py",
)
# Ports and other in-process plumbing: no I/O library, but asyncio is allowed (a port may hand
# out queues or events; the live hub fans notices out through asyncio queues).
NO_IO_MODULES = (
    "hall_controller/*/ports.py",
    "hall_controller/kernel/bus.py",
    "hall_controller/live/hub.py",
)
ADAPTER_NAME = re.compile(r"^(postgres_\w+|memory_\w+|mqtt_bus)$")
# Where adapters may be imported: the composition root, and those that test or measure them.
COMPOSITION = ("hall", "tests", "benchmarks")
# Rule (b)'s exceptions that exist today, each with its reason. A stale one fails the test.
ADAPTER_EXCEPTIONS: Mapping[tuple[str, str], str] = {}
SIMULATOR_USERS = ("simulators", "hall", "tests", "benchmarks")


Graph = Mapping[str, list["Import"]]


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, resolved to a module of ours when it names one."""

    importer: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


SOURCES = {module_name(path): path
           for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imports_of(module: str, path: Path, known: Collection[str]) -> Iterator[Import]:
    """Every import in ``path``; ``from a import b`` resolves to ``a.b`` when that is a module."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package.pop()
                package = package[:len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            targets = {name for name in submodules if name in known} or {base}
            for target in sorted(targets):  # ``from a import b, c``: a once, or each module
                yield Import(module, target, node.lineno)


def import_graph() -> dict[str, list[Import]]:
    return {module: list(imports_of(module, path, SOURCES)) for module, path in SOURCES.items()}


def within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def where(item: Import) -> str:
    path = SOURCES.get(item.importer)
    return f"{path.relative_to(ROOT) if path else item.importer}:{item.line} imports {item.target}"


def matching(patterns: Iterable[str]) -> list[str]:
    return sorted(module_name(path) for pattern in patterns for path in ROOT.glob(pattern))


def parents(module: str) -> list[str]:
    """The packages Python imports before ``module`` (their ``__init__`` runs too)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def io_reached(graph: Graph, module: str, forbidden: frozenset[str]) -> dict[Import, list[str]]:
    """For each import in ``module`` that leads to a forbidden library, the first way there:
    the modules of ours it goes through (parent packages included), then the library."""
    found: dict[Import, list[str]] = {}
    seen = {module}
    queue: list[tuple[str, Import | None, list[str]]] = [(module, None, [])]
    while queue:
        current, first, chain = queue.pop(0)
        for item in graph.get(current, []):
            head = first or item
            if item.target.split(".")[0] in forbidden:
                found.setdefault(head, [*chain, item.target])
            for reached in [*parents(item.target), item.target]:
                if reached in graph and reached not in seen:
                    seen.add(reached)
                    queue.append((reached, head, [*chain, reached]))
    return found


def no_io_violations(graph: Graph, modules: Iterable[str], forbidden: frozenset[str],
                     rule: str) -> list[str]:
    problems = []
    for module in modules:
        for first, chain in io_reached(graph, module, forbidden).items():
            via = f", which reaches {' → '.join(chain[1:])}" if len(chain) > 1 else ""
            problems.append(f"{where(first)}{via}: {rule}")
    return problems


def is_adapter(module: str) -> bool:
    return module.startswith("hall_controller.") and bool(
        ADAPTER_NAME.match(module.rsplit(".", 1)[-1]))


def room_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def adapter_violations(graph: Graph) -> tuple[list[str], set[tuple[str, str]]]:
    """Rule (b)'s problems, and which of ADAPTER_EXCEPTIONS were used."""
    problems, excused = [], set()
    for module, items in graph.items():
        if within(module, COMPOSITION):
            continue
        for item in items:
            if not is_adapter(item.target):
                continue
            if is_adapter(module) and room_of(module) == room_of(item.target):
                continue  # e.g. postgres_moves runs on postgres_tickets' pool: one room, one schema
            if (module, item.target) in ADAPTER_EXCEPTIONS:
                excused.add((module, item.target))
                continue
            problems.append(f"{where(item)}: rule (b) — that is an adapter; a service imports "
                            "ports, and only hall/ builds adapters")
    return problems, excused


def kernel_violations(graph: Graph) -> list[str]:
    return [f"{where(item)}: rule (c) — the kernel is what the rooms share and imports no room"
            for module, items in graph.items() if within(module, ["hall_controller.kernel"])
            for item in items
            if within(item.target, ["hall_controller", "api", "hall", "simulators"])
            and not within(item.target, ["hall_controller.kernel"])
            and item.target != "hall_controller"]


def device_side_violations(graph: Graph) -> list[str]:
    problems = []
    for module, items in graph.items():
        for item in items:
            if within(module, ["devices", "edge"]) and within(
                    item.target, ["hall_controller", "hall", "api", "simulators"]):
                problems.append(f"{where(item)}: rule (d) — devices/ and edge/ run on device "
                                "hosts, without the controller")
            elif within(module, ["devices"]) and within(item.target, ["edge"]):
                problems.append(f"{where(item)}: rule (d) — devices/ is the one contract every "
                                "side imports, so it imports nothing of ours but itself")
    return problems


def simulator_violations(graph: Graph) -> list[str]:
    return [f"{where(item)}: rule (e) — only hall/ (the composition root), tests and "
            "benchmarks use the simulators"
            for module, items in graph.items() if not within(module, SIMULATOR_USERS)
            for item in items if within(item.target, ["simulators"])]


def report(problems: list[str]) -> str:
    return "import rule broken:\n  " + "\n  ".join(problems)


GRAPH = import_graph()


# --- the rules, on the code ------------------------------------------------------------------


def test_the_graph_is_the_real_code() -> None:
    """Guards against rules that pass because they looked at nothing."""
    assert len(GRAPH) > 200
    assert "hall_controller.kernel.bus" in {i.target for i in GRAPH["hall_controller.fleet.ingest"]}
    assert "hall_controller.kernel.mqtt_bus" in {i.target for i in GRAPH["hall.assembly"]}
    for pattern in (*PURE_MODULES, *NO_IO_MODULES):
        assert matching([pattern]), f"{pattern} matches no file: update the rule"


def test_pure_rules_import_no_io_library() -> None:
    problems = [
        *no_io_violations(GRAPH, matching(PURE_MODULES), IO_LIBRARIES | {"asyncio"},
                          "rule (a) — pure rules import no I/O library and no event loop"),
        *no_io_violations(GRAPH, matching(NO_IO_MODULES), IO_LIBRARIES,
                          "rule (a) — ports and the hub import no I/O library"),
    ]
    assert not problems, report(problems)


def test_only_the_composition_root_imports_adapters() -> None:
    problems, excused = adapter_violations(GRAPH)
    stale = [f"{importer} → {target}" for importer, target in ADAPTER_EXCEPTIONS
             if (importer, target) not in excused]
    assert not problems, report(problems)
    assert not stale, f"exception no longer needed, remove it from ADAPTER_EXCEPTIONS: {stale}"


def test_the_kernel_imports_no_room() -> None:
    problems = kernel_violations(GRAPH)
    assert not problems, report(problems)


def test_devices_and_edge_never_import_the_controller() -> None:
    problems = device_side_violations(GRAPH)
    assert not problems, report(problems)


def test_only_the_composition_root_tests_and_benchmarks_import_simulators() -> None:
    problems = simulator_violations(GRAPH)
    assert not problems, report(problems)


def test_the_parser_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = tmp_path / "rules.py"
    source.write_text("import socket\n"
                      "from . import model\n"
                      "from hall_controller.live import postgres_feed, hub\n"
                      "def later() -> None:\n"
                      "    from psycopg import sql\n", encoding="utf-8")
    known = {"hall_controller.queue.model", "hall_controller.live.postgres_feed"}
    found = {(item.target, item.line)
             for item in imports_of("hall_controller.queue.rules", source, known)}
    assert found == {("socket", 1), ("hall_controller.queue.model", 2),
                     ("hall_controller.live.postgres_feed", 3), ("psycopg", 5)}


# --- each rule catches a bad import (a made-up graph, so these cannot pass vacuously) ---------


def bad(importer: str, target: str, *others: tuple[str, str]) -> dict[str, list[Import]]:
    graph: dict[str, list[Import]] = {}
    for module, imported in ((importer, target), *others):
        graph.setdefault(module, []).append(Import(module, imported, 1))
        graph.setdefault(imported, [])
    return graph


@pytest.mark.parametrize(("graph", "find"), [
    (bad("hall_controller.queue.rules", "psycopg"),
     lambda g: no_io_violations(g, ["hall_controller.queue.rules"], IO_LIBRARIES, "a")),
    (bad("hall_controller.queue.rules", "hall_controller.queue.helpers",
         ("hall_controller.queue.helpers", "aiomqtt")),
     lambda g: no_io_violations(g, ["hall_controller.queue.rules"], IO_LIBRARIES, "a")),
    (bad("hall_controller.queue.rules", "hall_controller.queue.model",
         ("hall_controller.queue", "socket")),
     lambda g: no_io_violations(g, ["hall_controller.queue.rules"], IO_LIBRARIES, "a")),
    (bad("hall_controller.fleet.ingest", "hall_controller.kernel.mqtt_bus"),
     lambda g: adapter_violations(g)[0]),
    (bad("hall_controller.queue.tickets", "hall_controller.queue.postgres_tickets"),
     lambda g: adapter_violations(g)[0]),
    (bad("api.routes.live", "hall_controller.live.postgres_feed"),
     lambda g: adapter_violations(g)[0]),
    (bad("hall_controller.cases.memory_store", "hall_controller.queue.memory_tickets"),
     lambda g: adapter_violations(g)[0]),
    (bad("hall_controller.kernel.bus", "hall_controller.fleet.model"), kernel_violations),
    (bad("edge.agent", "hall_controller.kernel.errors"), device_side_violations),
    (bad("devices.contract", "edge.settings"), device_side_violations),
    (bad("hall_controller.runtime", "simulators.fleet"), simulator_violations),
    (bad("api.app", "simulators.kiosk"), simulator_violations),
], ids=["pure-direct", "pure-through-ours", "pure-through-package", "service-to-kernel-adapter",
        "service-to-own-adapter", "api-to-adapter", "adapter-to-other-room", "kernel-to-room",
        "edge-to-controller", "devices-to-edge", "runtime-to-simulators", "api-to-simulators"])
def test_each_rule_catches_a_bad_import(graph: Graph, find: Callable[[Graph], list[str]]) -> None:
    assert find(graph)


@pytest.mark.parametrize("graph", [
    bad("hall_controller.queue.postgres_moves", "hall_controller.queue.postgres_tickets"),
    bad("hall.assembly", "hall_controller.kernel.mqtt_bus"),
    bad("tests.unit.test_x", "hall_controller.fleet.memory_store"),
], ids=["adapter-on-own-room-adapter", "composition-root", "tests"])
def test_what_the_adapter_rule_allows(graph: Graph) -> None:
    assert adapter_violations(graph) == ([], set())
