"""The outbox: telemetry and events wait here until the broker has acknowledged them.

Producers append; the agent's drain task reads the oldest records, publishes them at QoS 1 and
removes them only after the broker's PUBACK.  Delivery is at least once and in order: after a
crash the last batch may be sent again (events carry ids, the controller dedupes).

The outbox is bounded.  When it is full, the oldest *telemetry* sample is shed and counted in
``telemetry_shed``; events are never dropped (they may take the outbox past its bound).

Two implementations with one interface: ``SqliteOutbox`` (durable, the default; a WAL-mode
SQLite file in the agent's data dir) and ``MemoryOutbox`` (for load simulations of hundreds of
devices in one process, where losing the backlog with the process is acceptable).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Concatenate, Literal, ParamSpec, Protocol, Self, TypeVar

from devices.contract import MAX_PAYLOAD_BYTES, Channel
from edge.errors import OutboxError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_MAX_ROWS = 100_000
# The controller refuses payloads over 64 KiB (controller.max_payload_bytes); stay well below.
MAX_MESSAGE_BYTES = MAX_PAYLOAD_BYTES * 3 // 4  # 48 KiB


class RecordKind(StrEnum):
    """What an outbox record holds; decides its topic and whether it may be shed."""

    TELEMETRY = "telemetry"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One queued message: a telemetry sample or an event, already encoded as JSON text."""

    seq: int
    kind: RecordKind
    payload: str


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One MQTT message to publish, and the outbox records it carries."""

    channel: Channel
    payload: bytes
    seqs: tuple[int, ...]


def group_records(
    records: Iterable[OutboxRecord], max_samples: int, max_bytes: int = MAX_MESSAGE_BYTES
) -> list[OutboundMessage]:
    """Turn records (oldest first) into messages, keeping their order.

    Consecutive telemetry samples travel as one JSON list (the contract allows a list on
    ``telemetry``) of at most ``max_samples`` samples and about ``max_bytes``; a lone sample
    goes as a plain object.  Events go one per message.
    """
    messages: list[OutboundMessage] = []
    run: list[OutboxRecord] = []
    run_bytes = 0

    def close_run() -> None:
        nonlocal run_bytes
        if not run:
            return
        body = run[0].payload if len(run) == 1 else "[" + ",".join(r.payload for r in run) + "]"
        seqs = tuple(r.seq for r in run)
        messages.append(OutboundMessage(Channel.TELEMETRY, body.encode(), seqs))
        run.clear()
        run_bytes = 0

    for record in records:
        if record.kind is RecordKind.EVENT:
            close_run()
            messages.append(OutboundMessage(Channel.EVENT, record.payload.encode(), (record.seq,)))
            continue
        size = len(record.payload) + 1
        if run and (len(run) >= max_samples or run_bytes + size > max_bytes):
            close_run()
        run.append(record)
        run_bytes += size
    close_run()
    return messages


class Outbox(Protocol):
    """The interface the agent drains; both implementations are async context managers."""

    @property
    def size(self) -> int:
        """Records waiting."""
        ...

    @property
    def telemetry_shed(self) -> int:
        """Telemetry samples dropped because the outbox was full (since it was opened)."""
        ...

    async def put(self, kind: RecordKind, payload: str) -> None:
        """Append a record (JSON text); sheds the oldest telemetry when full."""
        ...

    async def peek(self, limit: int) -> list[OutboxRecord]:
        """The oldest ``limit`` records, oldest first, without removing them."""
        ...

    async def remove(self, seqs: Sequence[int]) -> None:
        """Delete delivered records (unknown seqs, e.g. shed meanwhile, are ignored)."""
        ...

    async def wait_not_empty(self) -> None:
        """Return when at least one record is waiting."""
        ...

    async def next_messages(self, max_messages: int, max_samples: int) -> list[OutboundMessage]:
        """The oldest records grouped into at most ``max_messages`` messages."""
        ...


class _OutboxBase:
    """What both implementations share: the wake-up signal and message grouping."""

    def __init__(self, max_rows: int) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self._max_rows = max_rows
        self._count = 0
        self._shed = 0
        self._appended = asyncio.Event()

    @property
    def size(self) -> int:
        return self._count

    @property
    def telemetry_shed(self) -> int:
        return self._shed

    async def peek(self, limit: int) -> list[OutboxRecord]:
        raise NotImplementedError

    async def wait_not_empty(self) -> None:
        # No await between the check and clear(): nothing can append in between.
        while self._count == 0:
            self._appended.clear()
            await self._appended.wait()

    async def next_messages(self, max_messages: int, max_samples: int) -> list[OutboundMessage]:
        records = await self.peek(max_messages * max_samples)
        return group_records(records, max_samples)[:max_messages]


class MemoryOutbox(_OutboxBase):
    """The outbox in memory: same behaviour as ``SqliteOutbox``, gone with the process."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        super().__init__(max_rows)
        self._records: collections.OrderedDict[int, OutboxRecord] = collections.OrderedDict()
        # Telemetry seqs, oldest first, so shedding does not scan past the events.
        self._telemetry: collections.deque[int] = collections.deque()
        self._next_seq = 1

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def put(self, kind: RecordKind, payload: str) -> None:
        if kind is RecordKind.TELEMETRY and len(self._records) >= self._max_rows:
            while self._telemetry and self._telemetry[0] not in self._records:
                self._telemetry.popleft()  # already delivered
            self._shed += 1
            if not self._telemetry:
                return  # the outbox is all events: the new sample is the one shed
            del self._records[self._telemetry.popleft()]
        seq = self._next_seq
        self._next_seq += 1
        self._records[seq] = OutboxRecord(seq, kind, payload)
        if kind is RecordKind.TELEMETRY:
            self._telemetry.append(seq)
        self._count = len(self._records)
        self._appended.set()

    async def peek(self, limit: int) -> list[OutboxRecord]:
        out: list[OutboxRecord] = []
        for record in self._records.values():
            if len(out) >= limit:
                break
            out.append(record)
        return out

    async def remove(self, seqs: Sequence[int]) -> None:
        for seq in seqs:
            self._records.pop(seq, None)
        self._count = len(self._records)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('telemetry', 'event')),
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_kind_seq ON outbox (kind, seq);
"""


class SqliteOutbox(_OutboxBase):
    """The durable outbox: one SQLite file in WAL mode, owned by one agent.

    ``synchronous="FULL"`` (the default) fsyncs every append, so an acknowledged ``put``
    survives a power cut; ``"NORMAL"`` survives a process crash only, with less disk wear.
    The file is opened in exclusive locking mode: a second agent on the same data dir fails
    at start with ``OutboxError`` instead of interleaving with the first.

    SQLite calls run in a worker thread (serialised by a lock) so an fsync on a slow SD card
    does not stall the event loop.
    """

    def __init__(
        self,
        path: Path,
        max_rows: int = DEFAULT_MAX_ROWS,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        super().__init__(max_rows)
        self._path = path
        self._synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    async def __aenter__(self) -> Self:
        try:
            self._db, self._count = await asyncio.to_thread(self._open)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox {self._path}: {exc}") from exc
        if self._count:
            logger.info("outbox %s holds %d records from before", self._path, self._count)
            self._appended.set()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is not None:
            await self._call("close", _close)
            self._db = None

    def _open(self) -> tuple[sqlite3.Connection, int]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: calls come from worker threads, one at a time (self._lock).
        db = sqlite3.connect(self._path, timeout=1.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.executescript(_SCHEMA)  # the first write takes the exclusive lock
            (count,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" in str(exc):
                raise OutboxError(f"outbox {self._path} is in use by another agent") from exc
            raise
        except BaseException:
            db.close()
            raise
        return db, int(count)

    async def _call(
        self,
        what: str,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(db, ...)`` in a worker thread, one call at a time."""
        if self._db is None:
            raise OutboxError(f"outbox {self._path} is not open (use it with async with)")
        db = self._db
        async with self._lock:
            work = asyncio.ensure_future(asyncio.to_thread(fn, db, *args, **kwargs))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # A thread cannot be interrupted: it must finish before the lock lets the next
                # call (or close) touch the connection.
                await asyncio.wait([work])
                if not work.cancelled():
                    work.exception()  # retrieved: the caller is being cancelled anyway
                raise
            except sqlite3.Error as exc:
                raise OutboxError(f"cannot {what} outbox {self._path}: {exc}") from exc

    async def put(self, kind: RecordKind, payload: str) -> None:
        if await self._call("append to", self._put_sync, kind, payload):
            self._appended.set()

    async def peek(self, limit: int) -> list[OutboxRecord]:
        rows = await self._call("read", _peek, limit)
        return [OutboxRecord(seq, RecordKind(kind), payload) for seq, kind, payload in rows]

    async def remove(self, seqs: Sequence[int]) -> None:
        if seqs:
            await self._call("delete from", self._remove_sync, seqs)

    # The *_sync methods run in the worker thread, under the lock; they alone change the counts.

    def _put_sync(self, db: sqlite3.Connection, kind: RecordKind, payload: str) -> bool:
        """Append; returns False when the new sample itself was shed."""
        with _transaction(db):
            shed = 0
            if kind is RecordKind.TELEMETRY and self._count >= self._max_rows:
                shed = db.execute(
                    "DELETE FROM outbox WHERE seq ="
                    " (SELECT MIN(seq) FROM outbox WHERE kind = 'telemetry')"
                ).rowcount
                if shed == 0:  # the outbox is all events: the new sample is the one shed
                    self._shed += 1
                    return False
            db.execute("INSERT INTO outbox (kind, payload) VALUES (?, ?)", (kind.value, payload))
        self._count += 1 - shed
        self._shed += shed
        return True

    def _remove_sync(self, db: sqlite3.Connection, seqs: Sequence[int]) -> None:
        with _transaction(db):
            cursor = db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._count -= cursor.rowcount


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (or an early return)."""
    db.execute("BEGIN IMMEDIATE")
    committed = False
    try:
        yield
        db.execute("COMMIT")
        committed = True
    finally:
        if not committed and db.in_transaction:
            db.execute("ROLLBACK")


def _peek(db: sqlite3.Connection, limit: int) -> list[tuple[int, str, str]]:
    cursor = db.execute("SELECT seq, kind, payload FROM outbox ORDER BY seq LIMIT ?", (limit,))
    return cursor.fetchall()


def _close(db: sqlite3.Connection) -> None:
    db.close()
