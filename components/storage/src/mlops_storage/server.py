"""The storage service's HTTP server: the ASGI app of :mod:`mlops_storage.app`
served by uvicorn on a socket bound up front (so port 0 reports the port taken).

>>> server = make_server(Store("/data"), "127.0.0.1", 0)  # doctest: +SKIP
>>> server.url  # doctest: +SKIP
'http://127.0.0.1:40321'
>>> server.serve_forever()  # until shutdown() or SIGTERM  # doctest: +SKIP

On SIGTERM (how Kubernetes stops a pod) or SIGINT the server stops accepting
connections, lets in-flight requests finish (up to ``graceful_timeout``
seconds), closes idle keep-alive connections and returns.

With ``Settings.workers`` above 1, served from the main thread, the process
binds the socket, then forks that many workers which all accept on it (the
kernel spreads the connections); the parent closes its copy and only
supervises: SIGTERM is passed on to every worker, and a worker that dies
(killed for its memory, say) is replaced while the others keep serving. Only
workers that keep dying (more than ``MAX_RESTARTS`` in ``RESTART_WINDOW``
seconds) stop the service (``failed`` is then true, and the command exits 1
so that Kubernetes restarts the pod). Each worker has its own event loop,
thread pool of ``Settings.threads`` threads and body cache. Served from any
other thread (a server embedded in tests or tools), it is one process.

Connections: each worker serves ``Settings.max_connections`` at once (503
beyond), and a request's headers must arrive within
``Settings.header_timeout`` (:mod:`mlops_storage.protocol`).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque

import anyio.to_thread
import uvicorn
from mlops_storage.app import create_app
from mlops_storage.protocol import with_header_timeout
from mlops_storage.settings import Settings
from mlops_storage.store import Store

#: Pending connections the kernel queues before the server accepts them.
BACKLOG = 1024
#: Dead workers replaced within RESTART_WINDOW seconds before the service
#: gives up (a worker that cannot live is a fault a restart of the pod shows).
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0

log = logging.getLogger("mlops_storage.server")

_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


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
            http=with_header_timeout(self.settings.header_timeout),
            # uvicorn counts the connection asking too: N+1 serves N at once.
            limit_concurrency=self.settings.max_connections + 1,
        )
        # RequestContext writes the access log, with the request id.
        logging.getLogger("uvicorn.access").propagate = False
        self._server = uvicorn.Server(config)
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._workers: dict[int, int] = {}  # pid -> worker number
        self._deaths: deque[float] = deque()  # when workers died unasked
        self._stopping = False
        self._supervising = False
        #: True when a worker process died instead of stopping when told.
        self.failed = False

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
            # Forking a process that runs other threads is unsafe: a server
            # embedded in a thread (tests, tools) serves in that thread alone.
            main = threading.current_thread() is threading.main_thread()
            self._supervising = self.settings.workers > 1 and main
            if self._supervising:
                self._supervise()
            else:
                self._serve()
        finally:
            self._stopped.set()

    def _serve(self) -> None:
        """Run uvicorn on the socket in this process until told to stop."""
        config = self._server.config

        async def serve() -> None:
            # The thread pool that sync handlers and run_in_threadpool use.
            limiter = anyio.to_thread.current_default_thread_limiter()
            limiter.total_tokens = self.settings.threads
            await self._server.serve(sockets=[self.socket])

        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(serve())

    def _supervise(self) -> None:
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for number in range(self.settings.workers):
                if self._stopping:
                    break
                self._fork(number)
            # Kept to fork replacements; closed when stopping (request_stop),
            # so that once the workers have closed theirs, connections are
            # refused.
            self._wait_for_workers()
            self.socket.close()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.request_stop()

    def _wait_for_workers(self) -> None:
        while self._workers:
            try:
                pid, status = os.wait()
            except ChildProcessError:  # pragma: no cover - none left
                break
            number = self._workers.pop(pid, None)
            if number is None:  # pragma: no cover - not one of ours
                continue
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                continue
            fields = {"worker": number, "pid": pid, "exit": code}
            now = time.monotonic()
            self._deaths.append(now)
            while self._deaths and self._deaths[0] < now - RESTART_WINDOW:
                self._deaths.popleft()
            if len(self._deaths) > MAX_RESTARTS:
                log.error(
                    "worker %d (pid %d) exited with %d, the %dth in %g s; "
                    "stopping the others",
                    number,
                    pid,
                    code,
                    len(self._deaths),
                    RESTART_WINDOW,
                    extra={"fields": fields},
                )
                self.failed = True
                self.request_stop()
                continue
            log.error(
                "worker %d (pid %d) exited with %d; starting another",
                number,
                pid,
                code,
                extra={"fields": fields},
            )
            self._fork(number)

    def _fork(self, number: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid:
            self._workers[pid] = number
            return
        # The worker: serve until SIGTERM, then leave without running the
        # parent's clean-up (atexit, the socket is the parent's to close).
        code = 0
        try:
            self._workers.clear()
            self._supervising = False  # its socket is its own to serve on
            # Until uvicorn takes the signals over (and after, when it raises
            # them again), a stop request just makes it stop.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
            _stop_with_parent(parent)
            if os.getppid() != parent:  # it died before that took effect
                self.request_stop()
            self._serve()
        except BaseException:  # pragma: no cover - reported, then the exit code
            log.exception("worker %d failed", number)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    @property
    def started(self) -> bool:
        """True once the server accepts connections (workers: once forked)."""
        if self._supervising:
            return bool(self._workers)
        return self._server.started

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (empty with one process)."""
        return sorted(self._workers)

    def request_stop(self) -> None:
        """Ask the server to stop gracefully (safe in a signal handler)."""
        self._server.should_exit = True
        self._stopping = True
        if self._supervising:
            self.socket.close()  # the workers' copies go as they stop
        for pid in list(self._workers):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:  # pragma: no cover - already gone
                pass

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serving (from another thread) and wait until it has stopped."""
        self.request_stop()
        if self._running.is_set():
            self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def _stop_with_parent(parent: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies.

    A supervisor killed outright (SIGKILL) then takes its workers with it
    instead of leaving them serving. Linux only; elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):  # pragma: no cover
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - no prctl
        pass


def make_server(
    store: Store, host: str, port: int, settings: Settings | None = None
) -> StorageServer:
    """Bind (but do not start) the service; port 0 picks a free port."""
    return StorageServer(store, host, port, settings)
