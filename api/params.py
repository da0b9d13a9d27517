"""Parameters, bounds and validation shared by every router and request body.

Every number a client sends is bounded here, once, so that out of range is a 422 naming the
parameter (FastAPI's own validation) and never an error from the database (``bigint out of
range``, ``interval out of range``):

- ids and cursors: PostgreSQL's ``bigint``, which every id column is;
- times in milliseconds since the epoch: up to the end of year 9999, which both PostgreSQL's
  ``timestamptz`` and Python's ``datetime`` hold;
- paging: a page of at most 1,000 items and an offset of at most 1,000,000 (past the end of
  any list the hall keeps; use the id or time cursors to walk further).

Text cannot contain NUL, which PostgreSQL's ``text`` and ``jsonb`` cannot hold:
:func:`refuse_nul` checks every path and query parameter of every route (``create_app``
installs it app-wide), and text fields of request bodies use the pattern :data:`NO_NUL`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from devices.contract import DEVICE_ID_PATTERN

BIGINT_MAX = 2**63 - 1
MAX_MS = 253_402_300_799_999          # 9999-12-31T23:59:59.999Z
MAX_PAGE_LIMIT = 1000
MAX_OFFSET = 1_000_000
MAX_BUCKET_S = 366 * 24 * 3600        # a telemetry bucket of a (leap) year at most
NO_NUL = r"^[^\x00]*$"                # a pattern for text fields of request bodies
_NUL_MESSAGE = "must not contain NUL (\\x00): the database cannot store it"

# A malformed id is a 422 (it can never exist); a well-formed unknown one is a 404.
DeviceId = Annotated[str, Path(pattern=f"^{DEVICE_ID_PATTERN}$", description="the device id")]
RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="the id (1 to 2^63 − 1)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT,
                             description=f"at most this many items (1-{MAX_PAGE_LIMIT})")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET,
                              description=f"skip this many items (paging; at most {MAX_OFFSET})")]
BeforeId = Annotated[int | None, Query(
    ge=1, le=BIGINT_MAX, description="only items with a smaller id (paging: pass the last id "
                                     "of the previous page)")]
Cursor = Annotated[int, Query(ge=0, le=BIGINT_MAX,
                              description="the cursor: 0 for the beginning")]
IdFilter = Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="only this id's")]
BucketSeconds = Annotated[int, Query(ge=1, le=MAX_BUCKET_S,
                                     description="bucket width in seconds (at most a year)")]
# A time in a request body.
MillisIn = Annotated[int, Field(ge=0, le=MAX_MS,
                                description="milliseconds since the Unix epoch (UTC)")]


def millis_query(description: str, *, alias: str | None = None) -> Any:
    """A query parameter holding a time in milliseconds since the epoch (bounded)."""
    return Query(ge=0, le=MAX_MS, alias=alias, description=description)


def invalid(location: str, name: str, message: str, value: object) -> RequestValidationError:
    """A 422 shaped exactly like FastAPI's own, for checks that span several parameters."""
    return RequestValidationError([
        {"type": "value_error", "loc": (location, name), "msg": message, "input": value},
    ])


async def refuse_nul(request: Request) -> None:
    """An app-wide dependency: a path or query parameter holding NUL is a 422 naming it."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise invalid("path", name, _NUL_MESSAGE, value)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise invalid("query", name, _NUL_MESSAGE, value)

