"""Deadlines for reading requests: a slow client cannot hold a connection.

A socket timeout bounds each ``recv`` alone: a client sending one byte every
few seconds keeps it alive for ever. The watchdog bounds the whole read: each
connection being read has a deadline, and one thread shuts down the reading
side of the sockets past theirs, so the blocked ``recv`` returns at once (the
handler can still answer 408 on the writing side).
"""

from __future__ import annotations

import socket
import threading
import time

#: How often the deadlines are checked: a deadline is kept to within this.
TICK = 0.1


class Watchdog:
    """Per-socket read deadlines, enforced by one daemon thread."""

    def __init__(self, tick: float = TICK) -> None:
        self._tick = tick
        self._deadlines: dict[socket.socket, float] = {}
        self._fired: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="mlops-cdc-watchdog", daemon=True
        )
        self._thread.start()

    def arm(self, sock: socket.socket, seconds: float) -> None:
        """From now on, ``sock`` must be read within ``seconds``."""
        with self._lock:
            self._deadlines[sock] = time.monotonic() + seconds
            self._fired.discard(sock)

    def disarm(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)

    def fired(self, sock: socket.socket) -> bool:
        """Whether ``sock``'s deadline passed (its reading side is shut)."""
        with self._lock:
            return sock in self._fired

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(sock, None)
            self._fired.discard(sock)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            now = time.monotonic()
            with self._lock:
                late = [s for s, deadline in self._deadlines.items() if deadline <= now]
                for sock in late:
                    del self._deadlines[sock]
                    self._fired.add(sock)
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass  # already closed
