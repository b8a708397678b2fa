"""Map the next batch of request rows in a second process while this one writes the current batch.

Mapping a request row (dates, phone in E.164, the SLA facts on the working
calendar) is pure Python and takes most of a run's CPU; writing a batch mostly
waits for the database. Run one after the other they leave a core idle, so the
run hands the rows after the current batch to a worker process and, when that
batch comes up, takes the worker's results instead of mapping inline. (A
thread does not help: the GIL serialises the mapping with the writer's own
Python work.) Results travel as plain tuples: pickling the mapped dataclasses
cost as much CPU as mapping the rows.

The results are keyed by staging row id and depend only on the row's raw
text, its file's id column and the run's `MappingContext`, all fixed for the
run, so a prefetched result equals the inline one; a row the worker did not
see (another run, `retry-failed` meanwhile) is simply mapped inline. The
database writes are untouched, so a SIGKILL still leaves whole batches only.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import orjson

from desk import report_store
from desk.legacy import mapping
from desk.legacy.errors import RowError
from desk.legacy.mapping import ContactRef, MappedRequest, MappingContext

__all__ = ["Ahead", "Outcome", "Premapper", "map_raw_request"]

Outcome = MappedRequest | RowError


@functools.lru_cache(maxsize=256)
def _columns(headers: tuple[str, ...], kind: str, id_column: str) -> dict[str, str]:
    return mapping.header_fields(headers, kind, id_column)


def canonical_fields(raw_json: str | bytes, kind: str, id_column: str) -> dict[str, str]:
    """A staged row's raw JSON as field -> stripped text, by the file's column names."""
    raw = orjson.loads(raw_json)
    return mapping.canonical(raw, _columns(tuple(raw), kind, id_column))


def map_raw_request(raw_json: str | bytes, id_column: str, context: MappingContext) -> Outcome:
    """One staged request row mapped, or the `RowError` that fails it (returned, for the writer to record)."""
    try:
        return mapping.map_request(canonical_fields(raw_json, "requests", id_column), context)
    except RowError as err:
        return err


WORKERS = 1 if (os.cpu_count() or 1) > 1 else 0  # on one core a worker only adds pickling
_PR_SET_PDEATHSIG = 1
_context: MappingContext | None = None


GC_THRESHOLD = (50_000, 20, 20)
"""The collector's thresholds while rows are mapped and written. Mapping a row allocates dozens
of objects and keeps few, so at the default (a collection every 700 allocations, and full ones
walking every batch's rows kept so far) the collector took ~7% of the worker's CPU."""


def _init(context: MappingContext, parent: int) -> None:
    global _context
    _die_with_parent(parent)
    _context = context
    gc.freeze()  # the modules and the context stay for the worker's life: never walk them again
    gc.set_threshold(*GC_THRESHOLD)


def _die_with_parent(parent: int) -> None:
    """Make this worker die with the run that started it, even when that run is SIGKILLed.

    An orphaned worker would map for nobody forever; were it forked, it would
    also hold copies of the run's database sockets and so keep the killed
    batch's transaction and table locks open, and the rerun would wait on them.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _map_many(rows: Sequence[tuple[int, str, str]]) -> tuple[list[tuple], report_store.CounterRows]:
    """In the worker: each row as (id, error field, error text) or (id, keys, values, contact fields),
    and the report counters of the mapped rows as new requests (the writer's usual case)."""
    assert _context is not None, "worker started without its mapping context"
    packed: list[tuple] = []
    mapped: list[dict] = []
    keys: tuple[str, ...] | None = None
    for row_id, raw, id_column in rows:
        outcome = map_raw_request(raw, id_column, _context)
        if isinstance(outcome, RowError):
            packed.append((row_id, outcome.field, outcome.problem))
            continue
        if keys is None or len(keys) != len(outcome.values):
            keys = tuple(outcome.values)
        contact = outcome.contact
        sender = None if contact is None else (contact.name, contact.email, contact.phone, contact.company)
        packed.append((row_id, keys, tuple(outcome.values.values()), sender))
        mapped.append(outcome.values)
    return packed, report_store.counters_of_new(mapped)


@dataclasses.dataclass(frozen=True)
class Ahead:
    """A batch mapped ahead: each row's outcome, and the counters its mapped rows add as new requests.

    `counters` hold for exactly the rows in `mapped`, in that order; the writer
    sends them instead of summing again when it inserts just those rows."""

    outcomes: dict[int, Outcome] = dataclasses.field(default_factory=dict)
    mapped: tuple[int, ...] = ()
    counters: report_store.CounterRows = ([], [])


def _unpack(result: tuple[list[tuple], report_store.CounterRows]) -> Ahead:
    packed, counters = result
    outcomes: dict[int, Outcome] = {}
    mapped: list[int] = []
    for item in packed:
        if len(item) == 3:
            outcomes[item[0]] = RowError(item[1], item[2])
        else:
            row_id, keys, values, contact = item
            outcomes[row_id] = MappedRequest(
                dict(zip(keys, values, strict=True)), None if contact is None else ContactRef(*contact)
            )
            mapped.append(row_id)
    return Ahead(outcomes, tuple(mapped), counters)


class Premapper:
    """Worker processes mapping request rows, each a batch ahead; disabled, everything maps inline.

    Workers are spawned, not forked: a forked worker's inherited heap turns
    private page by page as the parent writes to it (refcounts), so a fork
    costs a second copy of the whole application (~110 MB), while a spawned
    one imports only the mapping modules. One worker keeps up with the writer
    on two cores; a second one measured no faster.
    """

    def __init__(self, context: MappingContext, workers: int = WORKERS) -> None:
        self.workers = workers
        self._pending: deque[Future] = deque()
        self.submitted_through = 0
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            portable = dataclasses.replace(context, calendars=dict(context.calendars))
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init,
                initargs=(portable, os.getpid()),
            )

    def submit(self, rows: Sequence[tuple[int, str, str]], through: int) -> None:
        """Start mapping `rows` (staging id, raw JSON, id column, in id order) for the later batch
        that ends at staging id `through`."""
        if self._pool is not None:
            self._pending.append(self._pool.submit(_map_many, list(rows)))
            self.submitted_through = through

    def take(self) -> Ahead:
        """What the oldest pending `submit` mapped (waiting for it), or nothing when none is pending."""
        return _unpack(self._pending.popleft().result()) if self._pending else Ahead()

    @property
    def wanted(self) -> int:
        """How many more batches to submit to keep every worker busy."""
        return self.workers - len(self._pending) if self._pool is not None else 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Premapper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
