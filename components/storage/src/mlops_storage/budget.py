"""The memory one worker's writes in flight may take, shared first come first served.

A write holds the request body, the decoded table and Parquet's buffers at
once: several at a time could take more memory than the pod has. Each write
asks for its share before it reads its body (the body's size), and again once
the body tells how large the table will be (:func:`write_need`); it waits in
line while others hold the memory. A single share larger than the whole budget
is cut to the budget: such a write runs alone.

Waiting is bounded: after ``timeout`` seconds the write is answered 503 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

#: Peak memory of a write per byte of its decoded table, besides the body:
#: the table, Arrow's decoding buffers and the Parquet writer's. Measured
#: (README, "Limits and errors") at 2.7-5x; small tables cost relatively more.
TABLE_FACTOR = 3
#: A CSV body decodes to about its own size of Arrow data (1.05-1.1x
#: measured), up to 4x for columns of one-digit numbers: counted as twice.
CSV_TABLE_FACTOR = 2


def write_need(body: int, table: int) -> int:
    """The memory a write of ``body`` bytes decoding to ``table`` bytes takes."""
    return body + TABLE_FACTOR * table


class BudgetTimeout(Exception):
    """The memory was not free within the timeout."""


class Lease:
    """Memory held in a :class:`Budget`; :meth:`resize` to change it."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self.amount = 0

    async def resize(self, amount: int, timeout: float) -> None:
        """Hold ``amount`` instead (growing may wait in line, from the back)."""
        amount = min(max(amount, 0), self._budget.total)
        if amount <= self.amount:
            self._budget.release(self.amount - amount)
            self.amount = amount
            return
        extra = amount - self.amount
        if self._budget.try_take(extra):
            self.amount = amount
            return
        # Never wait while holding: two growing writes would wait for each other.
        self._budget.release(self.amount)
        self.amount = 0
        await self._budget.take(amount, timeout)
        self.amount = amount


class Budget:
    """``total`` bytes shared by the writes of one event loop, in arrival order."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def try_take(self, amount: int) -> bool:
        if self._waiting or self.used + amount > self.total:
            return False
        self.used += amount
        return True

    async def take(self, amount: int, timeout: float) -> None:
        if self.try_take(amount):
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (amount, granted)
        self._waiting.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(granted), timeout)
        except BaseException as exc:
            if granted.done() and not granted.cancelled():
                self.release(amount)  # granted just as the wait ended
            else:
                granted.cancel()
                self._waiting.remove(entry)
                self._grant()  # the next in line may fit now
            if isinstance(exc, asyncio.TimeoutError):
                raise BudgetTimeout from None
            raise

    def release(self, amount: int) -> None:
        self.used -= amount
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self.used + self._waiting[0][0] <= self.total:
            amount, granted = self._waiting.popleft()
            self.used += amount
            granted.set_result(None)

    @asynccontextmanager
    async def hold(self, amount: int, timeout: float) -> AsyncIterator[Lease]:
        """A lease of ``amount`` (cut to the total) for the ``with`` block."""
        lease = Lease(self)
        await lease.resize(amount, timeout)
        try:
            yield lease
        finally:
            self.release(lease.amount)
            lease.amount = 0
