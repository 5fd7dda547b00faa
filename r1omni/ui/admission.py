"""Admission to the model for /explain: a bounded FIFO wait, and a clear refusal beyond it.

Gradio's own bound (`queue(max_size=)`) refuses with its fixed texts ("Queue is full! Please try again."
in gradio_client, a generic one in the browser), so /explain is admitted here instead: the event runs at
once (no Gradio concurrency limit), `ModelGate.admit()` lets at most `max_waiting` requests wait for the one
running, in arrival order, and refuses one more with `busy_message()` ("Busy: N requests are queued for the
model; retry in a moment"), which both the browser and API clients show as the error's text.
A streaming handler takes a `Ticket` instead (`ModelGate.ticket()`), so that while it waits it can show its
place in the queue (`Ticket.place()`) and an estimate (`ModelGate.estimate_s`, from the measured length of
the requests that ran before).
Everything here runs on the server's event loop, so the counters need no lock. No gradio import.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator

EWMA = 0.3  # weight of the newest request in the measured seconds per request


class Busy(Exception):
    """Refused: `max_waiting` requests already wait for the model."""


class Ticket:
    """One request's place: waiting (in arrival order), then running, then released."""

    def __init__(self, gate: ModelGate):
        self.gate = gate
        self.state = "waiting"
        self._turn = asyncio.Event()
        self.started_at: float | None = None

    def place(self) -> int:
        """How many requests are ahead of this one (the running one included); 0 once it runs."""
        if self.state != "waiting":
            return 0
        return self.gate.running + self.gate._queue.index(self)

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for this request's turn (at most `timeout` seconds); True once it holds the model."""
        if self.state == "running":
            return True
        if self.state != "waiting":
            raise RuntimeError("this ticket was released")
        try:
            await asyncio.wait_for(self._turn.wait(), timeout)
        except TimeoutError:
            return False
        self.gate._start(self)
        return True

    def release(self) -> None:
        """Leave the queue or free the model (idempotent); the next in line gets its turn."""
        self.gate._release(self)


class ModelGate:
    def __init__(self, max_waiting: int):
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self.waiting = 0  # admitted, not yet running
        self.running = 0  # 0 or 1
        self.refused = 0  # since start (for the log and tests)
        self.seconds_per_request: float | None = None  # measured (moving average), None before the first
        self._queue: collections.deque[Ticket] = collections.deque()
        self._current: Ticket | None = None

    def busy_message(self) -> str:
        n = self.waiting
        return f"Busy: {n} request{'s' if n != 1 else ''} {'are' if n != 1 else 'is'} queued for the model; " \
               "retry in a moment"

    def ticket(self) -> Ticket:
        """A place at the end of the queue; raises Busy at once when `max_waiting` requests already wait (or
        one runs and 0 may wait)."""
        if self.waiting >= self.max_waiting and (self.running or self.waiting):
            self.refused += 1
            raise Busy(self.busy_message())
        t = Ticket(self)
        self._queue.append(t)
        self.waiting += 1
        self._grant()
        return t

    def estimate_s(self, place: int) -> float | None:
        """Seconds until a request with `place` requests ahead starts, from the measured seconds per request
        (what the running one has already spent is taken off); None before any request was measured."""
        per = self.seconds_per_request
        if per is None or place <= 0:
            return None if per is None else 0.0
        spent = time.monotonic() - self._current.started_at if self._current and self._current.started_at else 0.0
        return max(0.0, per - spent) + (place - 1) * per

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[int]:
        """Wait for the model (FIFO) and hold it in the body; yields how many were waiting ahead when admitted.
        Raises Busy at once when `max_waiting` requests already wait (or one runs and 0 may wait)."""
        t = self.ticket()
        ahead = t.place()
        try:
            await t.wait()
            yield ahead
        finally:
            t.release()

    # ------------------------------------------------------------------ internals
    def _grant(self) -> None:
        if not self.running and self._queue and not self._queue[0]._turn.is_set():
            self._queue[0]._turn.set()

    def _start(self, t: Ticket) -> None:
        self._queue.remove(t)
        self.waiting -= 1
        self.running += 1
        t.state, t.started_at, self._current = "running", time.monotonic(), t

    def _release(self, t: Ticket) -> None:
        if t.state == "waiting":  # cancelled while waiting (the client went away)
            self._queue.remove(t)
            self.waiting -= 1
        elif t.state == "running":
            self.running -= 1
            took = time.monotonic() - (t.started_at or time.monotonic())
            prev = self.seconds_per_request
            self.seconds_per_request = took if prev is None else (1 - EWMA) * prev + EWMA * took
            self._current = None
        t.state = "released"
        self._grant()
