"""The one image, built for real from an offline base and run (opt-in: ``make image-test``).

We test these aspects:

- deploy/scripts/build-image.sh builds the image FROM a Debian base made here with debootstrap
  and ``docker import`` (no registry), on an isolated Docker engine (own socket, data root and
  exec root, no bridge, no iptables) that the test starts and removes;
- each of the five services starts from the image (TAILSTORM_SERVICE chooses), as a non-root
  user (uid 10001), and answers ``/healthz``; ``envoy --version`` runs from the same image.

It takes minutes and needs root, dockerd and debootstrap, so ``make test`` skips it unless
TAILSTORM_IMAGE_TEST=1; the skip says which of these is missing. Build time and image size are
printed and written to ``build/image-test.json``.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time

import httpx
import pytest

from deploy.local import processes
from services.common import settings as service_settings

REPO = pathlib.Path(__file__).resolve().parents[3]
IMAGE = "tailstorm:image-test"
BASE = "tailstorm/bookworm-offline:test"
MIRROR = os.environ.get("TAILSTORM_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def why_not() -> str | None:
    if os.environ.get("TAILSTORM_IMAGE_TEST") != "1":
        return "builds a Docker image for minutes: run `make image-test` (sets TAILSTORM_IMAGE_TEST=1)"
    if os.geteuid() != 0:
        return "starting a Docker engine and debootstrap need root"
    for tool in ("dockerd", "docker", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: `make image-test` installs it with apt (deploy/scripts/ensure-docker.sh)"
    return None


pytestmark = [pytest.mark.skipif(why_not() is not None, reason=why_not() or ""), pytest.mark.timeout(1800)]


def run(argv: list[str], env: dict, *, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An isolated dockerd; stopped, unmounted and its data root removed afterwards."""
    root = tmp_path_factory.mktemp("docker")
    socket = root / "docker.sock"
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket}"}
    log = open(root / "dockerd.log", "w")
    daemon = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"), "--pidfile", str(root / "pid"),
         "-H", f"unix://{socket}", "--bridge=none", "--iptables=false", "--ip-masq=false",
         "--containerd-namespace", "tailstorm-test", "--containerd-plugins-namespace", "tailstorm-test-plugins"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        processes.wait_until(lambda: run(["docker", "info"], env, check=False, timeout=10).returncode == 0,
                             timeout_seconds=60, what="the test's Docker engine")
        yield env, root
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        # dockerd leaves its default network namespace mounted under the exec root
        mounts = [line.split()[1] for line in pathlib.Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(root))]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def image(engine, tmp_path_factory) -> dict:
    env, _ = engine
    rootfs = tmp_path_factory.mktemp("rootfs")
    figures = {}
    started = time.monotonic()
    run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,passwd", "bookworm", str(rootfs), MIRROR],
        env, timeout=900)
    figures["debootstrap_seconds"] = round(time.monotonic() - started, 1)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["docker", "import", "-", BASE], stdin=tar.stdout, env=env, check=True, capture_output=True)
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    started = time.monotonic()
    context = tmp_path_factory.mktemp("context")
    try:
        build = run([str(REPO / "deploy/scripts/build-image.sh")],
                    {**env, "IMAGE": IMAGE, "BASE_IMAGE": BASE, "IMAGE_CONTEXT": str(context),
                     "PYTHON": str(pathlib.Path(os.sys.executable)), "KIND_CLUSTER": "none"}, timeout=1800)
    finally:
        shutil.rmtree(context, ignore_errors=True)  # the downloaded wheels (about 60 MB)
    figures["build_seconds"] = round(time.monotonic() - started, 1)
    figures["image_bytes"] = int(run(["docker", "image", "inspect", IMAGE, "--format", "{{.Size}}"], env).stdout)
    figures["base_bytes"] = int(run(["docker", "image", "inspect", BASE, "--format", "{{.Size}}"], env).stdout)
    figures["build_log_tail"] = build.stdout.splitlines()[-2:]
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "image-test.json").write_text(json.dumps(figures, indent=1))
    print(f"\nimage figures: {figures}")
    return figures


def test_envoy_from_the_image_reports_its_version(engine, image) -> None:
    env, _ = engine
    done = run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "envoy", IMAGE, "--version"], env)
    assert "version:" in done.stdout and "RELEASE" in done.stdout


@pytest.mark.parametrize("service", service_settings.SERVICE_NAMES)
def test_each_service_runs_non_root_and_answers_healthz(engine, image, service: str) -> None:
    env, _ = engine
    port = processes.free_port()
    name = f"tailstorm-image-test-{service}"
    run(["docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
         "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-e", f"TAILSTORM_SERVICE={service}",
         "-e", f"TAILSTORM_PORT={port}", "-e", "TAILSTORM_HOST=127.0.0.1", IMAGE], env)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        processes.wait_until(healthy, timeout_seconds=60, what=f"{service}'s /healthz in the container")
        assert run(["docker", "exec", name, "id", "-u"], env).stdout.strip() == "10001"
    finally:
        run(["docker", "rm", "-f", name], env, check=False)
