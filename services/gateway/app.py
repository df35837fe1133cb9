"""gateway: the entry point Locust calls; authenticates via auth, then runs the prediction chain.

``POST /v1/work`` → auth → featurestore → inference → formatter. Light, many servers: in the
testbed it is a multi-server queue that is rarely the bottleneck, so its latency is mostly the
chain behind it. Honours every fault of the shared runtime (``/admin/faults``).
"""
from __future__ import annotations

import prometheus_client

from services.common import app as runtime
from services.common import settings as settings_module

DEFAULTS = {"service": "gateway", "servers": 32, "queue_limit": 256,
            "service_time": {"distribution": "exponential", "mean_seconds": 0.001}}


def create_app(settings: settings_module.ServiceSettings | None = None,
               registry: prometheus_client.CollectorRegistry | None = None):
    return runtime.create_app(settings or settings_module.load_settings(defaults=DEFAULTS), registry)
