"""Named SQL queries, loaded from the ``.sql`` files in a room's ``sql/`` folder.

A file holds several queries, each introduced by a ``-- name: <query_name>`` line; the comment
lines right after it describe it. Keeping SQL in ``.sql`` files lets it be read, reviewed and
tried in psql as SQL rather than as Python strings. A query whose filters vary holds a
``{where}`` placeholder, filled with ``where_clause`` through ``psycopg.sql``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources

from psycopg import sql

_NAME_LINE = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def _parse(text: str, source: str) -> dict[str, str]:
    parts = _NAME_LINE.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        # The description comment is for readers, not for the server: dropping it keeps a
        # stray % or {placeholder} in prose from being taken for a parameter.
        while lines and lines[0].lstrip().startswith("--"):
            lines.pop(0)
        text = "\n".join(lines).strip()
        if not text:
            raise ValueError(f"{source}: query {name!r} has no SQL")
        if name in found:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        found[name] = text
    return found


def load_queries(package: str) -> dict[str, str]:
    """Every named query in ``package``'s ``sql/`` folder, by name (each room calls this once,
    in its ``queries.py``)."""
    folder = resources.files(package) / "sql"
    queries: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, text in _parse(entry.read_text(encoding="utf-8"), entry.name).items():
            if name in queries:
                raise ValueError(f"{entry.name}: query {name!r} is defined in another file too")
            queries[name] = text
    return queries



def where_clause(conditions: Iterable[sql.Composable]) -> sql.Composable:
    """``WHERE a AND b ...`` for a named query's ``{where}`` placeholder; empty when there
    are no conditions (the query then reads every row)."""
    conditions = list(conditions)
    if not conditions:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)
