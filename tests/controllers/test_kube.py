"""The thin Kubernetes adapter.

We test these aspects:

- importing it does not need the ``kubernetes`` package;
- API status codes map to our errors once: 404 NotFound, 409 Conflict, others KubeError;
- the wrapped client call returns the raw JSON and chains the original exception.
"""
from __future__ import annotations

import sys
import types

import pytest

from controllers import kube


def test_importing_the_adapter_does_not_import_the_kubernetes_client() -> None:
    assert "kubernetes" not in sys.modules


@pytest.mark.parametrize(
    "status, error_type",
    [
        pytest.param(404, kube.NotFound, id="gone-stop"),
        pytest.param(409, kube.Conflict, id="conflict-retry-next-loop"),
        pytest.param(500, kube.KubeError, id="anything-else"),
        pytest.param(None, kube.KubeError, id="no-status"),
    ],
)
def test_error_for_status_maps_api_codes_to_our_errors(status: int | None, error_type: type) -> None:
    error = kube.error_for_status(status, "boom")
    assert type(error) is error_type
    assert (error.status, str(error)) == (status, "boom")


class FakeApiException(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def test_client_call_translates_api_exceptions_and_chains_them(monkeypatch: pytest.MonkeyPatch) -> None:
    exceptions = types.ModuleType("kubernetes.client.exceptions")
    exceptions.ApiException = FakeApiException  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubernetes", types.ModuleType("kubernetes"))
    monkeypatch.setitem(sys.modules, "kubernetes.client", types.ModuleType("kubernetes.client"))
    monkeypatch.setitem(sys.modules, "kubernetes.client.exceptions", exceptions)
    original = FakeApiException(404, "Not Found")

    def read_namespaced_horizontal_pod_autoscaler(*args: object, **kwargs: object) -> object:
        raise original

    with pytest.raises(kube.NotFound) as raised:
        kube.ClientKube._call(read_namespaced_horizontal_pod_autoscaler, "web", "default")
    assert raised.value.__cause__ is original
    assert str(raised.value) == "read_namespaced_horizontal_pod_autoscaler: 404 Not Found"


def test_client_call_returns_the_served_json(monkeypatch: pytest.MonkeyPatch) -> None:
    exceptions = types.ModuleType("kubernetes.client.exceptions")
    exceptions.ApiException = FakeApiException  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kubernetes", types.ModuleType("kubernetes"))
    monkeypatch.setitem(sys.modules, "kubernetes.client", types.ModuleType("kubernetes.client"))
    monkeypatch.setitem(sys.modules, "kubernetes.client.exceptions", exceptions)
    calls = []

    def list_namespaced_pod(namespace: str, **kwargs: object) -> object:
        calls.append((namespace, kwargs))
        return types.SimpleNamespace(data=b'{"kind": "PodList", "items": []}')

    assert kube.ClientKube._call(list_namespaced_pod, "tailstorm", label_selector="a=b") == {"kind": "PodList", "items": []}
    assert calls == [("tailstorm", {"_preload_content": False, "label_selector": "a=b"})]
