"""The kind/cluster backend: the scenario's stack as a Helm release, with the local backend's interface.

``up``: turn the scenario into chart values (deploy/cluster/values.py), ``helm upgrade --install
--wait`` into the namespace, open port-forwards on 127.0.0.1 to the entry Service and to
Prometheus, and start the timeline thread. ``down``: stop it, close the forwards, ``helm
uninstall`` (unless ``keep``). In between, ``scale`` writes a Deployment's scale subresource,
``replica_count`` and ``pod_statuses`` read the API, ``set_faults`` reaches each pod's admin API
through a port-forward to that pod (the API is behind no Service), ``set_proxy_faults`` each of the
service's Envoy pods' admin API the same way, and ``endpoints`` says where things are. Killing,
replacing and partitioning pods are not supported on a cluster yet (each raises and says why).

The run's ``events.jsonl`` gets the local backend's event types, read back from the API objects
through the thin adapter (controllers/kube.py, controllers/lagrecording.py): ``pod_created`` …
``pod_ready``, ``pod_draining``, ``pod_deleted``, ``pod_died`` for every service,
``hpa_decision`` and ``scale`` for each rescale of an autoscaled one, ``metric_crossed_target``
when an HPA's observed metric goes above its target, ``pod_first_request`` when Prometheus first
counts a request of a pod (``fault`` events are the fault executor's). Times come from the objects where the API keeps
them, else from the poll that saw the change (``poll_interval_seconds``).

Every helm and kubectl call goes through deploy/cluster/tooling.py, so tests run the whole
sequence against a recording fake fed with objects shaped as the API serves them.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import secrets
import threading
import time
from typing import Any

import httpx
import yaml

from controllers import kube, lagrecording
from schema import events as events_module
from deploy.cluster import tooling
from deploy.local import processes
from deploy.cluster import values as values_module
from deploy.envoy import render as envoy_render
from deploy.prometheus import client as prometheus_client
from services.common import faults as faults_module

logger = logging.getLogger(__name__)

KIND_CLUSTER = "tailstorm"
PROMETHEUS_SERVICE = "prometheus"
PROMETHEUS_PORT = 9090


class ClusterError(processes.BackendError):
    """The cluster backend cannot go on; the message says what failed and what to do."""


@dataclasses.dataclass(frozen=True)
class ClusterSettings:
    """Where and how the release is installed."""

    context: str | None = None
    """kube context (``kind-tailstorm`` for `make cluster-up`); None: kubectl's current context."""
    namespace: str = "tailstorm"
    """The release owns this namespace (names carry no release prefix)."""
    release: str = "tailstorm"
    chart: pathlib.Path = values_module.CHART_DIR
    image_repository: str = "tailstorm"
    image_tag: str = "0.1.0"
    keep: bool = False
    """Leave the release installed after ``down`` (inspect it with kubectl, uninstall later)."""
    ready_timeout_seconds: float = 300.0
    """``helm --wait`` bound: every Deployment available, cold image pulls included."""
    poll_interval_seconds: float = 1.0
    """Timeline poll period; event times without an API timestamp have this precision."""


