"""``work: gpu``: the inference replica serving from the emulated GPU.

Aspects: a request is served by the engine and shows in the vLLM- and DCGM-style metrics; the GPU
faults set through the admin API take effect (ECC error: 503, not live, not ready, until cleared);
on the real stack under load the replica's CPU stays low while the GPU-utilisation gauge is high;
the GPU is the inference service's work model, handed to the shared runtime, which cannot run
``work: gpu`` without it and imports no single service.
"""
import ast
import concurrent.futures
import pathlib
import threading
import time

import httpx
import prometheus_client
import pytest
from fastapi.testclient import TestClient

from schema import events as events_module
from deploy.local import backend as local_backend
from schema import scenario as scenario_module
from services.common import app as runtime
from services.common import settings
from services.inference import app as inference_app

TOKEN = {"x-tailstorm-admin-token": "t"}


def gpu_app(**gpu):
    registry = prometheus_client.CollectorRegistry()
    spec = settings.ServiceSettings(service="inference", work="gpu", servers=16, admin_token="t",
                                    gpu={"time_scale": 0.05, **gpu})
    return inference_app.create_app(spec, registry), registry


def test_a_request_runs_on_the_emulated_gpu_and_is_measured():
    app, registry = gpu_app()
    with TestClient(app) as client:
        response = client.post("/v1/work", json={"prompt_tokens": 256, "output_tokens": 32})
    assert response.status_code == 200
    names = {m.name for m in registry.collect()}
    assert "DCGM_FI_DEV_GPU_UTIL" in names and "vllm:generation_tokens" in names
    generated = [s.value for m in registry.collect() if m.name == "vllm:generation_tokens" for s in m.samples
                 if s.name.endswith("_total")]
    prompt = [s.value for m in registry.collect() if m.name == "vllm:prompt_tokens" for s in m.samples
              if s.name.endswith("_total")]
    assert generated == [32] and prompt == [256]


def test_an_ecc_error_fails_requests_and_liveness_until_cleared():
    app, _ = gpu_app()
    with TestClient(app) as client:
        assert client.post("/admin/faults", json={"gpu_ecc_error": True}, headers=TOKEN).status_code == 200
        response = client.post("/v1/work", json={})
        assert response.status_code == 503 and response.headers["x-tailstorm-fault"] == "gpu"
        assert client.get("/healthz").status_code == 503
        assert client.get("/readyz").status_code == 503
        client.delete("/admin/faults", headers=TOKEN)
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/work", json={}).status_code == 200


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in "{ ")


def test_under_load_the_gpu_replica_uses_little_cpu_while_the_gpu_gauge_is_high(tmp_path):
    scenario = scenario_module.load_scenario(pathlib.Path(__file__).parents[1] / "deploy" / "data" / "gpu-test.yaml")
    events = events_module.EventLog(tmp_path / "events.jsonl")
    with local_backend.LocalBackend(scenario, tmp_path, events=events) as backend:
        entry = backend.endpoints()["entry_url"]
        replica = backend.endpoints()["replicas"]["inference"][0]
        before = metric(httpx.get(f"{replica}/metrics").text, "process_cpu_seconds_total")
        gauge_readings = []
        done = threading.Event()

        def read_gauge():
            while not done.wait(0.5):
                gauge_readings.append(metric(httpx.get(f"{replica}/metrics").text, "DCGM_FI_DEV_GPU_UTIL"))

        reader = threading.Thread(target=read_gauge)
        reader.start()
        started = time.monotonic()
        body = {"prompt_tokens": 512, "output_tokens": 128}
        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            statuses = list(pool.map(lambda _: httpx.post(f"{entry}/v1/work", json=body, timeout=30).status_code,
                                     range(96)))
        wall = time.monotonic() - started
        done.set()
        reader.join()
        cpu = metric(httpx.get(f"{replica}/metrics").text, "process_cpu_seconds_total") - before
    events.close()
    assert statuses == [200] * 96
    print(f"GPU gauge readings {gauge_readings}; replica CPU {cpu:.2f} s over {wall:.1f} s wall")
    busy = sorted(gauge_readings)[len(gauge_readings) // 2]
    assert busy >= 80, gauge_readings  # the emulated GPU was busy most of the time
    assert cpu / wall < 0.35, (cpu, wall)  # while the replica used well under half a core


def test_the_shared_runtime_cannot_run_gpu_work_without_the_work_model_a_service_hands_it():
    spec = settings.ServiceSettings(service="gateway", work="gpu")
    with pytest.raises(SystemExit, match="TAILSTORM_WORK"):
        runtime.create_app(spec, prometheus_client.CollectorRegistry())


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_shared_runtime_imports_no_single_service():
    root = pathlib.Path(__file__).parents[2]
    services = set(settings.SERVICE_NAMES)
    assert {path.name for path in (root / "services").iterdir() if (path / "app.py").exists()} - services == {"common"}
    offending = {f"{path.relative_to(root)}: {name}"
                 for path in (root / "services" / "common").rglob("*.py")
                 for name in imported_modules(path)
                 if any(name == f"services.{s}" or name.startswith(f"services.{s}.") for s in services)}
    assert offending == set()
