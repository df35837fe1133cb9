"""Every helm and kubectl invocation of the cluster backend goes through :class:`Tools`.

One small surface (``helm``, ``kubectl``, ``port_forward``) so tests replace it with a recording
fake, and so every command carries the same ``--kube-context``. Failures raise
:class:`CommandFailed` with the command and the tool's own last lines, never a bare traceback.
Port-forwards bind 127.0.0.1 only and let kubectl pick a free local port (``:REMOTE``), read back
from its "Forwarding from" line, so two runs never race for a port.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time

from deploy.local import processes

HINTS = {
    "helm": "install Helm 3.14 or newer (https://helm.sh/docs/intro/install/; `make check-tools` says what is missing)",
    "kubectl": "install kubectl within one minor version of the cluster (`make check-tools` says what is missing)",
}
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(?P<port>\d+) ->")


class CommandFailed(processes.BackendError):
    """A helm or kubectl command failed; the message names it and ends with its stderr."""


class PortForward:
    """A running ``kubectl port-forward`` on 127.0.0.1; ``url`` is where the target answers."""

    def __init__(self, popen: subprocess.Popen, *, local_port: int, target: str) -> None:
        self.popen = popen
        self.local_port = local_port
        self.target = target

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Tools:
    """helm and kubectl against one kube context (None: the current one)."""

    def __init__(self, *, context: str | None = None, helm_bin: str = "helm", kubectl_bin: str = "kubectl") -> None:
        self.context = context
        self.helm_bin = helm_bin
        self.kubectl_bin = kubectl_bin

    def helm(self, args: list[str], *, timeout_seconds: float = 600) -> str:
        context = ["--kube-context", self.context] if self.context else []
        return self._run([self._binary(self.helm_bin, "helm"), *args, *context], timeout_seconds)

    def kubectl(self, args: list[str], *, timeout_seconds: float = 60) -> str:
        context = ["--context", self.context] if self.context else []
        return self._run([self._binary(self.kubectl_bin, "kubectl"), *context, *args], timeout_seconds)

    def kubectl_raw(self, args: list[str]) -> str:
        """kubectl for :class:`controllers.kube.KubectlKube`: raises CalledProcessError with stderr."""
        context = ["--context", self.context] if self.context else []
        done = subprocess.run([self._binary(self.kubectl_bin, "kubectl"), *context, *args], capture_output=True,
                              text=True, timeout=60, check=True)
        return done.stdout

    def port_forward(self, *, namespace: str, target: str, remote_port: int,
                     timeout_seconds: float = 30) -> PortForward:
        """``kubectl port-forward --address 127.0.0.1 TARGET :REMOTE``; waits for its local port."""
        context = ["--context", self.context] if self.context else []
        argv = [self._binary(self.kubectl_bin, "kubectl"), *context, "port-forward", "--address", "127.0.0.1",
                "-n", namespace, target, f":{remote_port}"]
        # its own session, and SIGTERM when the runner dies: a killed run leaves no forward behind
        popen = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 start_new_session=True, preexec_fn=processes.die_with_parent)
        found: dict[str, int] = {}
        lines: list[str] = []

        def read() -> None:
            for line in popen.stdout:  # type: ignore[union-attr]
                lines.append(line.rstrip())
                match = _FORWARDING.search(line)
                if match and "port" not in found:
                    found["port"] = int(match["port"])

        reader = threading.Thread(target=read, name=f"port-forward {target}", daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout_seconds
        while "port" not in found:
            if popen.poll() is not None or time.monotonic() > deadline:
                popen.kill()
                popen.wait()
                reader.join(timeout=5)  # kubectl's last words, read to the end of its output
                raise CommandFailed(f"kubectl port-forward {target} did not start: " + " | ".join(lines[-5:]))
            time.sleep(0.05)
        return PortForward(popen, local_port=found["port"], target=target)

    @staticmethod
    def _binary(name: str, tool: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise CommandFailed(f"{tool} is not on PATH: {HINTS[tool]}")
        return path

    @classmethod
    def find(cls, tool: str) -> str:
        """The path of ``helm`` or ``kubectl``; CommandFailed with the install hint when missing."""
        return cls._binary(tool, tool)

    @staticmethod
    def _run(argv: list[str], timeout_seconds: float) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_seconds)
        except subprocess.TimeoutExpired as exc:
            raise CommandFailed(f"{' '.join(argv)} took longer than {timeout_seconds:g} s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
            raise CommandFailed(f"{' '.join(argv)} exited with {done.returncode}:\n{tail}")
        return done.stdout
