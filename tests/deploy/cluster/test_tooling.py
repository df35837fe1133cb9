"""The helm/kubectl module, the kubectl-backed adapter and the helm test's chain check.

We test these aspects:

- a port-forward's local port is read from kubectl's "Forwarding from" line (a stand-in kubectl
  script on PATH), bound to 127.0.0.1, and closing it ends the process;
- a missing tool fails with one sentence naming what to install; a failing command with its stderr;
- KubectlKube asks kubectl for JSON and maps "Error from server (NotFound)" to NotFound;
- the chain check passes only when every expected service is among the hops.
"""
from __future__ import annotations

import http.server
import json
import os
import pathlib
import stat
import subprocess
import threading

import pytest

from controllers import kube
from deploy.cluster import chaintest, tooling

DATA = pathlib.Path(__file__).parents[2] / "controllers" / "data"


def fake_tool(directory: pathlib.Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_a_port_forward_reads_its_local_port_and_closes(tmp_path, monkeypatch) -> None:
    fake_tool(tmp_path, "kubectl", 'echo "$@" > "$(dirname "$0")/argv"\n'
                                   'echo "Forwarding from 127.0.0.1:43187 -> 9090"\nexec sleep 30\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    forward = tooling.Tools(context="kind-tailstorm").port_forward(namespace="ts", target="service/prometheus",
                                                                   remote_port=9090)
    assert forward.url == "http://127.0.0.1:43187" and forward.is_alive()
    forward.close()
    assert not forward.is_alive()
    assert (tmp_path / "argv").read_text().split() == ["--context", "kind-tailstorm", "port-forward", "--address",
                                                       "127.0.0.1", "-n", "ts", "service/prometheus", ":9090"]


def test_a_port_forward_that_never_forwards_says_why(tmp_path, monkeypatch) -> None:
    fake_tool(tmp_path, "kubectl", 'echo "error: services \\"prometheus\\" not found" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(tooling.CommandFailed, match='services "prometheus" not found'):
        tooling.Tools().port_forward(namespace="ts", target="service/prometheus", remote_port=9090)


def test_a_missing_tool_and_a_failing_command_say_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(tooling.CommandFailed, match="helm is not on PATH: install Helm 3.14"):
        tooling.Tools().helm(["version"])
    fake_tool(tmp_path, "helm", 'echo "Error: INSTALLATION FAILED: timed out waiting for the condition" >&2\nexit 1\n')
    with pytest.raises(tooling.CommandFailed, match="exited with 1:\nError: INSTALLATION FAILED"):
        tooling.Tools(context="kind-x").helm(["upgrade", "--install", "r", "chart"])


def test_kubectl_kube_reads_json_and_maps_not_found() -> None:
    calls = []

    def run(args: list[str]) -> str:
        calls.append(args)
        if args[:2] == ["get", "horizontalpodautoscalers.v2.autoscaling"]:
            raise subprocess.CalledProcessError(1, ["kubectl"], stderr='Error from server (NotFound): horizontalpodautoscalers.autoscaling "web" not found')
        return (DATA / ("scale.json" if "--raw" in args else "pods.json")).read_text()

    adapter = kube.KubectlKube(run=run)
    assert len(adapter.list_pods(namespace="tailstorm", label_selector="a=b")) == 4
    assert adapter.get_scale(namespace="tailstorm", kind="Deployment", name="inference")["spec"]["replicas"] == 4
    with pytest.raises(kube.NotFound):
        adapter.get_hpa(namespace="tailstorm", name="web")
    assert calls[:2] == [["get", "pods", "-n", "tailstorm", "-l", "a=b", "-o", "json"],
                         ["get", "--raw", "/apis/apps/v1/namespaces/tailstorm/deployments/inference/scale"]]


class Chain(http.server.BaseHTTPRequestHandler):
    hops: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.dumps({"hops": self.hops}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("hops, problem", [
    pytest.param(["gateway", "auth", "featurestore", "inference", "formatter"], None, id="all-five"),
    pytest.param(["gateway", "auth"], "did not pass through featurestore, formatter, inference", id="broken-chain"),
])
def test_the_chain_check_wants_every_service_among_the_hops(hops, problem) -> None:
    Chain.hops = hops
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Chain)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        found = chaintest.check_chain(f"http://127.0.0.1:{server.server_address[1]}",
                                      {"gateway", "auth", "featurestore", "inference", "formatter"})
    finally:
        server.shutdown()
        server.server_close()
    assert (found is None) if problem is None else (problem in found)
