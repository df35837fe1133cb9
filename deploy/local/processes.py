"""Child processes that never outlive the run: ports, binaries, start and stop by PID.

Every child is started in its own session (a terminal's Ctrl-C reaches only the runner, which then
tears down in order) with ``PR_SET_PDEATHSIG`` so the kernel sends it SIGTERM if the runner dies
without cleaning up (a crash, SIGKILL). The PIDs are recorded in ``pids.json`` in the run directory,
so ``make clean`` can find leftovers even then.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


class BackendError(Exception):
    """The local backend cannot do what was asked; the message is one sentence with the fix."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def claim_port(port: int | None, *, what: str, flag: str) -> int:
    """``port`` if it is free (or a free one when None); a busy port is a BackendError naming the flag."""
    if port is None:
        return free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BackendError(
                    f"port {port} on 127.0.0.1 for {what} is already in use by another process; "
                    f"pass another with {flag}, or leave {flag} out to take a free one") from exc
            raise BackendError(f"cannot use port {port} for {what}: {exc.strerror}") from exc
    return port


def find_binary(name: str, *, env_var: str, hint: str) -> str:
    """Locate a binary: ``$env_var``, then next to this Python (the venv), then PATH."""
    explicit = os.environ.get(env_var)
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise BackendError(f"{env_var}={explicit} is not an executable file; fix or unset {env_var}")
    beside = pathlib.Path(sys.executable).parent / name
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise BackendError(f"{name} was not found on PATH; {hint}")


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess:
    """One child process with its log file; ``stop`` is idempotent and always reaps it."""

    def __init__(self, *, name: str, argv: list[str], log_path: pathlib.Path, env: dict[str, str] | None = None,
                 cwd: pathlib.Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")
        # PDEATHSIG fires when the *thread* that forked exits; callers start processes from
        # long-lived threads only (the runner's main thread or the backend's scaler).
        self.popen = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self.pid = self.popen.pid

    def is_running(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def terminate(self) -> None:
        """Ask to stop (SIGTERM) without waiting."""
        if self.is_running():
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, *, grace_seconds: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace_seconds``, then SIGKILL the whole process group; reap it."""
        self.terminate()
        try:
            self.popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)
        self._log.close()
        return self.popen.returncode

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class ProcessTable:
    """All processes of one run, mirrored to ``pids.json`` as they start and stop."""

    def __init__(self, pids_path: pathlib.Path) -> None:
        self.pids_path = pids_path
        self._lock = threading.Lock()
        self._processes: dict[str, ManagedProcess] = {}

    def start(self, **kwargs) -> ManagedProcess:
        process = ManagedProcess(**kwargs)
        with self._lock:
            self._processes[process.name] = process
            self._save()
        return process

    def forget(self, name: str) -> None:
        with self._lock:
            self._processes.pop(name, None)
            self._save()

    def all(self) -> list[ManagedProcess]:
        with self._lock:
            return list(self._processes.values())

    def _save(self) -> None:
        record = {name: {"pid": p.pid, "argv": p.argv} for name, p in self._processes.items()}
        self.pids_path.write_text(json.dumps(record, indent=1), encoding="utf-8")


def wait_until(predicate: Callable[[], bool], *, timeout_seconds: float, what: str,
               interval_seconds: float = 0.05, failed: Callable[[], str | None] | None = None) -> None:
    """Poll ``predicate`` until true; BackendError after the deadline or as soon as ``failed`` says why."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if predicate():
            return
        reason = failed() if failed else None
        if reason:
            raise BackendError(f"{what} failed: {reason}")
        if time.monotonic() > deadline:
            raise BackendError(f"timed out after {timeout_seconds:g} s waiting for {what}")
        time.sleep(interval_seconds)


def kill_recorded(pids_path: pathlib.Path) -> list[int]:
    """Kill leftovers listed in a run's pids.json (for ``make clean`` after a SIGKILLed runner)."""
    try:
        record = json.loads(pids_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    killed = []
    for entry in record.values():
        pid = entry["pid"]
        if _is_ours(pid, entry["argv"]):
            try:
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


def _is_ours(pid: int, argv: list[str]) -> bool:
    """True if ``pid`` still runs the recorded command line (PIDs get reused)."""
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and cmdline[:1] and os.path.basename(cmdline[0].decode()) == os.path.basename(argv[0])
