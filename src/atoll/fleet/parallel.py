"""A minimal parallel map on threads (concurrent.futures costs ~6 ms of import on every
``atoll ls``, measured with ``python -X importtime``; this is all the listing needs)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_background(fn: Callable[[], R]) -> Callable[[], R]:
    """Start ``fn()`` on a thread now; the function returned waits for it and gives its
    result, or raises its exception in the caller's thread."""
    box: list[R] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()

    def join() -> R:
        thread.join()
        if error:
            raise error[0]
        return box[0]

    return join


def parallel_map(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` with one thread per item; every thread is waited for, then
    the first exception (in item order) is re-raised."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    joins = [in_background(partial(fn, x)) for x in items]
    results: list[R] = []
    error: BaseException | None = None
    for join in joins:
        try:
            results.append(join())
        except BaseException as exc:  # re-raised once all threads are done
            error = error or exc
    if error is not None:
        raise error
    return results
