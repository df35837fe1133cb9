"""Ports for one run's processes that no other process can end up sharing.

``bind(("127.0.0.1", 0))`` names a port that is free *now*. Once that socket closes, the number
can come back from the next ``bind(0)`` (seen here about one run in 120 within 17 allocations) and
any process may take it before ours binds; Envoy listeners bound with SO_REUSEPORT would even
share it silently, sending one service's traffic to another's proxy. So :class:`PortAllocator`:

- never hands out one number twice in its lifetime (it remembers every port it gave);
- holds an exclusive lock (``flock``) on ``<lock dir>/<port>.lock`` from allocation until
  :meth:`PortAllocator.close`, so two tailstorm runs on one machine never pick the same port (the
  kernel drops the lock when the holder dies, so a killed run leaves nothing held);
- lets the backend check, after each start, that the port is served by the very process it
  started (:func:`listens_on`), and retry with a fresh port when an outside process won the race
  (:func:`lost_bind`).

Envoy listeners are additionally rendered with ``enable_reuse_port: false`` (deploy/envoy/render.py),
so a second bind fails loudly instead of sharing.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pathlib
import socket
import tempfile
import threading
from collections.abc import Callable

import psutil

from deploy.local import processes

MAX_CANDIDATES = 64
BIND_FAILURE_MARKERS = ("address already in use", "errno 98", "eaddrinuse")
"""How uvicorn, Envoy and Prometheus word a failed bind in their logs (lower-cased)."""


class PortError(processes.BackendError):
    """No port could be had; the message is one sentence with the fix."""


def os_candidate() -> int:
    """A port the OS says is free on 127.0.0.1 now (it may be taken again a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_lock_dir() -> pathlib.Path:
    return pathlib.Path(tempfile.gettempdir()) / f"tailstorm-ports-{os.getuid()}"


def is_bindable(port: int) -> bool:
    """True if a listening socket could be bound to 127.0.0.1:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out distinct ports for one run and keeps them reserved until :meth:`close`.

    ``candidate`` proposes a port (the OS's choice by default; tests inject collisions through it).
    """

    def __init__(self, *, lock_dir: pathlib.Path | None = None, candidate: Callable[[], int] = os_candidate) -> None:
        self.lock_dir = pathlib.Path(lock_dir) if lock_dir else default_lock_dir()
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self._candidate = candidate
        self._given: set[int] = set()
        self._locks: dict[int, int] = {}
        self._mutex = threading.Lock()

    @property
    def given(self) -> frozenset[int]:
        """Every port handed out so far (released ones too: they are never handed out again)."""
        with self._mutex:
            return frozenset(self._given)

    def allocate(self, *, what: str) -> int:
        """A port no process of this run has had and no other tailstorm run holds."""
        for _ in range(MAX_CANDIDATES):
            port = self._candidate()
            with self._mutex:
                if port in self._given:
                    continue
                if not is_bindable(port) or not self._lock(port):
                    continue
                self._given.add(port)
                return port
        raise PortError(f"could not find a free port for {what} on 127.0.0.1 after {MAX_CANDIDATES} tries; "
                        "stop other tailstorm runs or free some ports")

    def claim(self, port: int | None, *, what: str, flag: str) -> int:
        """``port`` if it is free and held by no other run (a free one when None)."""
        if port is None:
            return self.allocate(what=what)
        with self._mutex:
            if port in self._given:
                raise PortError(f"port {port} for {what} is already used by another process of this run; "
                                f"pass another with {flag}")
            if not is_bindable(port):
                raise PortError(f"port {port} on 127.0.0.1 for {what} is already in use by another process; "
                                f"pass another with {flag}, or leave {flag} out to take a free one")
            if not self._lock(port):
                raise PortError(f"port {port} for {what} is held by another tailstorm run; "
                                f"pass another with {flag}, or leave {flag} out to take a free one")
            self._given.add(port)
        return port

    def release(self, port: int) -> None:
        """Drop the reservation (the number stays in ``given``: it is not handed out again).

        The lock file itself stays (empty): deleting it would let a run that opened it just before
        lock the unlinked file while a third run locks a new one at the same path, both "holding"
        the port."""
        with self._mutex:
            fd = self._locks.pop(port, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def close(self) -> None:
        for port in list(self._locks):
            self.release(port)

    def _lock(self, port: int) -> bool:
        path = self.lock_dir / f"{port}.lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        self._locks[port] = fd
        return True


def listens_on(pid: int, port: int) -> bool:
    """True if process ``pid`` itself holds a listening TCP socket on ``port``."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)


def lost_bind(log_text: str) -> bool:
    """True if a process log says its bind failed because the address was taken."""
    lowered = log_text.lower()
    return any(marker in lowered for marker in BIND_FAILURE_MARKERS)
