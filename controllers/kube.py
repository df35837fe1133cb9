"""The few Kubernetes API calls the controllers make, behind one small interface.

Everything returns plain ``dict`` objects shaped exactly as the API server serves them (camelCase
keys, RFC3339 strings), so the code that reads them can be tested with recorded JSON and a fake
(``tests/controllers``), and the HTTP client could be swapped without touching it.

API failures are translated once, here, into this module's errors (kopf's ``check_response``
pattern): 404 -> :class:`NotFound` (the object is gone: stop), 409 -> :class:`Conflict` (someone else
wrote first: retry on the next loop), anything else -> :class:`KubeError`. The original exception is
chained with ``raise ... from``.

:class:`ClientKube` wraps the official ``kubernetes`` client, imported lazily so the package is
only needed when a real cluster is used.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

# Scale targets we know how to find: kind -> (API group client attribute, pluralised read/patch suffix).
_SCALE_CALLS = {
    "Deployment": ("apps", "namespaced_deployment_scale"),
    "StatefulSet": ("apps", "namespaced_stateful_set_scale"),
    "ReplicaSet": ("apps", "namespaced_replica_set_scale"),
    "ReplicationController": ("core", "namespaced_replication_controller_scale"),
}


class KubeError(Exception):
    """The API call failed for a reason the caller cannot fix by waiting."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    """404: the object does not exist (any more). Stop; do not retry."""


class Conflict(KubeError):
    """409: the object changed under us. Retry on the next loop with a fresh read."""


class Kube(Protocol):
    """What the controllers need from the cluster. Every object is the API's JSON as a dict."""

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    def get_hpa(self, *, namespace: str, name: str) -> dict[str, Any]: ...

    def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        """Core/v1 Events whose ``involvedObject`` is that object."""
        ...

    def get_scale(self, *, namespace: str, kind: str, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale subresource: ``spec.replicas``, ``status.replicas``, ``status.selector``."""
        ...

    def patch_scale(self, *, namespace: str, kind: str, name: str, replicas: int) -> dict[str, Any]: ...


def error_for_status(status: int | None, message: str) -> KubeError:
    """The error to raise for an HTTP status from the API server."""
    if status == 404:
        return NotFound(message, status=status)
    if status == 409:
        return Conflict(message, status=status)
    return KubeError(message, status=status)


class ClientKube:
    """:class:`Kube` over the official ``kubernetes`` Python client."""

    def __init__(self, *, api_client: Any) -> None:
        from kubernetes import client  # lazy: only a real cluster needs the package

        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._autoscaling = client.AutoscalingV2Api(api_client)

    @classmethod
    def from_environment(cls) -> ClientKube:
        """In a pod, the service account; elsewhere ``~/.kube/config`` (``KUBECONFIG``)."""
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(api_client=client.ApiClient())

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return self._call(self._core.list_namespaced_pod, namespace, label_selector=label_selector)["items"]

    def get_hpa(self, *, namespace: str, name: str) -> dict[str, Any]:
        return self._call(self._autoscaling.read_namespaced_horizontal_pod_autoscaler, name, namespace)

    def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        return self._call(self._core.list_namespaced_event, namespace, field_selector=selector)["items"]

    def get_scale(self, *, namespace: str, kind: str, name: str) -> dict[str, Any]:
        return self._call(self._scale_method("read", kind), name, namespace)

    def patch_scale(self, *, namespace: str, kind: str, name: str, replicas: int) -> dict[str, Any]:
        body = {"spec": {"replicas": replicas}}
        return self._call(self._scale_method("patch", kind), name, namespace, body)

    def _scale_method(self, verb: str, kind: str) -> Callable[..., Any]:
        if kind not in _SCALE_CALLS:
            raise KubeError(f"cannot scale a {kind}; known kinds: {', '.join(sorted(_SCALE_CALLS))}")
        group, suffix = _SCALE_CALLS[kind]
        api = self._apps if group == "apps" else self._core
        return getattr(api, f"{verb}_{suffix}")

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call, return the raw JSON (exactly as served), and translate API errors once."""
        from kubernetes.client.exceptions import ApiException

        try:
            response = method(*args, _preload_content=False, **kwargs)
        except ApiException as e:
            raise error_for_status(e.status, f"{method.__name__}: {e.status} {e.reason}") from e
        return json.loads(response.data)


# kubectl's "Error from server (Reason): ..." → the HTTP status the API server answered with.
_KUBECTL_REASONS = {"NotFound": 404, "Conflict": 409, "AlreadyExists": 409, "Forbidden": 403, "Unauthorized": 401}


class KubectlKube:
    """:class:`Kube` over ``kubectl ... -o json``: no Python client needed, only the kubectl a
    cluster user has anyway. ``run`` takes kubectl's arguments and returns its stdout, raising
    ``subprocess.CalledProcessError`` on failure (deploy/cluster/tooling.py provides it)."""

    def __init__(self, *, run: Callable[[list[str]], str]) -> None:
        self._run = run

    def list_pods(self, *, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return self._json(["get", "pods", "-n", namespace, "-l", label_selector])["items"]

    def get_hpa(self, *, namespace: str, name: str) -> dict[str, Any]:
        return self._json(["get", "horizontalpodautoscalers.v2.autoscaling", name, "-n", namespace])

    def list_events(self, *, namespace: str, kind: str, name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        return self._json(["get", "events", "-n", namespace, "--field-selector", selector])["items"]

    def get_scale(self, *, namespace: str, kind: str, name: str) -> dict[str, Any]:
        return self._json(["get", "--raw", _scale_path(namespace, kind, name)], output=False)

    def patch_scale(self, *, namespace: str, kind: str, name: str, replicas: int) -> dict[str, Any]:
        body = json.dumps({"spec": {"replicas": replicas}})
        return self._json(["patch", kind.lower(), name, "-n", namespace, "--subresource=scale", "--type=merge",
                           "-p", body])

    def _json(self, args: list[str], *, output: bool = True) -> dict[str, Any]:
        import subprocess  # noqa: PLC0415 (only the error type)

        try:
            text = self._run(args + (["-o", "json"] if output else []))
        except subprocess.CalledProcessError as e:
            stderr = (e.stderr or "").strip()
            reason = next((r for r in _KUBECTL_REASONS if f"({r})" in stderr), None)
            raise error_for_status(_KUBECTL_REASONS.get(reason or ""), f"kubectl {' '.join(args)}: {stderr}") from e
        return json.loads(text)


def _scale_path(namespace: str, kind: str, name: str) -> str:
    if kind not in _SCALE_CALLS:
        raise KubeError(f"cannot scale a {kind}; known kinds: {', '.join(sorted(_SCALE_CALLS))}")
    group, suffix = _SCALE_CALLS[kind]
    plural = {"Deployment": "deployments", "StatefulSet": "statefulsets", "ReplicaSet": "replicasets",
              "ReplicationController": "replicationcontrollers"}[kind]
    prefix = "/apis/apps/v1" if group == "apps" else "/api/v1"
    return f"{prefix}/namespaces/{namespace}/{plural}/{name}/scale"
