"""Every metric a device reports has a name and unit for people in the pages' one table
(api/pages/static/metrics.js): the simulators', the edge drivers' and their serial parts'.

The metrics are read from the code (the dict keys of each ``read_telemetry`` and
``telemetry`` method), so a metric added to a driver fails here until it is named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from edge.agent import TELEMETRY_SHED_METRIC

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.glob("simulators/*.py"), *ROOT.glob("edge/**/*.py"),
           *ROOT.glob("devices/hardware/*.py")]
TABLE = ROOT / "api" / "pages" / "static" / "metrics.js"


def reported_metrics() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.FunctionDef) and node.name in ("read_telemetry", "telemetry")):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict):
                    found.update(k.value for k in inner.keys
                                 if isinstance(k, ast.Constant) and isinstance(k.value, str))
                elif isinstance(inner, ast.Subscript) and isinstance(inner.ctx, ast.Store) \
                        and isinstance(inner.slice, ast.Constant) and isinstance(inner.slice.value, str):
                    found.add(inner.slice.value)
    return found | {TELEMETRY_SHED_METRIC}


def named_metrics() -> set[str]:
    return set(re.findall(r'^\s+"?([a-z][a-z0-9_.]*)"?: \{ zh: ', TABLE.read_text(), re.MULTILINE))


def test_every_reported_metric_has_a_name_and_unit_for_people() -> None:
    reported = reported_metrics()
    assert {"battery_pct", "temp_c", "paper_level_pct", "fps", "supply_v"} <= reported  # found
    missing = reported - named_metrics()
    assert not missing, f"metrics without a name in metrics.js: {sorted(missing)}"
