"""Admission to the model for /explain: a bounded FIFO wait, and a clear refusal beyond it.

Gradio's own bound (`queue(max_size=)`) refuses with its fixed texts ("Queue is full! Please try again."
in gradio_client, a generic one in the browser), so /explain is admitted here instead: the event runs at
once (no Gradio concurrency limit), `ModelGate.admit()` lets at most `max_waiting` requests wait for the one
running, in arrival order, and refuses one more with `busy_message()` ("Busy: N requests are queued for the
model; retry in a moment"), which both the browser and API clients show as the error's text.
Everything here runs on the server's event loop, so the counters need no lock. No gradio import.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Busy(Exception):
    """Refused: `max_waiting` requests already wait for the model."""


class ModelGate:
    def __init__(self, max_waiting: int):
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self.waiting = 0  # admitted, not yet running
        self.running = 0  # 0 or 1
        self.refused = 0  # since start (for the log and tests)
        self._lock: asyncio.Lock | None = None

    def busy_message(self) -> str:
        n = self.waiting
        return f"Busy: {n} request{'s' if n != 1 else ''} {'are' if n != 1 else 'is'} queued for the model; " \
               "retry in a moment"

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[int]:
        """Wait for the model (FIFO) and hold it in the body; yields how many were waiting ahead when admitted.
        Raises Busy at once when `max_waiting` requests already wait (or one runs and 0 may wait)."""
        if self._lock is None:
            self._lock = asyncio.Lock()  # asyncio.Lock wakes waiters in arrival order
        if self.waiting >= self.max_waiting and (self.running or self.waiting):
            self.refused += 1
            raise Busy(self.busy_message())
        ahead = self.waiting + self.running
        self.waiting += 1
        started = False
        try:
            async with self._lock:
                self.waiting -= 1
                started = True
                self.running += 1
                try:
                    yield ahead
                finally:
                    self.running -= 1
        finally:
            if not started:  # cancelled while waiting (the client went away)
                self.waiting -= 1
