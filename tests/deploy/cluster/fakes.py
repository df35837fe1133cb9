"""Recording fakes of the cluster backend's two seams: the helm/kubectl module (deploy/cluster/tooling.py)
and the Kubernetes adapter (controllers/kube.py), fed with objects shaped exactly as the API serves
them (tests/controllers/data). Port-forwards lead to real HTTP servers on 127.0.0.1: a fake
Prometheus/admin API by default, or whatever URL a test maps a target to."""
from __future__ import annotations

import contextlib
import copy
import http.server
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

from controllers import kube
from deploy.cluster import tooling

DATA = pathlib.Path(__file__).parents[2] / "controllers" / "data"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


class FakeApiServer(http.server.ThreadingHTTPServer):
    """Stands for what the port-forwards reach: Prometheus and a pod's admin API (real HTTP on 127.0.0.1)."""

    def __init__(self) -> None:
        self.fault_posts: list[tuple[str, dict, str]] = []
        self.first_request_pods: list[str] = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def answer(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path == "/-/ready":
                self.answer(200, {})
            elif self.path.startswith("/api/v1/query"):
                result = [{"metric": {"replica": pod, "service": "inference"}, "value": [0, "3"]}
                          for pod in self.server.first_request_pods]
                self.answer(200, {"status": "success", "data": {"resultType": "vector", "result": result}})
            else:
                self.answer(404, {})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.loads(raw) if raw else {}  # Envoy's /runtime_modify takes its values in the query
            self.server.fault_posts.append((self.path, body, self.headers.get("x-tailstorm-admin-token", "")))
            self.answer(200, body)


class FakeForward:
    def __init__(self, url: str, target: str) -> None:
        self.url, self.target, self.closed = url, target, False

    def close(self) -> None:
        self.closed = True


class FakeTools:
    """Records every helm command and port-forward; forwards lead to the fake API server."""

    def __init__(self, server: FakeApiServer, *, fail_helm: bool = False, routes: dict[str, str] | None = None) -> None:
        self.server, self.fail_helm = server, fail_helm
        self.routes = routes or {}
        """Port-forward target (``service/gateway``) → URL it leads to; the rest lead to ``server``."""
        self.commands: list[tuple[str, ...]] = []
        self.forwards: list[FakeForward] = []

    def helm(self, args: list[str], *, timeout_seconds: float = 600) -> str:
        self.commands.append(("helm", *args))
        if self.fail_helm:
            raise tooling.CommandFailed("helm upgrade exited with 1:\nError: INSTALLATION FAILED: context deadline exceeded")
        return ""

    def port_forward(self, *, namespace: str, target: str, remote_port: int) -> FakeForward:
        self.commands.append(("port-forward", namespace, target, str(remote_port)))
        forward = FakeForward(self.routes.get(target, f"http://127.0.0.1:{self.server.server_address[1]}"), target)
        self.forwards.append(forward)
        return forward


class FakeKube:
    """Serves API objects from recorded JSON and records every call (controllers/kube.Kube)."""

    def __init__(self) -> None:
        self.actions: list[tuple[Any, ...]] = []
        template = load("scale.json")
        self.scales = {}
        for service in ("gateway", "auth", "featurestore", "inference", "formatter"):
            scale = copy.deepcopy(template)
            scale["metadata"]["name"] = service
            scale["spec"]["replicas"] = scale["status"]["replicas"] = 1
            scale["status"]["selector"] = f"app.kubernetes.io/instance=tailstorm,app.kubernetes.io/name={service}"
            self.scales[service] = scale
        self.scales["inference"]["spec"]["replicas"] = 2
        every_pod = load("pods.json")["items"]
        self.pods = [p for p in every_pod if p["metadata"]["name"].endswith(("x2kqp", "m8w4t"))]
        hpa = load("hpa.json")
        hpa["status"].pop("lastScaleTime")
        hpa["status"]["currentMetrics"][0]["resource"]["current"] = {"averageValue": "210m", "averageUtilization": 42}
        self.hpa = hpa
        self.events = [e for e in load("events.json")["items"] if e["reason"] != "SuccessfulRescale"]

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict]:
        self.actions.append(("list", "pods", namespace, label_selector))
        wanted = dict(pair.split("=", 1) for pair in label_selector.split(","))
        return [p for p in self.pods if wanted.items() <= p["metadata"]["labels"].items()]

    def get_hpa(self, *, namespace: str, name: str) -> dict:
        self.actions.append(("get", "horizontalpodautoscalers", namespace, name))
        if name != "inference":
            raise kube.NotFound(f"horizontalpodautoscalers {name} not found", status=404)
        return self.hpa

    def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict]:
        self.actions.append(("list", "events", namespace, kind, name))
        return [e for e in self.events if e["involvedObject"]["name"] == name]

    def get_scale(self, *, namespace: str, kind: str, name: str) -> dict:
        self.actions.append(("get", f"{kind}/scale", namespace, name))
        return self.scales[name]

    def patch_scale(self, *, namespace: str, kind: str, name: str, replicas: int) -> dict:
        self.actions.append(("patch", f"{kind}/scale", namespace, name, replicas))
        self.scales[name]["spec"]["replicas"] = replicas
        return self.scales[name]

    # -- what happens in the cluster between polls --------------------------------------------

    def hpa_scales_up(self) -> None:
        """The recorded spike: two rescales (2 → 3 → 4), their pods, the status above target."""
        self.hpa = load("hpa.json")
        self.events = load("events.json")["items"]
        self.pods = load("pods.json")["items"]
        self.scales["inference"]["spec"]["replicas"] = 4

    def later(self) -> None:
        self.pods = load("pods-later.json")["items"]

    def scale_down_and_crash(self) -> None:
        """One pod terminating (30 s grace), one gone, one container restarted after a crash."""
        pods = copy.deepcopy(load("pods-later.json")["items"])
        by_name = {p["metadata"]["name"].rsplit("-", 1)[1]: p for p in pods}
        by_name["h5vcj"]["metadata"].update(deletionTimestamp="2024-05-01T12:08:30Z", deletionGracePeriodSeconds=30)
        container = by_name["x2kqp"]["status"]["containerStatuses"][0]
        container["restartCount"] = 1
        container["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "startedAt": "2024-05-01T11:37:58Z",
                                                 "finishedAt": "2024-05-01T12:07:12Z", "containerID": "containerd://4f1e"}}
        self.pods = [p for name, p in by_name.items() if name != "r7bzn"]


@contextlib.contextmanager
def running_api_server() -> Iterator[FakeApiServer]:
    """A FakeApiServer serving on 127.0.0.1 until the block ends."""
    server = FakeApiServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
