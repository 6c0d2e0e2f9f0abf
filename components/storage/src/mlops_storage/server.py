"""The storage service's HTTP server: the ASGI app of :mod:`mlops_storage.app`
served by uvicorn on a socket bound up front (so port 0 reports the port taken).

>>> server = make_server(Store("/data"), "127.0.0.1", 0)  # doctest: +SKIP
>>> server.url  # doctest: +SKIP
'http://127.0.0.1:40321'
>>> server.serve_forever()  # until shutdown() or SIGTERM  # doctest: +SKIP

On SIGTERM (how Kubernetes stops a pod) or SIGINT the server stops accepting
connections, lets in-flight requests finish (up to ``graceful_timeout``
seconds), closes idle keep-alive connections and returns.
"""

from __future__ import annotations

import logging
import socket
import threading

import uvicorn
from mlops_storage.app import create_app
from mlops_storage.settings import Settings
from mlops_storage.store import Store

#: Pending connections the kernel queues before the server accepts them.
BACKLOG = 1024


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"cannot resolve {host!r}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class StorageServer:
    """uvicorn serving the storage app on an already bound socket."""

    def __init__(
        self, store: Store, host: str, port: int, settings: Settings | None = None
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.app = create_app(store, self.settings)
        self.socket = _bind(host, port)
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,  # RequestContext writes the access log
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=max(1, round(self.settings.keepalive_timeout)),
            timeout_graceful_shutdown=max(1, round(self.settings.graceful_timeout)),
        )
        # RequestContext writes the access log, with the request id.
        logging.getLogger("uvicorn.access").propagate = False
        self._server = uvicorn.Server(config)
        self._running = threading.Event()
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serve until :meth:`shutdown`, SIGTERM or SIGINT (main thread only).

        ``poll_interval`` is accepted for compatibility and ignored.
        """
        self._running.set()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    @property
    def started(self) -> bool:
        """True once the server accepts connections."""
        return self._server.started

    def request_stop(self) -> None:
        """Ask the server to stop gracefully (safe in a signal handler)."""
        self._server.should_exit = True

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serving (from another thread) and wait until it has stopped."""
        self.request_stop()
        if self._running.is_set():
            self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def make_server(
    store: Store, host: str, port: int, settings: Settings | None = None
) -> StorageServer:
    """Bind (but do not start) the service; port 0 picks a free port."""
    return StorageServer(store, host, port, settings)