class ClusterBackend:
    """One scenario's stack on a cluster; use as a context manager or call ``up`` and ``down``."""

    def __init__(self, scenario, run_dir: pathlib.Path, *, events: events_module.EventLog,
                 settings: ClusterSettings = ClusterSettings(), tools: tooling.Tools | None = None,
                 kube_api: kube.Kube | None = None) -> None:
        self.scenario = scenario
        self.run_dir = pathlib.Path(run_dir).resolve()
        self.events = events
        self.settings = settings
        self.tools = tools or tooling.Tools(context=settings.context)
        self.kube = kube_api or kube.KubectlKube(run=self.tools.kubectl_raw)
        self.admin_token = secrets.token_hex(16)
        self.dir = self.run_dir / "backend"
        self.entry_forward: tooling.PortForward | None = None
        self.prometheus_forward: tooling.PortForward | None = None
        self.prometheus_url = ""
        self.prometheus_api: prometheus_client.Prometheus | None = None
        self.installed = False
        self._watchers: list[lagrecording.PodWatcher] = []
        self._recorders: list[lagrecording.LagRecorder] = []
        self._above: dict[tuple[str, str], bool] = {}
        self._first_requests: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=5.0)

    @classmethod
    def for_kind(cls, scenario, run_dir: pathlib.Path, *, events: events_module.EventLog,
                 cluster_name: str = KIND_CLUSTER, **settings: Any) -> ClusterBackend:
        """The backend on the kind cluster `make cluster-up` created (context ``kind-<name>``)."""
        return cls(scenario, run_dir, events=events, settings=ClusterSettings(context=f"kind-{cluster_name}", **settings))

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ClusterBackend:
        self.up()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.down()

    def up(self) -> None:
        """Install (or upgrade) the release, wait until it serves, open the forwards, start recording."""
        self.dir.mkdir(parents=True, exist_ok=True)
        values_path = self.dir / "values.yaml"
        values_path.write_text(yaml.safe_dump(self.values(), sort_keys=False), encoding="utf-8")
        try:
            self.tools.helm(["upgrade", "--install", self.settings.release, str(self.settings.chart),
                             "--namespace", self.settings.namespace, "--create-namespace", "--values", str(values_path),
                             "--wait", "--timeout", f"{int(self.settings.ready_timeout_seconds)}s"],
                            timeout_seconds=self.settings.ready_timeout_seconds + 60)
            self.installed = True
            self._start_recorders()
            self.record_once()
            self.entry_forward = self.tools.port_forward(namespace=self.settings.namespace, target=f"service/{self.scenario.entry}",
                                                         remote_port=values_module.SERVICE_PORT)
            self.prometheus_forward = self.tools.port_forward(namespace=self.settings.namespace,
                                                              target=f"service/{PROMETHEUS_SERVICE}",
                                                              remote_port=PROMETHEUS_PORT)
            self.prometheus_url = self.prometheus_forward.url
            self.prometheus_api = prometheus_client.Prometheus(self.prometheus_url, timeout_seconds=2.0)
            self._wait_for(self.prometheus_api.is_ready, what="Prometheus through its port-forward")
        except BaseException:
            self.down()
            raise
        self._thread = threading.Thread(target=self._record_until_down, name="cluster-timeline", daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop recording, close the forwards, uninstall the release unless ``keep``; idempotent."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        if self.installed:
            try:
                self.record_once()  # the last pod exits and rescales before the objects go
            except (kube.KubeError, tooling.CommandFailed) as exc:
                logger.warning("last timeline poll failed: %s", exc)
        for forward in (self.entry_forward, self.prometheus_forward):
            if forward is not None:
                forward.close()
        if self.installed and not self.settings.keep:
            self.tools.helm(["uninstall", self.settings.release, "--namespace", self.settings.namespace, "--wait"],
                            timeout_seconds=300)
            self.installed = False
        self._http.close()
        if self.prometheus_api is not None:
            self.prometheus_api.close()

    def values(self) -> dict[str, Any]:
        """The values this run installs: the scenario's, the image, the run's admin token."""
        chart_values = values_module.chart_values(self.scenario)
        chart_values["image"] = {"repository": self.settings.image_repository, "tag": self.settings.image_tag}
        chart_values["adminToken"] = {"value": self.admin_token}
        return chart_values

    # -- the backend interface -----------------------------------------------------------------

    def endpoints(self) -> dict:
        """The entry URL Locust targets and Prometheus, both port-forwards on 127.0.0.1."""
        return {"entry_url": self.entry_forward.url if self.entry_forward else "",
                "prometheus_url": self.prometheus_url, "admin_token": self.admin_token,
                "namespace": self.settings.namespace, "context": self.settings.context,
                "release": self.settings.release}

    def replica_count(self, service: str) -> int:
        """``spec.replicas`` of the service's Deployment: what the HPA (or ``scale``) asked for."""
        return int(self._scale(service)["spec"].get("replicas", 0))

    def pod_statuses(self, service: str) -> list[dict]:
        """The service's pods as :meth:`LocalBackend.pod_statuses` shows them (epoch seconds)."""
        return [pod_status(pod) for pod in self._pods(service)]

    def scale(self, service: str, replicas: int, *, reason: str = "manual") -> None:
        """Write the Deployment's scale (an HPA on it may change it again at its next sync)."""
        if service not in self.scenario.services:
            raise ClusterError(f"unknown service {service!r}; known: {', '.join(self.scenario.services)}")
        if replicas < 1:
            raise ClusterError(f"replicas must be at least 1, got {replicas}")
        current = self.replica_count(service)
        if replicas == current:
            return
        self.events.emit(events_module.SCALE, service=service, from_replicas=current, to_replicas=replicas, reason=reason)
        self.kube.patch_scale(namespace=self.settings.namespace, kind="Deployment", name=service, replicas=replicas)

    def set_faults(self, service: str, faults: dict, *, pods: list[str] | None = None) -> list[str]:
        """Replace the faults of every Running pod of ``service`` (or the named ``pods``) through its
        admin API, reached by a port-forward to the pod; returns the pods set (named pods gone since
        are skipped). Unknown fields are refused by the service (FaultState) with 422."""
        chosen = [p["metadata"]["name"] for p in self._pods(service)
                  if p.get("status", {}).get("phase") == "Running" and (pods is None or p["metadata"]["name"] in pods)]
        if not chosen and pods is None:
            raise ClusterError(f"no running pod of {service!r} to fault")
        for name in chosen:
            self._post_through_forward(name, values_module.APP_PORT, "/admin/faults", json=faults,
                                       headers={faults_module.TOKEN_HEADER: self.admin_token})
        return chosen

    def set_proxy_faults(self, service: str, *, abort_percent: int = 0, abort_status: int = 503,
                         delay_percent: int = 0, delay_seconds: float = 0.0) -> None:
        """Switch the fault filter of every Running Envoy pod of ``service`` through its admin API
        (``/runtime_modify``, a port-forward to the pod: the admin binds the pod's 127.0.0.1)."""
        if service not in self.scenario.proxy_fault_services():
            raise ClusterError(f"the {service} proxy runs without the fault filter (the scenario schedules no "
                               "dependency fault on it); add the fault to the scenario's faults")
        values = envoy_render.fault_runtime(abort_percent=abort_percent, abort_status=abort_status,
                                            delay_percent=delay_percent, delay_seconds=delay_seconds)
        selector = (f"app.kubernetes.io/instance={self.settings.release},app.kubernetes.io/name={service},"
                    "app.kubernetes.io/component=envoy")
        proxies = [p["metadata"]["name"] for p in self.kube.list_pods(namespace=self.settings.namespace,
                                                                      label_selector=selector)
                   if p.get("status", {}).get("phase") == "Running"]
        if not proxies:
            raise ClusterError(f"no running Envoy pod of {service!r} to fault")
        for name in proxies:
            self._post_through_forward(name, values_module.PROXY_ADMIN_PORT, "/runtime_modify", params=values)

    def kill_pods(self, service: str, pods: list[str]) -> list[str]:
        raise ClusterError("killing pods is not supported on a cluster yet: the ReplicaSet replaces a deleted pod at "
                           "once, so the fault's window would not hold; meanwhile `kubectl delete pod` does it by hand")

    def replace_pods(self, service: str, count: int) -> list[str]:
        raise ClusterError("replacing pods is not supported on a cluster yet: the ReplicaSet does it by itself")

    def set_partitioned(self, service: str, pods: list[str], *, partitioned: bool) -> list[str]:
        raise ClusterError("partitioning a pod from its Envoy is not supported on a cluster yet (it needs a "
                           "NetworkPolicy per pod that the CNI enforces)")

    def _post_through_forward(self, pod: str, remote_port: int, path: str, **request: Any) -> None:
        forward = self.tools.port_forward(namespace=self.settings.namespace, target=f"pod/{pod}", remote_port=remote_port)
        try:
            response = self._http.post(f"{forward.url}{path}", **request)
        except httpx.HTTPError as exc:
            raise ClusterError(f"{pod}: {path} did not answer through its port-forward ({exc})") from exc
        finally:
            forward.close()
        if response.status_code != 200:
            raise ClusterError(f"{pod}: {path} answered {response.status_code}: {response.text[:200]}")

    # -- the timeline ----------------------------------------------------------------------------

    def record_once(self, *, now: float | None = None) -> None:
        """One poll of every watcher and recorder, the HPAs' metrics and the first requests."""
        now = time.time() if now is None else now
        for watcher in self._watchers:
            watcher.record_once(now=now)
        for recorder in self._recorders:
            recorder.record_once()
        for service in self.scenario.autoscaling:
            self._note_crossings(service, now)
        if self.prometheus_url:
            self._notice_first_requests(now)

    def _start_recorders(self) -> None:
        namespace = self.settings.namespace
        for service in self.scenario.services:
            selector = self._scale(service).get("status", {}).get("selector", "")
            self._watchers.append(lagrecording.PodWatcher(kube_api=self.kube, event_log=self.events, namespace=namespace,
                                                          selector=selector, service=service))
        for service in self.scenario.autoscaling:
            self._recorders.append(lagrecording.LagRecorder(
                kube_api=self.kube, event_log=self.events, namespace=namespace, hpa_name=service, service=service,
                initial_replicas=self.replica_count(service), include_pods=False, emit_scale=True))

    def _record_until_down(self) -> None:
        while not self._stopping.wait(self.settings.poll_interval_seconds):
            try:
                self.record_once()
            except Exception:
                # like a controller's failed sync: log, poll again next period; a transient API or
                # port-forward error must not end the timeline for the rest of the run
                logger.exception("timeline poll failed; retrying next period")

    def _note_crossings(self, service: str, now: float) -> None:
        """``metric_crossed_target`` when a metric the HPA observes goes from at-or-below to above target."""
        hpa = self.kube.get_hpa(namespace=self.settings.namespace, name=service)
        for metric, value, target in hpa_metric_levels(hpa):
            key = (service, metric)
            above = value is not None and value > target
            if above and not self._above.get(key, False):
                self.events.emit(events_module.METRIC_CROSSED_TARGET, time_seconds=now, service=service, metric=metric,
                                 value=value, target=target, seen_at_sync=now)
            self._above[key] = above

    def _notice_first_requests(self, now: float) -> None:
        query = "sum by (replica, service) (tailstorm_request_duration_seconds_count) > 0"
        try:
            result = self.prometheus_api.instant(query) if self.prometheus_api else []
        except prometheus_client.PrometheusError:
            return  # the forward dropped or Prometheus is busy: try again next poll
        for labels, _ in result:
            pod, service = labels.get("replica"), labels.get("service")
            if pod and pod not in self._first_requests:
                self._first_requests.add(pod)
                self.events.emit(events_module.POD_FIRST_REQUEST, time_seconds=now, service=service, pod=pod)

    # -- helpers ---------------------------------------------------------------------------------

    def _scale(self, service: str) -> dict[str, Any]:
        return self.kube.get_scale(namespace=self.settings.namespace, kind="Deployment", name=service)

    def _pods(self, service: str) -> list[dict[str, Any]]:
        selector = self._scale(service).get("status", {}).get("selector", "")
        return self.kube.list_pods(namespace=self.settings.namespace, label_selector=selector) if selector else []

    def _wait_for(self, condition, *, what: str, timeout_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not condition():
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out after {timeout_seconds:g} s waiting for {what}; see docs/kubernetes.md "
                                   "(a port-forward that dropped)")
            time.sleep(0.2)


def pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    """One pod as the autoscaler's observation reads it (LocalBackend.pod_statuses' shape)."""
    status = pod.get("status", {})
    ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
    is_ready = ready is not None and ready.get("status") == "True"
    since = lagrecording.epoch_seconds(ready.get("lastTransitionTime")) if ready else None
    return {"name": pod["metadata"]["name"], "phase": status.get("phase", "Pending"), "ready": is_ready,
            "created_at": lagrecording.epoch_seconds(pod["metadata"].get("creationTimestamp")),
            "start_time": lagrecording.epoch_seconds(status.get("startTime")),
            "ready_since": since if is_ready else None, "unready_since": since if not is_ready else None}


def hpa_metric_levels(hpa: dict[str, Any]) -> list[tuple[str, float | None, float]]:
    """(metric, current average, target) per metric of an HPA, as its status reports them.

    cpu Utilization in percent; Pods metrics by their averageValue (quantities such as ``4500m``).
    """
    from controllers.hpa import quantity  # noqa: PLC0415 (pure parsing of API quantities)

    current = {metric_name(m): m for m in hpa.get("status", {}).get("currentMetrics") or []}
    levels = []
    for spec in hpa["spec"].get("metrics", []):
        name = metric_name(spec)
        kind = spec["type"].lower()
        target = spec[kind]["target"]
        observed = current.get(name, {}).get(kind, {}).get("current", {})
        if target.get("type") == "Utilization":
            value = observed.get("averageUtilization")
            levels.append((name, None if value is None else float(value), float(target["averageUtilization"])))
        elif target.get("type") == "AverageValue":
            value = observed.get("averageValue")
            levels.append((name, None if value is None else quantity.milli_value(value) / 1000,
                           quantity.milli_value(target["averageValue"]) / 1000))
    return levels


def metric_name(metric: dict[str, Any]) -> str:
    kind = metric["type"]
    if kind == "Resource":
        return metric["resource"]["name"]
    if kind == "Pods":
        return metric["pods"]["metric"]["name"]
    return kind.lower()
