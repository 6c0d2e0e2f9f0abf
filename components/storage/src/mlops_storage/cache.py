"""Encoded bodies of dataset versions, made once and served many times.

A committed version never changes, so its JSON (or CSV) body can be encoded
once per process and kept. :class:`BodyCache` is a least-recently-used map
bounded in bytes; :meth:`BodyCache.get_or_make` also makes sure that readers
asking for the same body at the same time wait for one encoding instead of
each doing its own (the work runs in the thread pool, off the event loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from starlette.concurrency import run_in_threadpool


class BodyCache:
    """Bodies by key, at most ``max_bytes`` in all; one body at most an eighth."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.max_item = max_bytes // 8
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}
        #: Bodies made (misses) and served from memory (hits), for tests and logs.
        self.made = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._size

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_item:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    async def get_or_make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """The body for ``key``, made by ``make`` in the thread pool if missing.

        Concurrent callers for one key share one ``make``; its exception, if
        any, reaches each of them. A caller that goes away does not cancel the
        work the others wait for.
        """
        body = self.get(key)
        if body is not None:
            return body
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._make(key, make))
            self._pending[key] = pending
        return await asyncio.shield(pending)

    async def _make(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        try:
            body = await run_in_threadpool(make)
            self.made += 1
            self.put(key, body)
            return body
        finally:
            self._pending.pop(key, None)
