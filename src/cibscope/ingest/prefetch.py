"""Run a reader one batch ahead of the store, in a thread.

A reader's work (DuckDB scans and mapping on its scratch connection, Arrow conversion) and the
store's (inserting posts, deriving actions, committing) alternate in one thread otherwise, and each
keeps the 2 cores of a small machine only partly busy. DuckDB releases the GIL while a statement
runs, so the reader can parse piece n+1 while the store writes piece n (a two-stage pipeline; memory
holds up to ``depth`` queued batches and the one being read besides the one being stored). The order
of batches, and so every stored row, error and count, is that of the plain loop.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class _Raised:
    """An exception raised by the producer, carried to the consumer."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def prefetched(items: Iterator[T], depth: int = 1, on_stop: Callable[[], None] | None = None) -> Iterator[T]:
    """Yield what ``items`` yields, in order, while a thread computes up to ``depth`` items ahead.

    An exception raised by ``items`` is raised here, at the point of the stream where it happened
    (items before it are yielded first). When the consumer stops early (an error while storing a
    batch, Ctrl-C, ``close()``), the thread is told to stop, ``items`` is closed in that thread and
    joined before this generator returns, so the caller may then close what ``items`` used (its
    DuckDB connection). ``on_stop`` (e.g. that connection's ``interrupt``) is called when the consumer
    stops while the thread still runs, so a long statement of the reader ends at once; a second
    Ctrl-C while waiting for the thread calls it again and keeps waiting (closing a connection that a
    thread is still inside aborts the process).

    Raises
    ------
    BaseException
        Whatever ``items`` raised.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(x) -> bool:
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - carried to the consumer and raised there
            put(_Raised(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="cibscope-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                if on_stop is not None:
                    on_stop()
                worker.join()
            except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: the first one is already being handled
                continue
