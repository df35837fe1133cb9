"""formatter: renders the model output; CPU-bound, the end of the chain.

``POST /v1/work`` with no downstream calls. One server burning real CPU per request (M/D/1-like
with deterministic service), so CPU-based autoscaling sees its load. Honours every fault of the
shared runtime (``/admin/faults``).
"""
from __future__ import annotations

import prometheus_client

from services.common import app as runtime
from services.common import settings as settings_module

DEFAULTS = {"service": "formatter", "servers": 1, "queue_limit": 64, "work": "cpu",
            "service_time": {"distribution": "deterministic", "mean_seconds": 0.002}}


def create_app(settings: settings_module.ServiceSettings | None = None,
               registry: prometheus_client.CollectorRegistry | None = None):
    return runtime.create_app(settings or settings_module.load_settings(defaults=DEFAULTS), registry)
