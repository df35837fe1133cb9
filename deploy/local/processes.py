"""Child processes that never outlive the run: binaries, start and stop by PID, orphan cleanup.

Every child is started in its own session (a terminal's Ctrl-C reaches only the runner, which then
tears down in order) with ``PR_SET_PDEATHSIG`` so the kernel sends it SIGTERM if the runner dies
without cleaning up (a crash, SIGKILL). Each child is recorded in ``pids.json`` in the run
directory with its PID, start time and full command line, next to the runner's own, so
``make clean`` and the next ``tailstorm run`` can stop the orphans of a runner that died, and leave
alone every run whose runner still lives (:func:`stop_orphans`). A PID alone identifies nothing:
PIDs are reused, so a process is ours only if its start time and command line match too.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import psutil

PR_SET_PDEATHSIG = 1


class BackendError(Exception):
    """The local backend cannot do what was asked; the message is one sentence with the fix."""


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


def die_with_parent() -> None:
    """``preexec_fn`` for a child the kernel must SIGTERM when the thread that started it exits
    (Linux's PR_SET_PDEATHSIG; elsewhere nothing: the runner's own teardown and ``make clean`` remain)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class Identity:
    """What tells one process from a later one that got the same PID: start time and command line."""

    pid: int
    create_time: float
    """``psutil.Process.create_time()``: seconds since the epoch, as the kernel records it."""
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> "Identity | None":
        """The identity of a live process, or None if it is gone."""
        try:
            process = psutil.Process(pid)
            with process.oneshot():
                return cls(pid, process.create_time(), tuple(process.cmdline()))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None

    def is_alive(self) -> bool:
        """True if the PID still runs the process recorded here (not a zombie, not a reuse)."""
        now = Identity.of(self.pid)
        return (now is not None and abs(now.create_time - self.create_time) < 0.05 and now.cmdline == self.cmdline
                and psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE)

    def as_dict(self) -> dict:
        return {"pid": self.pid, "create_time": self.create_time, "cmdline": list(self.cmdline)}

    @classmethod
    def from_dict(cls, record: dict) -> "Identity | None":
        try:
            return cls(int(record["pid"]), float(record["create_time"]), tuple(record["cmdline"]))
        except (KeyError, TypeError, ValueError):
            return None  # a pids.json from before identities were recorded: nothing can be matched safely


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
            preexec_fn=die_with_parent,
        )
        self.pid = self.popen.pid
        # right after exec the command line may still be the parent's (fork before exec): record
        # what Popen was asked to run, which is what /proc shows once exec has happened
        started = Identity.of(self.pid)
        self.identity = Identity(self.pid, started.create_time if started else time.time(), tuple(argv))

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

    def kill(self) -> None:
        """SIGKILL now, without waiting (a crash, not a stop); ``stop`` reaps it later."""
        if self.is_running():
            try:
                os.killpg(self.pid, signal.SIGKILL)
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
    """All processes of one run, mirrored to ``pids.json`` as they start and stop.

    The file also names the runner (this process) with its identity, so a cleanup can tell a live
    run from the orphans of a dead one.
    """

    def __init__(self, pids_path: pathlib.Path) -> None:
        self.pids_path = pids_path
        self.runner = Identity.of(os.getpid())
        self._lock = threading.Lock()
        self._processes: dict[str, ManagedProcess] = {}
        self._save()

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

    def get(self, name: str) -> ManagedProcess | None:
        with self._lock:
            return self._processes.get(name)

    def _save(self) -> None:
        record = {"runner": self.runner.as_dict() if self.runner else None,
                  "processes": {name: p.identity.as_dict() for name, p in self._processes.items()}}
        text = json.dumps(record, indent=1)
        tmp = self.pids_path.with_name(f".{self.pids_path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.pids_path)  # a reader never sees half a file


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


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """What :func:`stop_orphans` did with one run directory."""

    run_dir: pathlib.Path
    live: bool
    """The run's runner still lives: nothing of it was touched."""
    stopped: tuple[int, ...] = ()
    ours: bool = False
    """The run's runner is the calling process (an earlier run of ``--all-variants``): finished, not live."""


def read_record(pids_path: pathlib.Path) -> tuple[Identity | None, dict[str, Identity]]:
    """(runner, name → process) from a run's pids.json; unreadable or old-format entries are skipped."""
    try:
        record = json.loads(pids_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None, {}
    if not isinstance(record, dict) or "processes" not in record:
        return None, {}
    runner = Identity.from_dict(record.get("runner") or {})
    children = {name: identity for name, entry in (record.get("processes") or {}).items()
                if (identity := Identity.from_dict(entry)) is not None}
    return runner, children


def stop_orphans(pids_path: pathlib.Path, *, grace_seconds: float = 5.0) -> Cleanup:
    """Stop the processes a dead runner left behind; never touch a run whose runner still lives.

    A process is stopped only if its PID still runs the recorded start time and command line.
    """
    run_dir = pids_path.parent
    runner, children = read_record(pids_path)
    if runner is not None and runner.is_alive():
        return Cleanup(run_dir, live=True, ours=runner.pid == os.getpid())
    alive = [identity for identity in children.values() if identity.is_alive()]
    for identity in alive:
        _signal_group(identity.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(identity.is_alive() for identity in alive):
        time.sleep(0.05)
    for identity in alive:
        if identity.is_alive():
            _signal_group(identity.pid, signal.SIGKILL)
    return Cleanup(run_dir, live=False, stopped=tuple(identity.pid for identity in alive))


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group the child leads (it was started in its own session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_orphans_under(runs_dir: pathlib.Path) -> list[Cleanup]:
    """:func:`stop_orphans` for every run directory under ``runs_dir``."""
    return [stop_orphans(path) for path in sorted(pathlib.Path(runs_dir).glob("*/pids.json"))]
