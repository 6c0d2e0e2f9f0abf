"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's headers.

uvicorn times out idle keep-alive connections, but not a connection that
sends a request line and then a header byte now and then (slowloris), nor
one that connects and sends nothing: each holds a connection, and enough of
them hold every connection a worker serves. Here a request's line and
headers must be complete within ``header_timeout`` seconds of the
connection's start, or of the first byte of the next request on a kept-alive
connection; otherwise the connection is answered 408 (or, if nothing came,
just closed).
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMEOUT_BODY = b'{"error":"request headers not received in time"}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol closing connections whose request headers are late."""

    header_timeout = 10.0

    _header_timer: asyncio.TimerHandle | None = None
    _started = False

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._started = self._started or bool(data)
        super().data_received(data)
        waiting = self.conn.their_state is h11.IDLE
        if waiting and not self.transport.is_closing():
            if self._header_timer is None:  # the first bytes of the next request
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        # Between requests the keep-alive timeout applies, and then the
        # deadline again from the next request's first byte.
        self._started = False
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._started:
            self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class uvicorn instantiates per connection, with ``seconds``."""
    return type(
        "HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": seconds}
    )
